"""The storage interface (SPEC 8): what the workflow needs from a database, whatever its schema.

Stage: storage. A backend reads a snapshot of the declared workspaces, takes the apply lock, and executes a
plan's operations in one transaction. The planner, the role rules and the renderers never see a backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection

from ..audit import ApplyResult, AuditInfo, AuditRun
from ..crypto import Keyring
from ..hygiene import Activity
from ..ops import Plan
from ..state import Snapshot

__all__ = ["ApplyResult", "AuditInfo", "AuditRun", "Backend", "PreconditionCheck"]

PreconditionCheck = Callable[[Snapshot], None]


class Backend(ABC):
    """One database. Implementations must never leave a half-applied plan behind."""

    name: str
    # Whether metadata is encrypted with reconciler's own master key (the ToolJet backend uses ToolJet's).
    uses_keyring: bool = True

    # Declared capabilities (octoDNS's SUPPORTS_*): the CLI asks these, never a backend's name.
    #: ``invite-url``, ``accept-invite`` and ``invites send`` work on this backend's invitations.
    SUPPORTS_INVITATION_COMMANDS: bool = False
    #: ``keys rotate`` re-encrypts this backend's metadata under reconciler's master key.
    SUPPORTS_KEY_ROTATION: bool = False

    @abstractmethod
    def read_snapshot(self, slugs: Collection[str], keyring: Keyring | None) -> Snapshot:
        """A consistent snapshot of ``slugs`` (one transaction; an apply in flight is never half-visible)."""

    @abstractmethod
    def list_workspaces(self) -> list[str]:
        """Slugs of every workspace in the database (for ``export`` and reports)."""

    @abstractmethod
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
        """Take the lock, re-read the snapshot, run ``check`` on it, execute ``plan`` in one transaction."""

    def validate_plan(self, plan: Plan, snapshot: Snapshot) -> None:  # noqa: B027 - optional hook
        """Raise a ReconcilerError for changes this backend cannot make (called right after planning)."""

    @abstractmethod
    def history(self, limit: int = 20) -> list[AuditRun]:
        """The latest apply runs, newest first."""

    def holds_encrypted_data(self) -> bool:
        """Whether the database already holds data under reconciler's master key (then no new key may be made)."""
        return False

    def needs_key_for(self, plan: Plan) -> bool:
        """Whether applying ``plan`` needs reconciler's master key although it writes no metadata (the built-in
        backend queues invitation emails encrypted)."""
        return False

    def after_commit(self, result: ApplyResult, keyring: Keyring | None) -> list[str]:
        """Work after the apply committed (deliver invitations); lines for stderr. A failure here never undoes
        the apply."""
        return []

    def read_activity(self, slugs: Collection[str]) -> Activity:
        """What the database records about use (issue 18): when pending invitations were issued, and sign-ins
        (``Activity.last_sign_in`` None: not recorded). The default: nothing is recorded."""
        return Activity()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
