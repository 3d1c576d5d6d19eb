"""Check constraints get the names they were meant to have.

Revision 0001 passed full names (``ck_memberships_role``) through the naming convention, which prefixed them
again: PostgreSQL error messages named ``ck_memberships_ck_memberships_role``. 0001 now marks the names as
final, so new databases are right; this revision renames the doubled constraints of databases created before.
On SQLite a constraint name lives in its table's definition and renaming means rebuilding the table, which is
not worth the risk for a name: SQLite databases created before keep the doubled names (nothing depends on them).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS = {
    "users": ("email_lower_case",),
    "workspaces": ("status",),
    "groups": ("kind",),
    "app_grants": ("access",),
    "data_source_grants": ("access",),
    "memberships": ("role", "status"),
    "outbox": ("status",),
    "audit_runs": ("result",),
}
_EXISTS = sa.text("SELECT 1 FROM pg_constraint WHERE conname = :name AND conrelid = to_regclass(:table)")


def _rename(doubled: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, names in CHECKS.items():
        for name in names:
            right, wrong = f"ck_{table}_{name}", f"ck_{table}_ck_{table}_{name}"
            old, new = (wrong, right) if doubled else (right, wrong)
            if bind.execute(_EXISTS, {"name": old, "table": table}).first() is not None:
                op.execute(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{old}" TO "{new}"')


def upgrade() -> None:
    _rename(doubled=True)


def downgrade() -> None:
    _rename(doubled=False)
