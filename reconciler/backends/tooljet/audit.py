"""Audit records of the ToolJet backend: in a schema of the tool's own, or nowhere — never in ToolJet's tables.

Stage: storage. ``RECONCILER_TOOLJET_AUDIT_SCHEMA`` names a schema in the same database (created on first use,
with the ``audit_runs``/``audit_changes`` tables the built-in backend keeps too, from ``common/tables.py``); the
run record is written in the apply's transaction, so it exists exactly when the apply committed. Unset, applies
leave no record, and every apply and ``history`` say so. Records are masked like the built-in ones: addresses
and field names, never a metadata value or a token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime

from sqlalchemy import Connection, Engine, MetaData, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from ... import ops
from ...errors import PlanRefused, ReconcilerError
from ..base import AuditInfo, AuditRun
from ..common import NAMING_CONVENTION, audit_change_rows, audit_run_row, audit_runs, audit_tables, refuse_replay

AUDIT_SCHEMA_ENV = "RECONCILER_TOOLJET_AUDIT_SCHEMA"


class AuditLog:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.schema = (environ.get(AUDIT_SCHEMA_ENV) or "").strip() or None
        if self.schema and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", self.schema):
            raise ReconcilerError(f"{AUDIT_SCHEMA_ENV} must be a plain schema name (letters, digits, _)")
        if self.schema:
            shared = audit_tables(MetaData(naming_convention=NAMING_CONVENTION))
            target = MetaData()
            self.runs, self.changes = (table.to_metadata(target, schema=self.schema) for table in shared)
            self.metadata = target

    def missing_warning(self, *, in_tooljet_audit_logs: bool = False) -> list[str]:
        """The line an apply prints when it left no record of its own (no audit schema is configured); where the
        changes went to ToolJet's ``audit_logs``, it says so, and what still needs the schema."""
        if self.schema:
            return []
        if in_tooljet_audit_logs:
            return [
                "Warning: this apply is in ToolJet's audit log (audit_logs), but left no record of reconciler's own "
                "(history, report, saved plans applied once): the tooljet backend keeps one only in a schema of its "
                f"own; set {AUDIT_SCHEMA_ENV}=reconciler_audit (created on first apply, beside ToolJet's tables)."
            ]
        return [
            "Warning: this apply left no audit record: the tooljet backend keeps one only in a schema of its own; "
            f"set {AUDIT_SCHEMA_ENV}=reconciler_audit (created on first apply, beside ToolJet's tables)."
        ]

    def require_for_saved_plans(self, audit: AuditInfo) -> None:
        """A saved plan is applied at most once, which only a record of applied plan ids can show (SPEC 4)."""
        if audit.single_use and not self.schema:
            raise PlanRefused(
                "single-use",
                "a saved plan is applied at most once, and the tooljet backend can record that only in an audit "
                "schema of its own, which is not configured; nothing was changed",
                hint=f"set {AUDIT_SCHEMA_ENV}=reconciler_audit (created on first apply), or apply with -f CONFIG",
            )

    def refuse_replay(self, conn: Connection, plan: ops.Plan, audit: AuditInfo) -> None:
        if self.schema and audit.single_use:
            self._ensure(conn)
            refuse_replay(conn, self.runs, plan, audit)

    def record(
        self, conn: Connection, plan: ops.Plan, audit: AuditInfo, started: datetime, result: str, error: str | None
    ) -> int | None:
        """The run and, when applied, one masked row per change; None without an audit schema."""
        if not self.schema:
            return None
        self._ensure(conn)
        run_id = conn.execute(
            insert(self.runs).returning(self.runs.c.id), audit_run_row(plan, audit, started, result, error)
        ).scalar_one()
        if result == "applied" and plan.ops:
            conn.execute(insert(self.changes), audit_change_rows(run_id, plan))
        return int(run_id)

    def record_separately(
        self, engine: Engine, plan: ops.Plan, audit: AuditInfo, started: datetime, exc: ReconcilerError, result: str
    ) -> None:
        """A refused or failed run, after the rollback; never masks the original error."""
        if not self.schema:
            return
        with suppress(SQLAlchemyError), engine.begin() as conn:
            self.record(conn, plan, audit, started, result, exc.message[:2000])

    def history(self, engine: Engine, limit: int) -> list[AuditRun]:
        if not self.schema:
            raise ReconcilerError(
                "the tooljet backend keeps no history unless it has an audit schema of its own",
                hint=f"set {AUDIT_SCHEMA_ENV}=reconciler_audit (a schema beside ToolJet's; created on first apply)",
            )
        with engine.connect() as conn:
            exists = conn.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": f'"{self.schema}".audit_runs'})
            if not exists:
                return []
            rows = conn.execute(select(self.runs).order_by(self.runs.c.id.desc()).limit(limit)).all()
        return audit_runs(rows)

    def _ensure(self, conn: Connection) -> None:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
        self.metadata.create_all(conn, checkfirst=True)
        # An audit schema made before plan ids were recorded (create_all leaves existing tables alone).
        conn.execute(text(f'ALTER TABLE "{self.schema}".audit_runs ADD COLUMN IF NOT EXISTS plan_id varchar(64)'))
        conn.execute(
            text(f'CREATE UNIQUE INDEX IF NOT EXISTS ix_audit_runs_plan_id ON "{self.schema}".audit_runs (plan_id)')
        )
