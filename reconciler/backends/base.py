"""The backend contract (SPEC 8): everything the CLI and the workflow ask of a database, whatever its schema.

Stage: storage. The planner, the role rules and the renderers never see a backend. Written down the way octoDNS
documents its providers: what a backend must implement, what it may override (with the default it gets), and the
capabilities it declares, which the CLI asks instead of testing a backend's name or calling its private members.

Opening (classmethods; ``registry.py`` maps a name to the class)
    ``open(url, create=...)``      the backend on ``url``; only ``apply`` passes ``create=True`` (SPEC 3).
    ``absent(url, reason)``         with ``CREATES_SCHEMA``: what ``plan`` reads before the first apply.
    ``upgrade_schema(url)``         ``db upgrade``; refused by default.

Reading (abstract)
    ``read_snapshot(slugs, keyring)``   one consistent snapshot (an apply in flight is never half-visible).
    ``read_without_metadata(slugs)``    the same, metadata unread (default: ``read_snapshot`` without a keyring).
    ``list_workspaces()``               every workspace slug in the database.
    ``history(limit)``                  the latest apply runs, newest first (see ``SUPPORTS_HISTORY``).

Planning and applying
    ``validate_plan(plan, snapshot)``   refuse, right after planning, what this backend cannot do (default: all).
    ``apply(...)``                      a template (below) that no backend overrides: it takes the lock, re-reads,
                                        runs the workflow's ``check``, executes and records, and turns any
                                        unexpected failure into one ``ApplyError``. A backend provides its steps:
                                        ``begin_apply`` (abstract), the :class:`ApplyTransaction` it yields, and
                                        ``record_unapplied`` (abstract), ``refuse_before_lock`` (default: nothing).
    ``after_commit(result, keyring)``   work after the commit (deliver invitations); lines for stderr (default: none).
    ``needs_key_for(plan)``             whether ``apply`` needs reconciler's key though no metadata is written,
    ``no_key_refusal(plan)``            and the refusal when it does and there is none.
    ``holds_encrypted_data()``          whether the database holds data under reconciler's key (default: False).
    ``close()``                         release connections (default: nothing).

Capabilities (class attributes; a backend may set them per instance when its configuration decides)
    ``uses_keyring``                    metadata is encrypted with reconciler's master key (ToolJet: its own).
    ``CREATES_SCHEMA``                  ``apply`` creates the backend's schema in a database that has none, so
                                        ``plan`` may start from an empty state (``absent``).
    ``SUPPORTS_HISTORY``                ``history`` lists applies; otherwise it raises a refusal saying how.
    ``SUPPORTS_INVITATION_COMMANDS``    ``invite-url``, ``accept-invite``, ``invites send`` (the methods below).
    ``SUPPORTS_KEY_ROTATION``           ``keys rotate`` (``rotate_keys``).
    ``SUPPORTS_WORKSPACE_CREATION``     ``apply`` creates a workspace the configuration declares and the database
                                        lacks; when false the workflow refuses such a plan (made, or saved and
                                        applied), saying how to create and adopt one (``ADOPT_WORKSPACE_HINT``).

Every method a backend does not support raises :class:`~reconciler.errors.ReconcilerError` saying so: a refusal
the CLI prints as one ``Error:`` line, never a traceback.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..audit import ApplyResult, AuditInfo, AuditRun
from ..crypto import Keyring
from ..errors import DatabaseMissing, ReconcilerError, SecretError
from ..hygiene import Activity
from ..ops import Plan
from ..state import Snapshot

if TYPE_CHECKING:
    from ..keys import KeyringResult, Rotation
    from ..mail import DeliveryReport, Transport

__all__ = [
    "ApplyResult",
    "ApplyTransaction",
    "AuditInfo",
    "AuditRun",
    "Backend",
    "Executed",
    "PreconditionCheck",
    "Progress",
]

PreconditionCheck = Callable[[Snapshot], None]
Progress = Callable[[int], None]  # "N more operations done"


@dataclass(frozen=True)
class Executed:
    """What executing a plan did that the result reports: the emails of the members it invited, and how many
    invitation emails it queued in the database (an outbox) for delivery after the commit."""

    invitations: tuple[str, ...] = ()
    queued: int = 0


class ApplyTransaction(ABC):
    """One apply's transaction, under the backend's apply lock: what :meth:`Backend.begin_apply` yields.

    :meth:`Backend.apply` calls, in this order: ``refuse_replay``, ``read``, the workflow's check, ``execute``,
    ``record``, ``finish``; then it leaves the ``begin_apply`` block, which commits, and calls ``committed``. Any
    exception rolls everything back.
    """

    def refuse_replay(self, plan: Plan, audit: AuditInfo) -> None:  # noqa: B027 - optional step
        """With ``audit.single_use`` (a saved plan): refuse a plan whose ``plan_id`` an earlier run applied."""

    @abstractmethod
    def read(self, slugs: Collection[str]) -> Snapshot:
        """The snapshot of ``slugs`` inside this transaction (the check runs on it; no metadata decryption is
        needed)."""

    @abstractmethod
    def execute(self, plan: Plan, keyring: Keyring | None, progress: Progress) -> Executed:
        """Every op of ``plan`` in the SPEC 5 order of ``reconciler.apply_order``, after refusing what the fresh
        snapshot shows this backend cannot do."""

    @abstractmethod
    def record(self, plan: Plan, audit: AuditInfo, started: datetime) -> int | None:
        """The ``applied`` audit run and its masked changes; the run's id (None: the backend keeps no records)."""

    def finish(self, executed: Executed, keyring: Keyring | None, audit: AuditInfo) -> Executed:
        """Last writes of the transaction (the built-in backend queues the invitation emails)."""
        return executed

    def committed(self) -> None:  # noqa: B027 - optional step
        """After the commit (the ToolJet backend keeps its invitations for ``after_commit``)."""


class Backend(ABC):
    """One database. Implementations must never leave a half-applied plan behind."""

    name: str
    # Declared capabilities (octoDNS's SUPPORTS_*): the CLI asks these, never a backend's name.
    #: Metadata is encrypted with reconciler's own master key (the ToolJet backend uses ToolJet's).
    uses_keyring: bool = True
    #: ``apply`` creates this backend's schema in an empty database; ``plan`` reads :meth:`absent` meanwhile.
    CREATES_SCHEMA: bool = False
    #: ``history`` lists the applies; when false, :meth:`history` raises a refusal that says how to keep them.
    SUPPORTS_HISTORY: bool = True
    #: ``invite-url``, ``accept-invite`` and ``invites send`` work on this backend's invitations.
    SUPPORTS_INVITATION_COMMANDS: bool = False
    #: ``keys rotate`` re-encrypts this backend's metadata under reconciler's master key.
    SUPPORTS_KEY_ROTATION: bool = False
    #: ``apply`` creates new workspaces. When false, the workflow refuses every plan that would create one.
    SUPPORTS_WORKSPACE_CREATION: bool = True
    #: Without ``SUPPORTS_WORKSPACE_CREATION``: how to create a workspace elsewhere and bring it under management.
    ADOPT_WORKSPACE_HINT: str = ""

    # --- opening -------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, create: bool = False) -> Backend:
        """The backend on ``url``. Only ``create`` (apply) may create the database or its schema; without it a
        missing one raises :class:`~reconciler.errors.DatabaseMissing`."""
        return cls(url)  # type: ignore[call-arg]

    @classmethod
    def absent(cls, url: str, reason: DatabaseMissing) -> Backend:
        """With ``CREATES_SCHEMA``: a stand-in for a database that does not exist yet, as ``plan`` sees it
        (empty; its ``apply`` raises ``reason``). Without it, ``reason`` is raised."""
        raise reason

    @classmethod
    def upgrade_schema(cls, url: str) -> tuple[str | None, str]:
        """``db upgrade``: migrate the schema to this version's; (revision before, revision after)."""
        raise ReconcilerError(f"'db upgrade' is not supported by the {cls.name} backend")

    # --- reading -------------------------------------------------------------------------------------------

    @abstractmethod
    def read_snapshot(self, slugs: Collection[str], keyring: Keyring | None) -> Snapshot:
        """A consistent snapshot of ``slugs`` (one transaction; an apply in flight is never half-visible)."""

    def read_without_metadata(self, slugs: Collection[str]) -> Snapshot:
        """A snapshot of ``slugs`` whose metadata need not be readable (seat counts of the rest of the instance,
        issue 16). Default: :meth:`read_snapshot` without a keyring (a backend that needs one overrides this)."""
        return self.read_snapshot(slugs, None)

    @abstractmethod
    def list_workspaces(self) -> list[str]:
        """Slugs of every workspace in the database (for ``export`` and reports)."""

    @abstractmethod
    def history(self, limit: int = 20) -> list[AuditRun]:
        """The latest apply runs, newest first."""

    # --- planning and applying -----------------------------------------------------------------------------

    def validate_plan(self, plan: Plan, snapshot: Snapshot) -> None:  # noqa: B027 - optional hook
        """Raise a ReconcilerError for changes this backend cannot make (called right after planning)."""

    def apply(
        self,
        plan: Plan,
        *,
        keyring: Keyring | None,
        lock_timeout: float,
        check: PreconditionCheck,
        audit: AuditInfo,
        progress: Callable[[int, int], None] | None = None,
    ) -> ApplyResult:
        """Take the lock, re-read the snapshot, run ``check`` on it, execute ``plan`` in one transaction, record
        the run. A refused or failed run is recorded too (after the rollback); an unexpected exception becomes one
        :class:`~reconciler.errors.ApplyError` saying nothing was changed; a lock timeout is not a run.

        A template: backends provide the steps (``refuse_before_lock``, ``begin_apply`` and its
        :class:`ApplyTransaction`, ``record_unapplied``) and do not override this method.
        """
        from .common import audited_failures, ticker

        started = datetime.now(UTC)
        self.refuse_before_lock(plan, keyring, audit)

        def record(exc: ReconcilerError, result: str) -> None:
            self.record_unapplied(plan, audit, started, exc, result)

        with audited_failures(record), self.begin_apply(lock_timeout, audit.actor) as transaction:
            transaction.refuse_replay(plan, audit)
            check(transaction.read(plan.workspaces))
            executed = transaction.execute(plan, keyring, ticker(len(plan.ops), progress))
            run_id = transaction.record(plan, audit, started)
            executed = transaction.finish(executed, keyring, audit)
        transaction.committed()
        return ApplyResult(run_id, len(plan.ops), executed.invitations, executed.queued)

    def refuse_before_lock(self, plan: Plan, keyring: Keyring | None, audit: AuditInfo) -> None:  # noqa: B027
        """Refuse, before the lock and without an audit record, an apply that cannot even begin."""

    @abstractmethod
    def begin_apply(self, lock_timeout: float, actor: str) -> AbstractContextManager[ApplyTransaction]:
        """The apply lock (waiting up to ``lock_timeout`` seconds, then :class:`~reconciler.errors.LockTimeout`
        naming the holder) and one transaction, committed when the block ends without an exception. The lock
        must die with its holder (SPEC 5)."""

    @abstractmethod
    def record_unapplied(
        self, plan: Plan, audit: AuditInfo, started: datetime, error: ReconcilerError, result: str
    ) -> None:
        """Record a ``refused`` or ``failed`` run after the rollback; never raise (the original error wins)."""

    def after_commit(self, result: ApplyResult, keyring: Keyring | None) -> list[str]:
        """Work after the apply committed (deliver invitations); lines for stderr. A failure here never undoes
        the apply."""
        return []

    def needs_key_for(self, plan: Plan) -> bool:
        """Whether applying ``plan`` needs reconciler's master key although it writes no metadata (the built-in
        backend queues invitation emails encrypted)."""
        return False

    def no_key_refusal(self, plan: Plan) -> ReconcilerError:
        """What refuses ``plan`` when :meth:`needs_key_for` says it needs a key and none can be had."""
        return SecretError("applying this plan needs reconciler's master key, and none is configured")

    def holds_encrypted_data(self) -> bool:
        """Whether the database already holds data under reconciler's master key (then no new key may be made)."""
        return False

    def read_activity(self, slugs: Collection[str]) -> Activity:
        """What the database records about use (issue 18): when pending invitations were issued, and sign-ins
        (``Activity.last_sign_in`` None: not recorded). The default: nothing is recorded."""
        return Activity()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    # --- invitation commands (SUPPORTS_INVITATION_COMMANDS) ------------------------------------------------

    def reissue_invitation(
        self, email: str, workspace: str, *, lock_timeout: float, actor: str
    ) -> tuple[str, datetime]:
        """``invite-url``: a fresh invitation link for an invited member, and when it expires; earlier links stop
        working. Waits for an apply that holds the lock."""
        raise self.unsupported("invite-url")

    def accept_invitation(self, link_or_token: str, *, lock_timeout: float, actor: str) -> tuple[str, str]:
        """``accept-invite``: activate the membership the invitation belongs to; (workspace slug, email)."""
        raise self.unsupported("accept-invite")

    def pending_invitations(self) -> int:
        """``invites send``: how many invitation emails wait for delivery."""
        raise self.unsupported("invites send")

    def deliver_invitations(self, keyring: Keyring, transport: Transport, *, sender: str) -> DeliveryReport:
        """``invites send``: deliver every pending invitation email now, due or not."""
        raise self.unsupported("invites send")

    # --- key rotation (SUPPORTS_KEY_ROTATION) --------------------------------------------------------------

    def rotate_keys(self, loaded: KeyringResult, *, lock_timeout: float, actor: str) -> Rotation:
        """``keys rotate``: re-encrypt everything under reconciler's key with a new key, in one transaction."""
        raise self.unsupported("keys rotate")

    def unsupported(self, command: str) -> ReconcilerError:
        """The refusal for a command this backend does not support."""
        return ReconcilerError(f"'{command}' is not supported by the {self.name} backend")
