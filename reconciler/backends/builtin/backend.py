"""The built-in backend: our own schema on SQLite or PostgreSQL.

Stage: storage. Reads consistent snapshots, holds the apply lock (a PostgreSQL advisory lock or a SQLite
write transaction, both of which die with their holder), runs the executor and writes the audit records, all
in one transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ... import ops
from ...crypto import DecryptionError, Keyring, decrypt_metadata
from ...errors import DatabaseMissing, DeliveryInterrupted, LockTimeout, ReconcilerError, SecretError
from ...hygiene import Activity
from ...keys import KeyringResult, Rotation
from ...mail import DEFAULT_BASE_URL, DeliveryReport, Transport
from ...state import Snapshot
from ..base import ApplyResult, ApplyTransaction, AuditInfo, AuditRun, Backend, Executed, Progress
from ..common import (
    audit_change_rows,
    audit_run_row,
    audit_runs,
    holder_message,
    one_line,
    refuse_replay,
    take_postgres_lock,
)
from . import models
from .db import SQLITE_BEGIN, open_database, upgrade_database
from .executor import INVITATION_TTL, Executor, bulk_insert
from .reader import empty_snapshot, read_snapshot

T_RUNS = models.AUDIT_RUNS
T_CHANGES = models.AUDIT_CHANGES
COMMIT_GRACE_SECONDS = 30.0
# SQLite's page cache for an apply's transaction, at most (pages are taken as they are used): a large apply
# inserts into indexes on random keys (uuids, token hashes) that outgrow SQLite's default 2 MB, and a
# transaction that overflows the cache spills pages and reads them back. Restored when the apply ends.
APPLY_CACHE_KIB = 64 * 1024
NO_KEY = "the database holds encrypted metadata but no master key is configured"
KEY_HINT = "set RECONCILER_MASTER_KEY (64 hex characters) or pass --master-key-file"
INVITE_KEY_HINT = (
    "set RECONCILER_MASTER_KEY to a key of 64 hex characters (generate one with: "
    'python -c "import secrets; print(secrets.token_hex(32))"; keep it: it also encrypts metadata), or pass '
    "--master-key-file, then apply again"
)


def invitations_in(plan: ops.Plan) -> int:
    """How many invitation emails applying ``plan`` queues: one per membership created as invited, and one per
    unarchived membership (it is invited again). Each is stored encrypted, so each needs a master key.

    Must say what the executor does (``Executor._invite``); ``_Apply.finish`` refuses, inside the transaction,
    an apply whose executor invited anyone without a key, should the two ever disagree.
    """
    return sum(
        1
        for op in plan.ops
        if (isinstance(op, ops.CreateMembership) and op.status == "invited") or isinstance(op, ops.UnarchiveMembership)
    )


def no_key_for_invitations(count: int) -> SecretError:
    return SecretError(
        f"this apply invites {count} member(s), and their invitation emails are kept encrypted until they are "
        "delivered, but no master key is configured; nothing was changed",
        hint=INVITE_KEY_HINT,
    )


class BuiltinBackend(Backend):
    name = "builtin"
    CREATES_SCHEMA = True
    SUPPORTS_INVITATION_COMMANDS = True
    SUPPORTS_KEY_ROTATION = True

    def __init__(self, url: str, environ: Mapping[str, str] | None = None, *, create: bool = True) -> None:
        self.url = url
        self.environ = os.environ if environ is None else environ
        self.engine = open_database(url, initialise=create)
        self.sqlite = self.engine.dialect.name == "sqlite"

    @classmethod
    def open(cls, url: str, *, create: bool = False) -> BuiltinBackend:
        return cls(url, create=create)

    @classmethod
    def absent(cls, url: str, reason: DatabaseMissing) -> Backend:
        return AbsentDatabase(url, reason)

    @classmethod
    def upgrade_schema(cls, url: str) -> tuple[str | None, str]:
        return upgrade_database(url)

    def close(self) -> None:
        self.engine.dispose()

    # --- reading -------------------------------------------------------------------------------

    @contextmanager
    def _read_transaction(self) -> Iterator[Connection]:
        """One consistent view: REPEATABLE READ on PostgreSQL, one read transaction on SQLite."""
        with self.engine.connect() as conn:
            if self.sqlite:
                _busy_timeout(conn, 30.0)
            else:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def read_snapshot(self, slugs: Collection[str], keyring: Keyring | None):
        with self._read_transaction() as conn:
            snapshot, _ = read_snapshot(conn, slugs, decrypt_metadata=_decryptor(keyring, conn))
        return snapshot

    def read_without_metadata(self, slugs: Collection[str]) -> Snapshot:
        """Metadata left unread: no key is needed (seat counts of the rest of the instance, issue 16)."""
        with self._read_transaction() as conn:
            snapshot, _ = read_snapshot(conn, slugs, decrypt_metadata=None)
        return snapshot

    def read_activity(self, slugs: Collection[str]) -> Activity:
        """Pending invitations were issued ``INVITATION_TTL`` before they expire (``invite-url`` and unarchive
        issue a new one); reconciler's own schema records no sign-ins."""
        m, u, w = models.Membership.__table__, models.User.__table__, models.Workspace.__table__
        query = (
            select(w.c.slug, u.c.email, m.c.invitation_expires_at, m.c.updated_at)
            .select_from(m.join(u, u.c.id == m.c.user_id).join(w, w.c.id == m.c.workspace_id))
            .where(w.c.slug.in_(list(slugs)), m.c.status == "invited")
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return Activity(
            invited_since={
                (slug, email): (expires - INVITATION_TTL if expires is not None else updated)
                for slug, email, expires, updated in rows
            }
        )

    def holds_encrypted_data(self) -> bool:
        """Whether any metadata value or queued email is stored encrypted (then no new key may be made)."""
        with self.engine.connect() as conn:
            return any(
                conn.execute(select(table.c[column]).limit(1)).first() is not None
                for table, column in (
                    (models.MembershipMetadata.__table__, "membership_id"),
                    (models.OutboxMessage.__table__, "id"),
                )
            )

    def needs_key_for(self, plan: ops.Plan) -> bool:
        """Whether applying ``plan`` needs a master key even though it writes no metadata: its invitation
        emails are queued encrypted (the CLI creates the SQLite key file for them)."""
        return invitations_in(plan) > 0

    def list_workspaces(self) -> list[str]:
        table = models.Workspace.__table__
        with self.engine.connect() as conn:
            return list(conn.scalars(select(table.c.slug).order_by(table.c.slug)))

    # --- applying: the steps of Backend.apply ---------------------------------------------------

    def refuse_before_lock(self, plan: ops.Plan, keyring: Keyring | None, audit: AuditInfo) -> None:
        """An invitation is never created without its email: without a key, a plan that invites is refused before
        the lock and the transaction."""
        invited = invitations_in(plan) if keyring is None else 0
        if invited:
            raise no_key_for_invitations(invited)

    @contextmanager
    def begin_apply(self, lock_timeout: float, actor: str) -> Iterator[ApplyTransaction]:
        with self._locked(lock_timeout, actor) as conn:
            yield _Apply(self, conn)

    def record_unapplied(
        self, plan: ops.Plan, audit: AuditInfo, started: datetime, error: ReconcilerError, result: str
    ) -> None:
        self._audit_separately(plan, audit, started, error, result)

    def no_key_refusal(self, plan: ops.Plan) -> ReconcilerError:
        return no_key_for_invitations(invitations_in(plan))

    def after_commit(self, result: ApplyResult, keyring: Keyring | None) -> list[str]:
        """Deliver queued invitations; a failure leaves them pending and never undoes the apply. Lines for stderr.

        Without a mail transport (neither RECONCILER_SMTP_URL nor RECONCILER_OUTBOX_DIR) nothing is delivered:
        the emails stay pending, and a warning says how to deliver them.
        """
        if not result.invitations or keyring is None or result.queued == 0:
            return []
        from ...mail import NO_TRANSPORT, base_url_warning, delivery_line, sender_from_env, transport_from_env
        from .people import deliver_pending

        lines = base_url_warning(self.environ, "RECONCILER_BASE_URL", DEFAULT_BASE_URL)
        transport = transport_from_env(self.environ)
        if transport is None:
            lines.append(
                f"Warning: {result.queued} invitation email(s) were not sent and stay pending: {NO_TRANSPORT}; "
                "then run 'reconciler invites send'."
            )
            return lines
        try:
            report = deliver_pending(self.engine, keyring, transport, sender=sender_from_env(self.environ))
        except DeliveryInterrupted as exc:
            return [*lines, *interrupted_delivery_lines(exc, transport, committed=True)]
        except SQLAlchemyError as exc:  # the outbox could not even be read: every email of the apply waits
            return [
                *lines,
                f"Warning: the apply committed, but its invitation emails could not be read from the outbox "
                f"({one_line(exc)}): {result.queued} email(s) stay pending ({_names(result.invitations)}). "
                "Deliver them with 'reconciler invites send'.",
            ]
        lines.append(delivery_line(transport, len(report.sent)))
        if report.failed:
            lines.append(
                f"Warning: {len(report.failed)} invitation email(s) could not be delivered "
                f"({report.failed[0][1]}); they stay pending. Retry with 'reconciler invites send'."
            )
        return lines

    # --- invitation commands -------------------------------------------------------------------

    def reissue_invitation(
        self, email: str, workspace: str, *, lock_timeout: float, actor: str
    ) -> tuple[str, datetime]:
        from .people import reissue_invitation

        base_url = self.environ.get("RECONCILER_BASE_URL") or DEFAULT_BASE_URL
        locked = lambda: self.locked(lock_timeout, actor, "invite-url")  # noqa: E731
        return reissue_invitation(self.engine, email, workspace, base_url=base_url, transaction=locked)

    def accept_invitation(self, link_or_token: str, *, lock_timeout: float, actor: str) -> tuple[str, str]:
        from .people import accept_invitation

        locked = lambda: self.locked(lock_timeout, actor, "accept-invite")  # noqa: E731
        return accept_invitation(self.engine, link_or_token, transaction=locked)

    def pending_invitations(self) -> int:
        from .people import pending_count

        return pending_count(self.engine)

    def deliver_invitations(self, keyring: Keyring, transport: Transport, *, sender: str) -> DeliveryReport:
        from .people import deliver_pending

        return deliver_pending(self.engine, keyring, transport, sender=sender, due_only=False)

    # --- key rotation ----------------------------------------------------------------------------

    def rotate_keys(self, loaded: KeyringResult, *, lock_timeout: float, actor: str) -> Rotation:
        """Re-encrypt every metadata value and queued email with a new key, in one transaction (apply lock).

        With the SQLite key file (``loaded.key_file``), the new key is made here and replaces the file's key,
        in the crash-safe steps of ``keys.stage_key_file_rotation``. With a key from the environment or a key
        file the user manages, the new key is that one and the old ones come from RECONCILER_PREVIOUS_KEYS:
        without any, there is nothing to rotate, and the command most likely expected to make a key itself.
        """
        from ...keys import (
            MASTER_KEY_ENV,
            PREVIOUS_KEYS_ENV,
            abandon_key_file_rotation,
            finish_key_file_rotation,
            stage_key_file_rotation,
        )
        from .people import rotate_metadata

        keyring = loaded.keyring
        if keyring is None:
            raise SecretError(
                "there is no master key to rotate: none is configured",
                hint=f"set {MASTER_KEY_ENV} or pass --master-key-file (on SQLite, the first apply that needs a key "
                "creates <database>.key)",
            )
        if loaded.key_file is None:
            if not keyring.previous:
                raise SecretError(
                    f"nothing to rotate: the master key from {keyring.source} is the only key configured; "
                    "keys rotate does not make keys it cannot store",
                    hint=f"put the new key in {keyring.source} and the current one in {PREVIOUS_KEYS_ENV}, "
                    "then run keys rotate again",
                )
            with self._locked(lock_timeout, actor) as conn:
                metadata, emails = rotate_metadata(conn, keyring)
            return Rotation(metadata, emails, keyring.source)
        rotation = stage_key_file_rotation(loaded.key_file, keyring)
        try:
            with self._locked(lock_timeout, actor) as conn:
                metadata, emails = rotate_metadata(conn, rotation.keyring)
        except ReconcilerError:  # refused or failed before the commit: the data is still under the old key
            abandon_key_file_rotation(rotation)
            raise
        finish_key_file_rotation(rotation)
        return Rotation(
            metadata, emails, f"the key file {rotation.key_file}", rotation.key_file, rotation.previous_file
        )

    def locked(self, timeout: float, actor: str, command: str) -> AbstractContextManager[Connection]:
        """A transaction holding the apply lock, for the people commands (``accept-invite``, ``invite-url``): they
        change memberships, so they wait for an apply (and an apply's re-read under the lock sees them)."""
        return self._locked(timeout, actor, command)

    @contextmanager
    def _locked(self, timeout: float, actor: str, command: str = "apply") -> Iterator[Connection]:
        if self.sqlite:
            with self._sqlite_locked(timeout, actor, command) as conn:
                yield conn
        else:
            with self._postgres_locked(timeout, actor, command) as conn:
                yield conn

    @contextmanager
    def _sqlite_locked(self, timeout: float, actor: str, command: str = "apply") -> Iterator[Connection]:
        info = Path(self.engine.url.database or "reconciler.db").with_suffix(".lock-info")
        with self.engine.connect() as raw:
            _busy_timeout(raw, timeout)
            conn = raw.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            try:
                transaction = conn.begin()
            except OperationalError as exc:
                if "locked" in str(exc.orig) or "busy" in str(exc.orig):
                    raise LockTimeout(holder_message(_read_holder(info), timeout)) from None
                raise
            cache_before = _cache_size(raw, -APPLY_CACHE_KIB)
            # The lock is ours; COMMIT may still have to wait for readers (drift, plan) to finish their read.
            _busy_timeout(raw, max(timeout, COMMIT_GRACE_SECONDS))
            with suppress(OSError):
                info.write_text(
                    json.dumps({"actor": actor, "pid": os.getpid(), "since": _now_text(), "command": command})
                )
            try:
                with transaction:
                    yield conn
            finally:
                with suppress(OSError):
                    info.unlink()
                with suppress(sqlite3.Error):  # a broken connection must not hide the apply's own error
                    _cache_size(raw, cache_before)  # the connection goes back to the pool as it came

    @contextmanager
    def _postgres_locked(self, timeout: float, actor: str, command: str = "apply") -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            take_postgres_lock(conn, self.engine, timeout, actor, command)
            yield conn

    # --- audit ---------------------------------------------------------------------------------

    def _audit(
        self,
        conn: Connection,
        plan: ops.Plan,
        audit: AuditInfo,
        started: datetime,
        result: str,
        error: str | None,
    ) -> int:
        run_id = conn.execute(
            insert(T_RUNS).returning(T_RUNS.c.id), audit_run_row(plan, audit, started, result, error)
        ).scalar_one()
        if result == "applied" and plan.ops:
            bulk_insert(conn, T_CHANGES, audit_change_rows(run_id, plan))
        return run_id

    def _audit_separately(
        self, plan: ops.Plan, audit: AuditInfo, started: datetime, exc: ReconcilerError, result: str
    ) -> None:
        """Record a refused or failed run after the rollback; never mask the original error."""
        with suppress(SQLAlchemyError), self.engine.connect() as conn:
            if self.sqlite:
                _busy_timeout(conn, 5.0)
            with conn.begin():
                self._audit(conn, plan, audit, started, result, exc.message[:2000])

    def history(self, limit: int = 20) -> list[AuditRun]:
        with self.engine.connect() as conn:
            return audit_runs(conn.execute(select(T_RUNS).order_by(T_RUNS.c.id.desc()).limit(limit)).all())

    def delete_history(self) -> None:  # pragma: no cover - maintenance helper for tests
        with self.engine.begin() as conn:
            conn.execute(delete(T_RUNS))


class _Apply(ApplyTransaction):
    """One apply of the built-in backend, on the connection that holds the lock."""

    def __init__(self, backend: BuiltinBackend, conn: Connection) -> None:
        self.backend, self.conn = backend, conn

    def refuse_replay(self, plan: ops.Plan, audit: AuditInfo) -> None:
        refuse_replay(self.conn, T_RUNS, plan, audit)

    def read(self, slugs: Collection[str]) -> Snapshot:
        # Neither the precondition check nor the executor needs metadata values: no decryption here.
        self.snapshot, self.ids = read_snapshot(self.conn, slugs, decrypt_metadata=None)
        return self.snapshot

    def execute(self, plan: ops.Plan, keyring: Keyring | None, progress: Progress) -> Executed:
        archived = frozenset(slug for slug, ws in self.snapshot.workspaces.items() if ws.status == "archived")
        self.executor = Executor(self.conn, self.ids, keyring, progress=progress, archived_workspaces=archived)
        self.executor.run(plan)
        return Executed(tuple(i.email for i in self.executor.invitations))

    def record(self, plan: ops.Plan, audit: AuditInfo, started: datetime) -> int | None:
        return self.backend._audit(self.conn, plan, audit, started, "applied", None)

    def finish(self, executed: Executed, keyring: Keyring | None, audit: AuditInfo) -> Executed:
        """Queue the invitation emails in the apply's own transaction.

        An email holds a raw token, so it is stored encrypted: without a master key the whole apply is refused
        (and rolled back) rather than leaving members invited with no email. ``refuse_before_lock`` refuses such
        a plan before it begins; this catches any invitation that its count missed.
        """
        invitations = self.executor.invitations
        if not invitations:
            return executed
        if keyring is None:
            raise no_key_for_invitations(len(invitations))
        from .people import queue_invitations

        base_url = self.backend.environ.get("RECONCILER_BASE_URL") or DEFAULT_BASE_URL
        expires = self.executor.now + self.executor.invitation_ttl
        queued = queue_invitations(
            self.conn, invitations, keyring, inviter=audit.actor, base_url=base_url, expires_at=expires
        )
        return replace(executed, queued=queued)


class AbsentDatabase(Backend):
    """A built-in database that does not exist yet (or has no schema), as ``plan`` sees it: empty.

    ``plan`` prints the plan from this empty state, the natural first step; only ``apply`` (which opens the
    real backend with ``create=True``) creates the database.
    """

    name = "builtin"

    def __init__(self, url: str, reason: DatabaseMissing) -> None:
        self.url = url
        self.reason = reason

    def read_snapshot(self, slugs: Collection[str], keyring: Keyring | None) -> Snapshot:
        return empty_snapshot(slugs)

    def list_workspaces(self) -> list[str]:
        return []

    def history(self, limit: int = 20) -> list[AuditRun]:
        return []

    def refuse_before_lock(self, plan: ops.Plan, keyring: Keyring | None, audit: AuditInfo) -> None:
        raise self.reason  # only apply creates the database, with a backend opened with create=True

    def begin_apply(self, lock_timeout: float, actor: str) -> AbstractContextManager[ApplyTransaction]:
        raise self.reason

    def record_unapplied(
        self, plan: ops.Plan, audit: AuditInfo, started: datetime, error: ReconcilerError, result: str
    ) -> None:
        """Nothing to record in: the database does not exist."""


NAMES_SHOWN = 10  # recipients named in a message before "and N more"


def _names(emails: Collection[str]) -> str:
    emails = list(emails)
    shown = ", ".join(emails[:NAMES_SHOWN])
    return shown + (f" and {len(emails) - NAMES_SHOWN} more" if len(emails) > NAMES_SHOWN else "")


def interrupted_delivery_lines(exc: DeliveryInterrupted, transport: object, *, committed: bool) -> list[str]:
    """What a delivery cut short by the database says: what was delivered, what may go out twice, what waits."""
    from ...mail import delivery_line

    report, unrecorded, waiting = exc.report, exc.unrecorded, exc.waiting
    prefix = "Warning: the apply committed, but " if committed else ""
    lines = [delivery_line(transport, len(report.sent))] if report.sent else []  # type: ignore[arg-type]
    lines.append(
        f"{prefix}{exc.message}: {len(waiting)} email(s) stay pending ({_names(waiting)}). "
        "Deliver them with 'reconciler invites send'."
    )
    if unrecorded is not None:
        lines.append(
            f"Note: the email to {unrecorded} was handed over but could not be marked as sent; it will be sent again."
        )
    return lines


def _busy_timeout(conn: Connection, seconds: float) -> None:
    """How long SQLite waits for another writer; set on the driver so SQLAlchemy does not autobegin."""
    conn.connection.driver_connection.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")


def _cache_size(conn: Connection, setting: int) -> int:
    """Set SQLite's ``PRAGMA cache_size`` (pages, or KiB when negative); returns the setting it replaced."""
    driver = conn.connection.driver_connection
    before = int(driver.execute("PRAGMA cache_size").fetchone()[0])
    driver.execute(f"PRAGMA cache_size = {int(setting)}")
    return before


def _decryptor(keyring: Keyring | None, conn: Connection) -> Callable[[str, str], dict[str, str]]:
    def decrypt(membership_id: str, blob: str) -> dict[str, str]:
        if keyring is None:
            raise SecretError(NO_KEY, hint=KEY_HINT)
        try:
            return decrypt_metadata(keyring, membership_id, blob)
        except DecryptionError as exc:  # name the member: the error is about one record, which the user can find
            raise exc.about(_whose_metadata(conn, membership_id)) from None

    return decrypt


def _whose_metadata(conn: Connection, membership_id: str) -> str:
    """``the metadata of EMAIL in workspace "SLUG"``, looked up only when a value could not be decrypted."""
    m, u, w = models.Membership.__table__, models.User.__table__, models.Workspace.__table__
    row = conn.execute(
        select(u.c.email, w.c.slug)
        .select_from(m.join(u, u.c.id == m.c.user_id).join(w, w.c.id == m.c.workspace_id))
        .where(m.c.id == membership_id)
    ).first()
    if row is None:
        return f"the metadata of membership {membership_id}"
    return f'the metadata of {row.email} in workspace "{row.slug}"'


def _now_text() -> str:
    return models.utcnow().isoformat(timespec="seconds")


def _read_holder(info: Path) -> str | None:
    """Who holds the lock, from the file the holder wrote; None when unknown.

    A holder killed with SIGKILL leaves its file behind: a file whose process is gone names nobody.
    """
    try:
        data = json.loads(info.read_text())
        if not _running(data["pid"]):
            return None
        command = data.get("command", "apply")
        return f"reconciler {command} by {data['actor']} (pid {data['pid']}, since {data['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _running(pid: object) -> bool:
    """Whether ``pid`` (as read from a lock-info file, so possibly anything) is a running process here."""
    if type(pid) is not int or not 0 < pid < 2**22:  # Linux's pid_max is at most 2**22
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, but belongs to another user
        pass
    return True
