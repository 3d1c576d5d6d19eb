"""Execute a Plan against ToolJet's tables inside one open transaction.

Stage: apply. One handler per step of the SPEC 5 order, which ``reconciler.apply_order`` gives (creations,
promotions, permission gains and additions, metadata, losses and removals, demotions and archives, group
destruction), as for every backend. Writes are batched (executemany) per statement.

What is written is what ToolJet's own services write for the same action (reference §3-§5):
memberships get ``role = 'all-users'``, ``source = 'invite'`` and a raw uuid invitation token; new accounts get
``status 'invited'``, ``source 'invite'`` and their own token; a role is exactly one ``group_users`` row in a
default group (the old one is deleted first, so never two); archive clears the token and keeps group rows and
metadata; unarchive re-invites with a new token. Apps and data sources are never written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, text

from ... import ops
from ...apply_order import step_batches
from ...errors import ApplyError
from ...state import GroupPermissions
from .flags import column_values, mapped_columns
from .granular import GrantWriter, new_id
from .invitations import PendingInvitation
from .lockbox import METADATA_COLUMN, METADATA_TABLE, require_key, tooljet_encrypt
from .reader import ToolJetIds
from .variant import Variant

_IDS = "ANY(CAST(:ids AS uuid[]))"
_REGISTRY_OPS = (ops.CreateApp, ops.UpdateApp, ops.CreateDataSource)


@dataclass
class Executor:
    conn: Connection
    variant: Variant
    ids: ToolJetIds
    lockbox_key: bytes | None
    progress: Callable[[int], None] | None = None
    invitations: list[PendingInvitation] = field(default_factory=list)
    account_tokens: dict[str, str] = field(default_factory=dict)  # email -> users.invitation_token (new accounts)
    # Workspaces archived in the database: no invitation email for them unless the plan unarchives them.
    archived_workspaces: frozenset[str] = frozenset()
    # LINK_EXPIRY_MINUTES of the tool's environment (see invitations.link_expiry): written to
    # organization_users.invitation_token_expiry with each new workspace token, where the schema has the column.
    link_expiry_minutes: int | None = None

    def __post_init__(self) -> None:
        self.grants = GrantWriter(self.conn, self.variant, self.ids)
        self.no_invitations: frozenset[str] = self.archived_workspaces

    def run(self, plan: ops.Plan) -> None:
        """Every step of ``plan`` in the SPEC 5 order of ``apply_order``, one batch per step."""
        if any(isinstance(op, _REGISTRY_OPS) for op in plan.ops):
            raise ApplyError("the tooljet backend never creates or renames apps and data sources; nothing was changed")
        self.no_invitations = ops.archived_after(plan, self.archived_workspaces)
        handlers: dict[str, Callable[[list], None]] = {
            "create_workspace": self._no_workspace_creation,
            "update_workspace": lambda items: self._update_workspaces(items, archive=False),
            "unarchive_workspace": lambda items: self._set_workspace_status(items, "active"),
            "create_app": self._no_registry_writes,
            "update_app": self._no_registry_writes,
            "create_data_source": self._no_registry_writes,
            "rename_group": self._rename_groups,
            "create_group": self._create_groups,
            "promote": self._set_roles,
            "set_permissions": lambda items: self._set_permissions(
                [(op.workspace, _group_name(op), op.before, op.after) for op in items]
            ),
            "create_user": self._create_users,
            "update_user": self._update_users,
            "create_membership": self._create_memberships,
            "unarchive_membership": self._unarchive,
            "join_groups": lambda items: self._group_users(
                [(op.workspace, op.email, g) for op in items for g in _joined(op)], add=True
            ),
            "write_metadata": lambda items: self._write_metadata(
                [(op.workspace, op.email, dict(op.metadata.values)) for op in items]
            ),
            "leave_groups": lambda items: self._group_users(
                [(op.workspace, op.email, g) for op in items for g in op.groups_removed], add=False
            ),
            "transfer_apps": self._transfer_apps,
            "demote": self._set_roles,
            "archive_membership": self._archive,
            "archive_workspace": self._archive_workspaces,
            "destroy_group": self._destroy_groups,
        }
        for step, items in step_batches(plan):
            handlers[step](items)
        self._fill_account_tokens()

    def _transfer_apps(self, items: list[ops.TransferApps]) -> None:
        """What ToolJet's role change does before demoting an owner to end-user: every app the member owns in the
        workspace passes to the admin (``manager.update(App, {userId, organizationId}, {userId})``,
        server/src/modules/roles/util.service.ts ``editDefaultGroupUserRole``; TypeORM's update also sets the
        ``@UpdateDateColumn`` ``updated_at``)."""
        rows = [
            {
                "org": self.ids.workspaces[op.workspace],
                "owner": self.ids.users[op.email],
                "to": self.ids.users[op.to],
            }
            for op in items
        ]
        self._many(
            "UPDATE apps SET user_id = CAST(:to AS uuid), updated_at = now() "
            "WHERE user_id = CAST(:owner AS uuid) AND organization_id = CAST(:org AS uuid)",
            rows,
        )
        self._tick(len(items))

    def _no_registry_writes(self, items: list[ops.Op]) -> None:
        assert not items, "run() refuses apps and data sources before any step"

    # --- workspaces and groups -----------------------------------------------------------------

    def _no_workspace_creation(self, items: list[ops.CreateWorkspace]) -> None:
        """The workflow refuses such plans (``SUPPORTS_WORKSPACE_CREATION`` is false): never reached."""
        if items:
            raise ApplyError("the tooljet backend never creates workspaces; nothing was changed")

    def _update_workspaces(self, items: list[ops.UpdateWorkspace], *, archive: bool) -> None:
        """Renames and unarchiving come first; archiving last, after every membership change."""
        changes = [
            (self.ids.workspaces[op.workspace], op.workspace, c)
            for op in items
            for c in op.changes
            if (c.field == "status" and c.new == "archived") == archive
        ]
        for field_name in ("name", "status"):
            rows = [{"id": org_id, "value": c.new} for org_id, _slug, c in changes if c.field == field_name]
            self._many(f"UPDATE organizations SET {field_name} = :value, updated_at = now() WHERE id = :id", rows)
        self.ids.workspace_names.update({slug: c.new for _id, slug, c in changes if c.field == "name"})
        self._tick(len(items))

    def _archive_workspaces(self, items: list[ops.UpdateWorkspace | ops.ArchiveWorkspace]) -> None:
        """An old saved plan's ``status: archived`` changes, then the ``ArchiveWorkspace`` ops."""
        self._update_workspaces([op for op in items if isinstance(op, ops.UpdateWorkspace)], archive=True)
        self._set_workspace_status([op for op in items if isinstance(op, ops.ArchiveWorkspace)], "archived")

    def _set_workspace_status(
        self, items: list[ops.ArchiveWorkspace] | list[ops.UnarchiveWorkspace], status: str
    ) -> None:
        rows = [{"id": self.ids.workspaces[op.workspace], "status": status} for op in items]
        self._many("UPDATE organizations SET status = :status, updated_at = now() WHERE id = :id", rows)
        self._tick(len(items))

    def _rename_groups(self, items: list[ops.RenameGroup]) -> None:
        rows = []
        for op in items:
            group_id = self.ids.groups.pop((op.workspace, op.old_name))
            self.ids.groups[op.workspace, op.new_name] = group_id
            rows.append({"id": group_id, "name": op.new_name})
        self._many("UPDATE permission_groups SET name = :name, updated_at = now() WHERE id = :id", rows)
        self._tick(len(items))

    def _create_groups(self, items: list[ops.CreateGroup]) -> None:
        columns = mapped_columns(self.variant)
        rows = []
        for op in items:
            group_id = new_id()
            self.ids.groups[op.workspace, op.name] = group_id
            rows.append({"id": group_id, "org": self.ids.workspaces[op.workspace], "name": op.name})
            rows[-1].update(column_values(self.variant, op.permissions.flags))
            self.grants.sync(op.workspace, group_id, op.permissions, default_builder=False)
        names = ", ".join(["id", "organization_id", "name", "type", *columns])
        values = ", ".join([":id", ":org", ":name", "'custom'", *(f":{c}" for c in columns)])
        self._many(f"INSERT INTO permission_groups ({names}) VALUES ({values})", rows)
        self.grants.flush()
        self._tick(len(items))

    def _set_permissions(self, items: list[tuple[str, str, GroupPermissions, GroupPermissions]]) -> None:
        """Only flag columns whose value changes are written: ToolJet's other flags, and the optional ones the
        configuration leaves alone, stay as they are."""
        by_columns: dict[tuple[str, ...], list[dict]] = {}
        for slug, name, before, after in items:
            group_id = self.ids.groups[slug, name]
            old, new = column_values(self.variant, before.flags), column_values(self.variant, after.flags)
            changed = tuple(c for c in mapped_columns(self.variant) if old[c] != new[c])
            by_columns.setdefault(changed, []).append({"id": group_id, **{c: new[c] for c in changed}})
            if (before.app_grants, before.data_source_grants) != (after.app_grants, after.data_source_grants):
                self.grants.sync(slug, group_id, after, default_builder=name == "builder")
        for columns, rows in by_columns.items():
            sets = "".join(f"{c} = :{c}, " for c in columns)
            self._many(f"UPDATE permission_groups SET {sets}updated_at = now() WHERE id = :id", rows)
        self.grants.flush()
        self._tick(len(items))

    def _destroy_groups(self, items: list[ops.DestroyGroup]) -> None:
        group_ids = [self.ids.groups.pop((op.workspace, op.name)) for op in items]
        if group_ids:
            self.conn.execute(text(f"DELETE FROM group_users WHERE group_id = {_IDS}"), {"ids": group_ids})
            self.conn.execute(text(f"DELETE FROM granular_permissions WHERE group_id = {_IDS}"), {"ids": group_ids})
            self.conn.execute(text(f"DELETE FROM permission_groups WHERE id = {_IDS}"), {"ids": group_ids})
        self._tick(len(items))

    # --- people --------------------------------------------------------------------------------

    def _create_users(self, items: list[ops.CreateUser]) -> None:
        if not items:
            return
        first_user = not self.conn.scalar(text("SELECT EXISTS (SELECT 1 FROM users)"))
        extra = {
            "source": "'invite'",
            "user_type": ":user_type",
            "organization_id": ":org",
        }
        extra = {c: v for c, v in extra.items() if self.variant.has("users", c)}
        rows = []
        for index, op in enumerate(items):
            user_id, token = new_id(), new_id()
            self.ids.users[op.email], self.account_tokens[op.email] = user_id, token
            user_type = "instance" if first_user and index == 0 else "workspace"
            org = self.ids.workspaces[op.workspace]
            rows.append(
                {"id": user_id, "email": op.email, "first": op.first_name, "last": _null_if_empty(op.last_name)}
                | {"token": token}
                | {"user_type": user_type, "org": org}
            )
        names = ", ".join(["id", "email", "first_name", "last_name", "status", "invitation_token", *extra])
        values = ", ".join([":id", ":email", ":first", ":last", "'invited'", ":token", *extra.values()])
        self._many(f"INSERT INTO users ({names}) VALUES ({values})", rows)
        self._tick(len(items))

    def _update_users(self, items: list[ops.UpdateUser]) -> None:
        for field_name in ("first_name", "last_name"):
            rows = [
                {"id": self.ids.users[op.email], "value": _null_if_empty(c.new) if field_name == "last_name" else c.new}
                for op in items
                for c in op.changes
                if c.field == field_name
            ]
            self._many(f"UPDATE users SET {field_name} = :value, updated_at = now() WHERE id = :id", rows)
        self._tick(len(items))

    def _create_memberships(self, items: list[ops.CreateMembership]) -> None:
        source = self.variant.has("organization_users", "source")
        rows, roles = [], []
        for op in items:
            membership_id, user_id = new_id(), self.ids.users[op.email]
            token = self._invite(op.workspace, op.email, user_id) if op.status == "invited" else None
            rows.append(
                {
                    "id": membership_id,
                    "org": self.ids.workspaces[op.workspace],
                    "user": user_id,
                    "status": op.status,
                    "token": token,
                }
            )
            self.ids.memberships[op.workspace, op.email] = membership_id
            roles.append({"id": new_id(), "user": user_id, "group": self.ids.groups[op.workspace, op.role]})
        names = "id, organization_id, user_id, role, status, invitation_token" + (", source" if source else "")
        values = ":id, :org, :user, 'all-users', :status, :token" + (", 'invite'" if source else "")
        if self._writes_expiry():
            names, values = names + ", invitation_token_expiry", values + ", :expiry"
            rows = [row | {"expiry": self._expiry(row["token"])} for row in rows]
        self._many(f"INSERT INTO organization_users ({names}) VALUES ({values})", rows)
        self._many("INSERT INTO group_users (id, user_id, group_id) VALUES (:id, :user, :group)", roles)
        self._tick(len(items))

    def _invite(self, slug: str, email: str, user_id: str) -> str:
        """The membership's token; no email for a workspace that is or becomes archived (ToolJet's UI still
        shows the invitation link once it is active again)."""
        token = new_id()  # crypto.randomUUID(), stored raw, as ToolJet does
        if slug in self.no_invitations:
            return token
        self.invitations.append(
            PendingInvitation(slug, self.ids.workspaces[slug], self.ids.workspace_names[slug], email, user_id, token)
        )
        return token

    def _unarchive(self, items: list[ops.UnarchiveMembership]) -> None:
        source = ", source = 'invite'" if self.variant.has("organization_users", "source") else ""
        rows = [
            {
                "id": self.ids.memberships[op.workspace, op.email],
                "token": self._invite(op.workspace, op.email, self.ids.users[op.email]),
            }
            for op in items
        ]
        expiry = ", invitation_token_expiry = :expiry" if self._writes_expiry() else ""
        rows = [row | {"expiry": self._expiry(row["token"])} for row in rows]
        self._many(
            f"UPDATE organization_users SET status = 'invited', invitation_token = :token{source}{expiry}, "
            "updated_at = now() WHERE id = :id",
            rows,
        )
        self._tick(len(items))

    def _archive(self, items: list[ops.ArchiveMembership]) -> None:
        rows = [{"id": self.ids.memberships[op.workspace, op.email]} for op in items]
        self._many(
            "UPDATE organization_users SET status = 'archived', invitation_token = NULL, updated_at = now() "
            "WHERE id = :id",
            rows,
        )
        self._tick(len(items))

    def _set_roles(self, items: list[ops.UpdateMembership]) -> None:
        """Delete the member's default-group rows in the workspace, then insert the one new row."""
        rows = [
            {
                "id": new_id(),
                "org": self.ids.workspaces[op.workspace],
                "user": self.ids.users[op.email],
                "group": self.ids.groups[op.workspace, op.role.new if op.role else op.repair_role],
            }
            for op in items
            if op.role is not None or op.repair_role is not None
        ]
        self._many(
            "DELETE FROM group_users WHERE user_id = :user AND group_id IN "
            "(SELECT id FROM permission_groups WHERE organization_id = :org AND type::text = 'default')",
            rows,
        )
        self._many("INSERT INTO group_users (id, user_id, group_id) VALUES (:id, :user, :group)", rows)
        self._tick(len(items))

    def _group_users(self, items: list[tuple[str, str, str]], *, add: bool) -> None:
        rows = [
            {"id": new_id(), "user": self.ids.users[email], "group": self.ids.groups[slug, group]}
            for slug, email, group in items
        ]
        if add:
            self._many("INSERT INTO group_users (id, user_id, group_id) VALUES (:id, :user, :group)", rows)
        else:
            self._many("DELETE FROM group_users WHERE user_id = :user AND group_id = :group", rows)
            self._tick(len(items))

    def _write_metadata(self, items: list[tuple[str, str, dict[str, str]]]) -> None:
        """Upsert user_details per (user, workspace), as UserDetailsService.updateUserMetadata does."""
        if not items:
            return
        key = require_key(self.lockbox_key)
        rows = [
            {
                "id": new_id(),
                "user": self.ids.users[email],
                "org": self.ids.workspaces[slug],
                "blob": tooljet_encrypt(key, _stringify(values), table=METADATA_TABLE, column=METADATA_COLUMN),
            }
            for slug, email, values in items
        ]
        self._many(
            "INSERT INTO user_details (id, user_id, organization_id, user_metadata) VALUES (:id, :user, :org, :blob) "
            "ON CONFLICT (organization_id, user_id) DO UPDATE SET user_metadata = EXCLUDED.user_metadata, "
            "updated_at = now()",
            rows,
        )
        self._tick(len(items))

    def _fill_account_tokens(self) -> None:
        """Existing accounts that were never set up keep their users.invitation_token: their link needs it."""
        wanted = sorted({i.user_id for i in self.invitations if i.email not in self.account_tokens})
        if wanted:
            found = self.conn.execute(
                text(f"SELECT lower(email), invitation_token FROM users WHERE id = {_IDS} AND invitation_token <> ''"),
                {"ids": wanted},
            )
            self.account_tokens.update({email: token for email, token in found})
        self.invitations = [i.with_account_token(self.account_tokens.get(i.email)) for i in self.invitations]

    # --- helpers -------------------------------------------------------------------------------

    def _writes_expiry(self) -> bool:
        return self.variant.has("organization_users", "invitation_token_expiry")

    def _expiry(self, token: str | None) -> datetime | None:
        """None (no expiry, what ToolJet's invite and unarchive leave) unless LINK_EXPIRY_MINUTES is set, then
        the moment ToolJet's resendEmail gives a fresh workspace token (onboarding/service.ts); only for a token."""
        if not self.link_expiry_minutes or token is None:
            return None
        return datetime.now(UTC) + timedelta(minutes=self.link_expiry_minutes)

    def _many(self, sql: str, rows: Iterable[dict]) -> None:
        rows = list(rows)
        if rows:
            self.conn.execute(text(sql), rows)

    def _tick(self, count: int) -> None:
        if self.progress is not None and count:
            self.progress(count)


def _group_name(op: ops.UpdateBuilderRole | ops.UpdateGroup) -> str:
    return "builder" if isinstance(op, ops.UpdateBuilderRole) else op.name


def _joined(op: ops.CreateMembership | ops.UpdateMembership) -> tuple[str, ...]:
    return op.groups if isinstance(op, ops.CreateMembership) else op.groups_added


def _null_if_empty(value: str) -> str | None:
    """ToolJet stores an omitted last name as NULL (InviteNewUserDto's lastName is optional); the reader reads
    NULL back as ''."""
    return value or None


def _stringify(values: dict[str, str]) -> str:
    """``JSON.stringify`` of the object: no spaces, non-ASCII kept as is, keys in their given order."""
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False)
