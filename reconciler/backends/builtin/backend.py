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
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ... import ops
from ...crypto import Keyring, decrypt_metadata
from ...errors import DatabaseMissing, LockTimeout, ReconcilerError, SecretError
from ...state import Snapshot
from ..base import ApplyResult, AuditInfo, AuditRun, Backend, PreconditionCheck
from ..common import (
    audit_change_rows,
    audit_run_row,
    audit_runs,
    audited_failures,
    holder_message,
    take_postgres_lock,
    ticker,
)
from . import models
from .db import SQLITE_BEGIN, open_database
from .executor import Executor, bulk_insert
from .reader import empty_snapshot, read_snapshot

T_RUNS = models.AuditRun.__table__
T_CHANGES = models.AuditChange.__table__
DEFAULT_BASE_URL = "http://localhost:8082"
COMMIT_GRACE_SECONDS = 30.0
# SQLite's page cache for an apply's transaction, at most (pages are taken as they are used): a large apply
# inserts into indexes on random keys (uuids, token hashes) that outgrow SQLite's default 2 MB, and a
# transaction that overflows the cache spills pages and reads them back. Restored when the apply ends.
APPLY_CACHE_KIB = 64 * 1024
NO_KEY = "the database holds encrypted metadata but no master key is configured"
KEY_HINT = "set RECONCILER_MASTER_KEY (64 hex characters) or pass --master-key-file"


class BuiltinBackend(Backend):
    name = "builtin"

    def __init__(self, url: str, environ: Mapping[str, str] | None = None, *, create: bool = True) -> None:
        self.url = url
        self.environ = os.environ if environ is None else environ
        self.engine = open_database(url, initialise=create)
        self.sqlite = self.engine.dialect.name == "sqlite"

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
            snapshot, _ = read_snapshot(conn, slugs, decrypt_metadata=_decryptor(keyring))
        return snapshot

    def list_workspaces(self) -> list[str]:
        table = models.Workspace.__table__
        with self.engine.connect() as conn:
            return list(conn.scalars(select(table.c.slug).order_by(table.c.slug)))

    # --- applying ------------------------------------------------------------------------------

    def apply(
        self,
        plan: ops.Plan,
        *,
        keyring: Keyring | None,
        lock_timeout: float,
        check: PreconditionCheck,
        audit: AuditInfo,
        progress: Callable[[int, int], None] | None = None,
    ) -> ApplyResult:
        started = models.utcnow()

        def record(exc: ReconcilerError, result: str) -> None:
            self._audit_separately(plan, audit, started, exc, result)

        with audited_failures(record), self._locked(lock_timeout, audit.actor) as conn:
            # Neither the precondition check nor the executor needs metadata values: no decryption here.
            snapshot, ids = read_snapshot(conn, plan.workspaces, decrypt_metadata=None)
            check(snapshot)
            archived = frozenset(slug for slug, ws in snapshot.workspaces.items() if ws.status == "archived")
            executor = Executor(
                conn, ids, keyring, progress=ticker(len(plan.ops), progress), archived_workspaces=archived
            )
            executor.run(plan)
            run_id = self._audit(conn, plan, audit, started, "applied", None)
            queued = self.after_execute(conn, executor, keyring, audit)
        return ApplyResult(run_id, len(plan.ops), tuple(i.email for i in executor.invitations), queued)

    def after_execute(self, conn: Connection, executor: Executor, keyring: Keyring | None, audit: AuditInfo) -> int:
        """Queue the invitation emails in the apply's own transaction; returns how many were queued.

        Without a master key an email holding a raw token cannot be stored safely, so none is queued and
        ``invite-url`` issues links later.
        """
        if keyring is None or not executor.invitations:
            return 0
        from .people import queue_invitations

        base_url = self.environ.get("RECONCILER_BASE_URL") or DEFAULT_BASE_URL
        expires = executor.now + executor.invitation_ttl
        return queue_invitations(
            conn, executor.invitations, keyring, inviter=audit.actor, base_url=base_url, expires_at=expires
        )

    def after_commit(self, result: ApplyResult, keyring: Keyring | None) -> list[str]:
        """Deliver queued invitations; a failure leaves them pending and never undoes the apply."""
        if not result.invitations:
            return []
        if keyring is None or result.queued == 0:
            return [
                f"Note: {len(result.invitations)} invitation(s) were not emailed because no master key is "
                "configured; issue links with 'reconciler invite-url EMAIL --workspace SLUG'."
            ]
        from ...mail import DEFAULT_FROM, describe_transport, transport_from_env
        from .people import deliver_pending

        transport = transport_from_env(self.environ)
        sender = self.environ.get("RECONCILER_MAIL_FROM") or DEFAULT_FROM
        report = deliver_pending(self.engine, keyring, transport, sender=sender)
        lines = [f"Sent {len(report.sent)} invitation email(s) via {describe_transport(transport)}."]
        if report.failed:
            lines.append(
                f"Warning: {len(report.failed)} invitation email(s) could not be delivered "
                f"({report.failed[0][1]}); they stay pending. Retry with 'reconciler invites send'."
            )
        return lines

    @contextmanager
    def _locked(self, timeout: float, actor: str) -> Iterator[Connection]:
        if self.sqlite:
            with self._sqlite_locked(timeout, actor) as conn:
                yield conn
        else:
            with self._postgres_locked(timeout, actor) as conn:
                yield conn

    @contextmanager
    def _sqlite_locked(self, timeout: float, actor: str) -> Iterator[Connection]:
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
                info.write_text(json.dumps({"actor": actor, "pid": os.getpid(), "since": _now_text()}))
            try:
                with transaction:
                    yield conn
            finally:
                with suppress(OSError):
                    info.unlink()
                with suppress(sqlite3.Error):  # a broken connection must not hide the apply's own error
                    _cache_size(raw, cache_before)  # the connection goes back to the pool as it came

    @contextmanager
    def _postgres_locked(self, timeout: float, actor: str) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            take_postgres_lock(conn, self.engine, timeout, actor)
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

    def apply(self, plan: ops.Plan, **_: object) -> ApplyResult:
        raise self.reason

    def history(self, limit: int = 20) -> list[AuditRun]:
        return []


def _busy_timeout(conn: Connection, seconds: float) -> None:
    """How long SQLite waits for another writer; set on the driver so SQLAlchemy does not autobegin."""
    conn.connection.driver_connection.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")


def _cache_size(conn: Connection, setting: int) -> int:
    """Set SQLite's ``PRAGMA cache_size`` (pages, or KiB when negative); returns the setting it replaced."""
    driver = conn.connection.driver_connection
    before = int(driver.execute("PRAGMA cache_size").fetchone()[0])
    driver.execute(f"PRAGMA cache_size = {int(setting)}")
    return before


def _decryptor(keyring: Keyring | None) -> Callable[[str, str], dict[str, str]]:
    def decrypt(membership_id: str, blob: str) -> dict[str, str]:
        if keyring is None:
            raise SecretError(NO_KEY, hint=KEY_HINT)
        return decrypt_metadata(keyring, membership_id, blob)

    return decrypt


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
        return f"reconciler apply by {data['actor']} (pid {data['pid']}, since {data['since']})"
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
