"""What reconciler's own tables share: their naming convention, UTC timestamps, and the audit tables.

Stage: storage. The built-in schema (``builtin/models.py``) holds the audit tables beside its other tables; the
ToolJet backend creates the same two tables in a schema of its own (``tooljet/audit.py``), never in ToolJet's.
Both get them from :func:`audit_tables`, so an audit record has one shape whatever the backend.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# Every constraint and index gets an explicit, predictable name (the migrations spell them out).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
AUDIT_RESULTS = ("applied", "failed", "refused")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both databases.

    SQLite keeps no offset, so values are converted to UTC before they are written and marked UTC when read;
    naive datetimes are refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def audit_tables(metadata: MetaData) -> tuple[Table, Table]:
    """``audit_runs`` (one row per apply: applied, refused or failed) and ``audit_changes`` (one masked row per
    change of an applied run), defined in ``metadata`` (whose naming convention and schema they take)."""
    runs = Table(
        "audit_runs",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("started_at", UtcDateTime, nullable=False, default=utcnow, index=True),
        Column("finished_at", UtcDateTime),
        Column("actor", String(255), nullable=False),
        Column("command", String(50), nullable=False),
        Column("config_hash", String(64), nullable=False),
        Column("summary", Text, nullable=False),  # JSON
        Column("result", String(16), nullable=False),
        Column("error", Text),
        # The plan's id on applied runs only: a saved plan is applied at most once (unique; NULLs never collide).
        Column("plan_id", String(64), index=True, unique=True),
        CheckConstraint(f"result IN ({', '.join(repr(r) for r in AUDIT_RESULTS)})", name="result"),
    )
    changes = Table(
        "audit_changes",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("run_id", ForeignKey(runs.c.id, ondelete="CASCADE"), nullable=False),
        Column("seq", Integer, nullable=False),
        Column("address", String(500), nullable=False),
        Column("action", String(32), nullable=False),
        Column("detail", Text, nullable=False),  # JSON, masked by the caller
        UniqueConstraint("run_id", "seq"),
    )
    return runs, changes
