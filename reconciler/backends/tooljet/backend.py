"""The ToolJet backend: plan and apply against a ToolJet 3.x installation's own PostgreSQL tables.

Stage: storage. Same contract as the built-in backend: consistent snapshots (REPEATABLE READ), one apply at a
time under a transaction-scoped PostgreSQL advisory lock (dies with its holder), the whole plan in one
transaction. It never runs DDL on ToolJet's schema and never writes apps or data sources; audit records go to a
schema of the tool's own, or nowhere (``audit.py``). User metadata is encrypted with ToolJet's key and scheme
(``lockbox.py``), so the ``keyring`` arguments of the interface are not used for ToolJet's data.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from ... import ops
from ...crypto import Keyring
from ...errors import ReconcilerError, StateError, refused
from ...hygiene import Activity
from ...state import Snapshot
from ..base import ApplyResult, ApplyTransaction, AuditInfo, AuditRun, Backend, Executed, Progress
from ..common import create_engine_for, mask_url, one_line, take_postgres_lock
from .audit import AuditLog
from .audit_logs import audit_rows, write_audit_rows
from .checks import plan_problems
from .executor import Executor
from .invitations import PendingInvitation, deliver, link_expiry
from .lockbox import decrypt_metadata, load_key
from .queries import ALL_SLUGS
from .reader import ToolJetIds, read_snapshot
from .variant import Variant, detect_variant

TOOLJET_OWNS_SCHEMA = (
    "the tooljet backend never changes ToolJet's database schema: ToolJet owns it and migrates it itself "
    "when it starts; nothing was changed"
)


class ToolJetBackend(Backend):
    name = "tooljet"
    uses_keyring = False  # metadata is encrypted with ToolJet's LOCKBOX_MASTER_KEY
    # ToolJet's workspace setup (server/src/modules/setup-organization/util.service.ts) writes far more than these
    # tables: the form-login sso_configs row, environments, the main branch, the sample database, the ToolJet
    # database's tenant schema and role, static data sources. Not reproducible from outside: refused.
    SUPPORTS_WORKSPACE_CREATION = False
    ADOPT_WORKSPACE_HINT = (
        "create it in ToolJet (Workspace menu -> Add workspace, as an admin or super admin), then adopt it: "
        "reconciler --backend tooljet export --workspace SLUG, merge its entry into the configuration, and plan "
        "again (docs/tooljet.md, Workspaces)"
    )

    def __init__(self, url: str, *, environ: Mapping[str, str] | None = None) -> None:
        self.url = url
        self.environ = os.environ if environ is None else environ
        self.engine = create_engine_for(url)
        if self.engine.dialect.name != "postgresql":
            self.engine.dispose()
            raise StateError(
                f"the tooljet backend needs ToolJet's PostgreSQL database, not {mask_url(url)}",
                hint="--database postgresql://USER@HOST/TOOLJET_DB (add ?options=-csearch_path%3DSCHEMA if needed)",
            )
        self.audit_log = AuditLog(self.environ)
        # Applies are recorded, and listed by history, only in an audit schema of the tool's own.
        self.SUPPORTS_HISTORY = self.audit_log.schema is not None
        self._variant: Variant | None = None
        self.pending_invitations: list[PendingInvitation] = []

    @classmethod
    def upgrade_schema(cls, url: str) -> tuple[str | None, str]:
        raise ReconcilerError(TOOLJET_OWNS_SCHEMA, hint="upgrade ToolJet itself; see docs/tooljet.md")

    def close(self) -> None:
        self.engine.dispose()

    # --- reading -------------------------------------------------------------------------------

    @contextmanager
    def _connect(self, **options: Any) -> Iterator[Connection]:
        try:
            conn = self.engine.connect()
        except DBAPIError as exc:
            raise StateError(f"cannot open the database {mask_url(self.url)}: {one_line(exc)}") from exc
        with conn:
            yield conn.execution_options(**options) if options else conn

    def variant(self, conn: Connection | None = None) -> Variant:
        """The schema variant, introspected once per backend."""
        if self._variant is None:
            if conn is None:
                with self._connect() as fresh, fresh.begin():
                    self._variant = detect_variant(fresh)
            else:
                self._variant = detect_variant(conn)
        return self._variant

    def _read(self, conn: Connection, slugs: Collection[str]) -> tuple[Snapshot, ToolJetIds]:
        key = _optional_key(self.environ)

        def decrypt(slug: str, email: str, blob: str) -> dict[str, str]:
            return decrypt_metadata(key, slug, email, blob)

        snapshot, ids = read_snapshot(
            conn, self.variant(conn), slugs, decrypt=decrypt, release_licence=release_licence(self.environ)
        )
        return snapshot, ids

    def read_snapshot(self, slugs: Collection[str], keyring: Keyring | None) -> Snapshot:
        """``keyring`` is not used: ToolJet's metadata is read with LOCKBOX_MASTER_KEY."""
        with self._connect(isolation_level="REPEATABLE READ") as conn, conn.begin():
            return self._read(conn, slugs)[0]

    def read_activity(self, slugs: Collection[str]) -> Activity:
        """Pending invitations: ``organization_users.updated_at`` of the invited rows (an invite or an unarchive
        writes it; ToolJet's timestamps are UTC without zone). Sign-ins: the latest ``last_logged_in`` of the user's
        ``user_sessions`` (``server/src/entities/user_sessions.entity.ts``, written at each sign-in by
        ``SessionUtilService.createSession``); ToolJet deletes expired sessions every hour
        (``server/src/modules/session/scheduler.ts``), so only users with a live session have one on record.
        A schema without ``user_sessions`` records no sign-ins."""
        with self._connect() as conn, conn.begin():
            invited = conn.execute(text(INVITED_SINCE), {"slugs": list(slugs)}).all()
            sessions = conn.scalar(text("SELECT to_regclass('user_sessions') IS NOT NULL"))
            last = dict(conn.execute(text(LAST_SIGN_IN)).all()) if sessions else None
        return Activity(
            invited_since={(slug, email): _utc(at) for slug, email, at in invited if at is not None},
            last_sign_in=None if last is None else {email: _utc(at) for email, at in last.items() if at is not None},
            sign_in_source="user_sessions.last_logged_in" if sessions else "",
        )

    def list_workspaces(self) -> list[str]:
        with self._connect() as conn, conn.begin():
            self.variant(conn)
            return list(conn.scalars(text(ALL_SLUGS)))

    def validate_plan(self, plan: ops.Plan, snapshot: Snapshot) -> None:
        """Raise every refusal (one ``PlanRefused`` or ``PlanRefusals``) for what ToolJet would refuse of ``plan``."""
        problems = plan_problems(plan, snapshot, self.variant())
        if problems:
            raise refused(problems)

    # --- applying: the steps of Backend.apply ---------------------------------------------------

    def refuse_before_lock(self, plan: ops.Plan, keyring: Keyring | None, audit: AuditInfo) -> None:
        self.audit_log.require_for_saved_plans(audit)

    @contextmanager
    def begin_apply(self, lock_timeout: float, actor: str) -> Iterator[ApplyTransaction]:
        with self._locked(lock_timeout, actor) as conn:
            yield _Apply(self, conn, actor)

    def record_unapplied(
        self, plan: ops.Plan, audit: AuditInfo, started: datetime, error: ReconcilerError, result: str
    ) -> None:
        self.audit_log.record_separately(self.engine, plan, audit, started, error, result)

    def after_commit(self, result: ApplyResult, keyring: Keyring | None = None) -> list[str]:
        """Deliver the invitations of the last apply (the CLI calls this after commit); lines for stderr, which
        also say when the apply left no audit record.

        There is no outbox table (ToolJet's tables are not ours to extend): a failed delivery is reported, and
        the invitation link stays available in ToolJet's UI, since the token is stored the way ToolJet stores it.
        """
        pending, self.pending_invitations = self.pending_invitations, []
        in_audit_logs = self._variant is not None and self._variant.audit_logs
        return [*deliver(pending, self.environ), *self.audit_log.missing_warning(in_tooljet_audit_logs=in_audit_logs)]

    @contextmanager
    def _locked(self, timeout: float, actor: str) -> Iterator[Connection]:
        with self._connect() as conn, conn.begin():
            take_postgres_lock(conn, self.engine, timeout, actor)
            yield conn

    def history(self, limit: int = 20) -> list[AuditRun]:
        return self.audit_log.history(self.engine, limit)


class _Apply(ApplyTransaction):
    """One apply of the ToolJet backend, on the connection that holds the lock."""

    def __init__(self, backend: ToolJetBackend, conn: Connection, actor: str = "") -> None:
        self.backend, self.conn, self.actor = backend, conn, actor
        self.invitations: list[PendingInvitation] = []

    def refuse_replay(self, plan: ops.Plan, audit: AuditInfo) -> None:
        self.backend.audit_log.refuse_replay(self.conn, plan, audit)

    def read(self, slugs: Collection[str]) -> Snapshot:
        self.snapshot, self.ids = self.backend._read(self.conn, slugs)
        return self.snapshot

    def execute(self, plan: ops.Plan, keyring: Keyring | None, progress: Progress) -> Executed:
        """What ToolJet would refuse on the fresh snapshot is refused first; ``keyring`` is not used (ToolJet's
        metadata is encrypted with LOCKBOX_MASTER_KEY)."""
        variant = self.backend.variant(self.conn)
        problems = plan_problems(plan, self.snapshot, variant)
        if problems:
            raise refused(problems)
        archived = frozenset(slug for slug, ws in self.snapshot.workspaces.items() if ws.status == "archived")
        key = _optional_key(self.backend.environ)
        executor = Executor(
            self.conn,
            variant,
            self.ids,
            key,
            progress,
            archived_workspaces=archived,
            link_expiry_minutes=link_expiry(self.backend.environ),
        )
        groups_before = dict(self.ids.groups)
        executor.run(plan)
        if variant.audit_logs:  # ToolJet's own audit_logs, in this transaction (issue 16 L4)
            rows = audit_rows(plan, self.snapshot, self.ids, groups_before)
            write_audit_rows(
                self.conn, rows, self.ids, {"source": "reconciler", "actor": self.actor, "plan_id": plan.plan_id}
            )
        self.invitations = list(executor.invitations)
        return Executed(tuple(i.email for i in executor.invitations))

    def record(self, plan: ops.Plan, audit: AuditInfo, started: datetime) -> int | None:
        return self.backend.audit_log.record(self.conn, plan, audit, started, "applied", None)

    def committed(self) -> None:
        self.backend.pending_invitations = self.invitations


RELEASE_LICENSE_ENV = "RECONCILER_TOOLJET_RELEASE_LICENSE"


def release_licence(environ: Mapping[str, str]) -> bool:
    """Whether the instance's ToolJet licence has the ``release`` feature (multi-environment), which ToolJet reads
    from its licence key, outside the tables this backend reads: with it, a view grant that reaches development,
    staging or production is not builder-level (roles/util.service.ts, checkIfBuilderLevelEnvironmentPermissions)."""
    value = environ.get(RELEASE_LICENSE_ENV, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ReconcilerError(
        f"{RELEASE_LICENSE_ENV}={environ[RELEASE_LICENSE_ENV]!r} is neither true nor false: set it to true when the "
        "ToolJet licence includes multi-environment release, false (or leave it unset) otherwise"
    )


def _optional_key(environ: Mapping[str, str]) -> bytes | None:
    return load_key(environ) if environ.get("LOCKBOX_MASTER_KEY", "").strip() else None


INVITED_SINCE = (
    "SELECT o.slug, lower(u.email), COALESCE(ou.updated_at, ou.created_at) FROM organization_users ou "
    "JOIN organizations o ON o.id = ou.organization_id JOIN users u ON u.id = ou.user_id "
    "WHERE ou.status = 'invited' AND o.slug = ANY(:slugs)"
)
LAST_SIGN_IN = (
    "SELECT lower(u.email), max(s.last_logged_in) FROM user_sessions s JOIN users u ON u.id = s.user_id "
    "GROUP BY lower(u.email)"
)


def _utc(moment: Any) -> Any:
    """ToolJet's ``timestamp`` columns hold UTC without a zone (``timestamptz`` ones come back aware)."""
    from datetime import UTC

    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
