"""Initial schema: users, workspaces, registry, groups and grants, memberships, metadata, outbox, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLAG_COLUMNS = (
    "app_create",
    "app_delete",
    "folder_create",
    "folder_update",
    "folder_delete",
    "constant_create",
    "constant_update",
    "constant_delete",
    "data_source_create",
    "data_source_delete",
)


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _flag(name: str) -> sa.Column:
    return sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False)


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"], ["workspaces.id"], name=f"fk_{table}_workspace_id_workspaces", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("first_name", sa.String(length=255), server_default=sa.text("''"), nullable=False),
        sa.Column("last_name", sa.String(length=255), server_default=sa.text("''"), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_lower_case")),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "workspaces",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("slug", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint("status IN ('active', 'archived')", name=op.f("ck_workspaces_status")),
        sa.PrimaryKeyConstraint("id", name="pk_workspaces"),
        sa.UniqueConstraint("name", name="uq_workspaces_name"),
        sa.UniqueConstraint("slug", name="uq_workspaces_slug"),
    )
    op.create_table(
        "apps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("slug", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        _workspace_fk("apps"),
        sa.PrimaryKeyConstraint("id", name="pk_apps"),
        sa.UniqueConstraint("workspace_id", "slug", name="uq_apps_workspace_id_slug"),
    )
    op.create_table(
        "data_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        _workspace_fk("data_sources"),
        sa.PrimaryKeyConstraint("id", name="pk_data_sources"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_data_sources_workspace_id_name"),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        *(_flag(name) for name in FLAG_COLUMNS),
        sa.CheckConstraint("kind IN ('role', 'custom')", name=op.f("ck_groups_kind")),
        _workspace_fk("groups"),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_groups_workspace_id_name"),
    )
    op.create_table(
        "app_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("access", sa.String(length=8), nullable=False),
        _flag("all_apps"),
        _flag("hide_from_dashboard"),
        sa.CheckConstraint("access IN ('edit', 'view')", name=op.f("ck_app_grants_access")),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name="fk_app_grants_group_id_groups", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_app_grants"),
    )
    op.create_index("ix_app_grants_group_id", "app_grants", ["group_id"])
    op.create_table(
        "app_grant_apps",
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["app_grants.id"], name="fk_app_grant_apps_grant_id_app_grants", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_app_grant_apps_app_id_apps", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("grant_id", "app_id", name="pk_app_grant_apps"),
    )
    op.create_index("ix_app_grant_apps_app_id", "app_grant_apps", ["app_id"])
    op.create_table(
        "data_source_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("access", sa.String(length=16), nullable=False),
        _flag("all_data_sources"),
        sa.CheckConstraint("access IN ('configure', 'use')", name=op.f("ck_data_source_grants_access")),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name="fk_data_source_grants_group_id_groups", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_data_source_grants"),
    )
    op.create_index("ix_data_source_grants_group_id", "data_source_grants", ["group_id"])
    op.create_table(
        "data_source_grant_sources",
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("data_source_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["data_source_grants.id"],
            name="fk_data_source_grant_sources_grant_id_data_source_grants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["data_source_id"],
            ["data_sources.id"],
            name="fk_data_source_grant_sources_data_source_id_data_sources",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("grant_id", "data_source_id", name="pk_data_source_grant_sources"),
    )
    op.create_index("ix_data_source_grant_sources_data_source_id", "data_source_grant_sources", ["data_source_id"])
    op.create_table(
        "memberships",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("invitation_token_hash", sa.String(length=64), nullable=True),
        _timestamp("invitation_expires_at", nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint("role IN ('admin', 'builder', 'end-user')", name=op.f("ck_memberships_role")),
        sa.CheckConstraint("status IN ('invited', 'active', 'archived')", name=op.f("ck_memberships_status")),
        _workspace_fk("memberships"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_memberships_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_memberships"),
        sa.UniqueConstraint("invitation_token_hash", name="uq_memberships_invitation_token_hash"),
        sa.UniqueConstraint("workspace_id", "user_id", name="uq_memberships_workspace_id_user_id"),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name="fk_group_members_group_id_groups", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["memberships.id"],
            name="fk_group_members_membership_id_memberships",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "membership_id", name="pk_group_members"),
    )
    op.create_index("ix_group_members_membership_id", "group_members", ["membership_id"])
    op.create_table(
        "membership_metadata",
        sa.Column("membership_id", sa.String(length=36), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        _timestamp("updated_at"),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["memberships.id"],
            name="fk_membership_metadata_membership_id_memberships",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("membership_id", name="pk_membership_metadata"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.String(length=36), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("payload_ciphertext", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        _timestamp("next_attempt_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("sent_at", nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sent')", name=op.f("ck_outbox_status")),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["memberships.id"],
            name="fk_outbox_membership_id_memberships",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_membership_id", "outbox", ["membership_id"])
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "audit_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        _timestamp("started_at"),
        _timestamp("finished_at", nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("command", sa.String(length=50), nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("result IN ('applied', 'failed', 'refused')", name=op.f("ck_audit_runs_result")),
        sa.PrimaryKeyConstraint("id", name="pk_audit_runs"),
    )
    op.create_index("ix_audit_runs_started_at", "audit_runs", ["started_at"])
    op.create_table(
        "audit_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["audit_runs.id"], name="fk_audit_changes_run_id_audit_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_audit_changes"),
        sa.UniqueConstraint("run_id", "seq", name="uq_audit_changes_run_id_seq"),
    )


def downgrade() -> None:
    for table in (
        "audit_changes",
        "audit_runs",
        "outbox",
        "membership_metadata",
        "group_members",
        "memberships",
        "data_source_grant_sources",
        "data_source_grants",
        "app_grant_apps",
        "app_grants",
        "groups",
        "data_sources",
        "apps",
        "workspaces",
        "users",
    ):
        op.drop_table(table)  # dropping a table drops its indexes
