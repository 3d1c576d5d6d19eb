"""Saved plans are single-use: applied runs record the plan's id, unique.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_runs", sa.Column("plan_id", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_audit_runs_plan_id"), "audit_runs", ["plan_id"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_runs_plan_id"), table_name="audit_runs")
    op.drop_column("audit_runs", "plan_id")
