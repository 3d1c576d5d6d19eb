"""The built-in schema: SQLAlchemy 2 models, portable between SQLite and PostgreSQL.

This module is the schema of record; ``migrations/`` must produce exactly these tables (a test compares
them). Enumerations are ``VARCHAR`` plus a ``CHECK`` rather than database enum types, so that both databases
and future migrations treat them alike. Every constraint has an explicit name through the naming
convention.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from reconciler.state import FLAG_NAMES

from ..common import NAMING_CONVENTION, UtcDateTime, audit_tables, utcnow

# YAML flag name (``state.FLAG_NAMES``) -> boolean column of ``groups``.
FLAG_COLUMNS: dict[str, str] = {
    "apps.create": "app_create",
    "apps.delete": "app_delete",
    "folders.create": "folder_create",
    "folders.update": "folder_update",
    "folders.delete": "folder_delete",
    "workspace_constants.create": "constant_create",
    "workspace_constants.update": "constant_update",
    "workspace_constants.delete": "constant_delete",
    "data_sources.create": "data_source_create",
    "data_sources.delete": "data_source_delete",
    "apps.promote": "app_promote",  # migration 0004 (issue 16)
    "apps.release": "app_release",
    "workflows.create": "workflow_create",
    "workflows.delete": "workflow_delete",
    "tooljet_database.create": "tooljet_database_create",
    "tooljet_database.update": "tooljet_database_update",
    "tooljet_database.delete": "tooljet_database_delete",
    "modules.create": "module_create",
    "modules.delete": "module_delete",
}
assert tuple(FLAG_COLUMNS) == FLAG_NAMES

ROLE_GROUP_NAMES = ("admin", "builder", "end-user")


def new_uuid() -> str:
    return str(uuid.uuid4())


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


metadata = Base.metadata


class _Timestamps:
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class User(_Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("email"),
        CheckConstraint("email = lower(email)", name="email_lower_case"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str] = mapped_column(String(255), default="", server_default=text("''"))
    last_name: Mapped[str] = mapped_column(String(255), default="", server_default=text("''"))

    @validates("email")
    def _lower_case(self, _key: str, email: str) -> str:
        return email.lower()


class Workspace(_Timestamps, Base):
    __tablename__ = "workspaces"
    __table_args__ = (
        UniqueConstraint("slug"),
        UniqueConstraint("name"),
        CheckConstraint(_in("status", ("active", "archived")), name="status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    slug: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")


class App(Base):
    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("workspace_id", "slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))


class DataSource(Base):
    __tablename__ = "data_sources"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))


def _flag() -> Mapped[bool]:
    return mapped_column(Boolean, default=False, server_default=false())


class Group(Base):
    """A role group (``kind='role'``: admin, builder, end-user) or a custom group of a workspace."""

    __tablename__ = "groups"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        CheckConstraint(_in("kind", ("role", "custom")), name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(8))
    app_create: Mapped[bool] = _flag()
    app_delete: Mapped[bool] = _flag()
    folder_create: Mapped[bool] = _flag()
    folder_update: Mapped[bool] = _flag()
    folder_delete: Mapped[bool] = _flag()
    constant_create: Mapped[bool] = _flag()
    constant_update: Mapped[bool] = _flag()
    constant_delete: Mapped[bool] = _flag()
    data_source_create: Mapped[bool] = _flag()
    data_source_delete: Mapped[bool] = _flag()
    app_promote: Mapped[bool] = _flag()
    app_release: Mapped[bool] = _flag()
    workflow_create: Mapped[bool] = _flag()
    workflow_delete: Mapped[bool] = _flag()
    tooljet_database_create: Mapped[bool] = _flag()
    tooljet_database_update: Mapped[bool] = _flag()
    tooljet_database_delete: Mapped[bool] = _flag()
    module_create: Mapped[bool] = _flag()
    module_delete: Mapped[bool] = _flag()

    app_grants: Mapped[list[AppGrant]] = relationship(
        order_by="AppGrant.position", cascade="all, delete-orphan", passive_deletes=True
    )
    data_source_grants: Mapped[list[DataSourceGrant]] = relationship(
        order_by="DataSourceGrant.position", cascade="all, delete-orphan", passive_deletes=True
    )


app_grant_apps = Table(
    "app_grant_apps",
    metadata,
    Column("grant_id", ForeignKey("app_grants.id", ondelete="CASCADE"), primary_key=True),
    Column("app_id", ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True, index=True),
)

data_source_grant_sources = Table(
    "data_source_grant_sources",
    metadata,
    Column("grant_id", ForeignKey("data_source_grants.id", ondelete="CASCADE"), primary_key=True),
    Column("data_source_id", ForeignKey("data_sources.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class AppGrant(Base):
    __tablename__ = "app_grants"
    __table_args__ = (CheckConstraint(_in("access", ("edit", "view")), name="access"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    access: Mapped[str] = mapped_column(String(8))
    all_apps: Mapped[bool] = _flag()
    hide_from_dashboard: Mapped[bool] = _flag()

    apps: Mapped[list[App]] = relationship(secondary=app_grant_apps, passive_deletes=True)


class DataSourceGrant(Base):
    __tablename__ = "data_source_grants"
    __table_args__ = (CheckConstraint(_in("access", ("configure", "use")), name="access"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    access: Mapped[str] = mapped_column(String(16))
    all_data_sources: Mapped[bool] = _flag()

    data_sources: Mapped[list[DataSource]] = relationship(secondary=data_source_grant_sources, passive_deletes=True)


group_members = Table(
    "group_members",
    metadata,
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("membership_id", ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Membership(_Timestamps, Base):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("workspace_id", "user_id"),
        UniqueConstraint("invitation_token_hash"),
        CheckConstraint(_in("role", ROLE_GROUP_NAMES), name="role"),
        CheckConstraint(_in("status", ("invited", "active", "archived")), name="status"),
    )

    # A uuid4 string: it is bound into the metadata ciphertext as associated data.
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    invitation_token_hash: Mapped[str | None] = mapped_column(String(64))
    invitation_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    user: Mapped[User] = relationship()
    groups: Mapped[list[Group]] = relationship(secondary=group_members, passive_deletes=True)
    encrypted_metadata: Mapped[MembershipMetadata | None] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


class MembershipMetadata(Base):
    """One encrypted blob per membership: base64(nonce || ciphertext || tag), see ``crypto``."""

    __tablename__ = "membership_metadata"

    membership_id: Mapped[str] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True)
    ciphertext: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class OutboxMessage(Base):
    """An invitation email written by apply in its transaction, delivered after commit."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("status", ("pending", "sent")), name="status"),
        Index(None, "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    membership_id: Mapped[str | None] = mapped_column(ForeignKey("memberships.id", ondelete="SET NULL"), index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    payload_ciphertext: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# The audit tables are shared with the ToolJet backend's audit schema (backends/common/tables.py).
AUDIT_RUNS, AUDIT_CHANGES = audit_tables(metadata)
