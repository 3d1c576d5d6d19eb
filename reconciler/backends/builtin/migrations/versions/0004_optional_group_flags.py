"""The optional group flags of issue 16: apps promote/release, workflows, ToolJet database, modules.

Existing role rows of the admin and builder roles get true (ToolJet's default groups have them, and configurations
that do not mention the new keys keep what is stored); custom groups get false, what a new ToolJet group gets.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_FLAG_COLUMNS = (
    "app_promote",
    "app_release",
    "workflow_create",
    "workflow_delete",
    "tooljet_database_create",
    "tooljet_database_update",
    "tooljet_database_delete",
    "module_create",
    "module_delete",
)


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        for name in NEW_FLAG_COLUMNS:
            batch.add_column(sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False))
    sets = ", ".join(f"{name} = true" for name in NEW_FLAG_COLUMNS)
    op.execute(f"UPDATE groups SET {sets} WHERE kind = 'role' AND name IN ('admin', 'builder')")


def downgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        for name in reversed(NEW_FLAG_COLUMNS):
            batch.drop_column(name)
