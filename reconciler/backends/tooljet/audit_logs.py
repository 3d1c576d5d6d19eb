"""Rows for ToolJet's own ``audit_logs`` table (issue 16 L4), so that ToolJet's audit screen shows what the tool did.

Stage: apply, in the apply's transaction (written after the plan's statements, before commit), only where the
schema has the table (``Variant.audit_logs``). The tool's own audit schema (``audit.py``) is unchanged.

ToolJet 3.x writes a row per audited request: ``resource_type`` is the module id (``MODULES`` in
server/src/modules/app/constants/modules.ts: ``OrganizationUser``, ``GroupPermissions``) and ``action_type`` the
feature's ``auditLogsKey`` or, without one, the feature key (server/src/modules/app/interceptors/
response.interceptor.ts; the keys are in organization-users/constants/feature.ts and group-permissions/constants/
features.ts). ``resource_id``/``resource_name``/``resource_data`` follow what each service puts in
``RequestContext.setLocals(AUDIT_LOGS_REQUEST_CONTEXT_KEY, ...)`` (organization-users/service.ts and
util.service.ts for invite, archive, unarchive). Differences, documented in docs/tooljet.md: ``user_id`` (the
acting ToolJet user) is NULL, since the tool acts as no ToolJet user; ``organization_id`` is always the workspace
changed; ``ip_address`` is NULL; ``metadata`` names the tool, the actor and the plan. Metadata values and tokens
are never written, only the keys that changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from ... import ops
from ...state import Snapshot
from .reader import ToolJetIds

ORGANIZATION_USER = "OrganizationUser"
GROUP_PERMISSIONS = "GroupPermissions"

INSERT = (
    "INSERT INTO audit_logs (organization_id, action_type, resource_id, resource_type, resource_name, "
    "resource_data, metadata) VALUES (CAST(:org AS uuid), :action, CAST(:resource_id AS uuid), :resource_type, "
    ":resource_name, CAST(:data AS json), CAST(:metadata AS json))"
)


@dataclass(frozen=True)
class AuditRow:
    workspace: str
    action: str
    resource_type: str
    resource_id: str | None
    resource_name: str
    data: dict[str, Any] | None = None


def audit_rows(
    plan: ops.Plan, snapshot: Snapshot, ids: ToolJetIds, group_ids: Mapping[tuple[str, str], str]
) -> list[AuditRow]:
    """One row per change of ``plan``; ``ids`` after the apply (new users and groups), ``group_ids`` from before
    it too (destroyed groups)."""
    people = {email: (user.first_name, user.last_name) for email, user in snapshot.users.items()}
    people |= {op.email: (op.first_name, op.last_name) for op in plan.ops if isinstance(op, ops.CreateUser)}
    rows: list[AuditRow] = []
    for op in plan.ops:
        handler = _HANDLERS.get(type(op))
        if handler is not None:
            rows += handler(op, people, ids, group_ids)
    return rows


def write_audit_rows(conn: Connection, rows: list[AuditRow], ids: ToolJetIds, metadata: dict[str, str]) -> None:
    if not rows:
        return
    blob = json.dumps(metadata)
    conn.execute(
        text(INSERT),
        [
            {
                "org": ids.workspaces.get(row.workspace),
                "action": row.action,
                "resource_id": row.resource_id,
                "resource_type": row.resource_type,
                "resource_name": row.resource_name,
                "data": None if row.data is None else json.dumps(row.data),
                "metadata": blob,
            }
            for row in rows
        ],
    )


# --- one function per operation --------------------------------------------------------------------------------

People = Mapping[str, tuple[str, str]]  # email -> (first name, last name)
Handler = Callable[[Any, People, ToolJetIds, Mapping[tuple[str, str], str]], list[AuditRow]]


def _person(email: str, people: People, ids: ToolJetIds) -> dict[str, Any]:
    first, last = people.get(email, ("", ""))
    return {"id": ids.users.get(email), "email": email, "first_name": first, "last_name": last or None}


def _workspace(slug: str, ids: ToolJetIds) -> dict[str, Any]:
    return {"workspace_name": ids.workspace_names.get(slug), "workspace_id": ids.workspaces.get(slug)}


def _invite(op: ops.CreateMembership, people: People, ids: ToolJetIds, _g: Mapping) -> list[AuditRow]:
    # organization-users/util.service.ts inviteNewUser: resourceData.invited_user (role and group names)
    person = _person(op.email, people, ids) | {"role": op.role, "group": list(op.groups)}
    user_id = ids.users.get(op.email)
    rows = [AuditRow(op.workspace, "USER_INVITE", ORGANIZATION_USER, user_id, op.email, {"invited_user": person})]
    if op.status == "archived":  # created archived: in ToolJet, an invitation and then an archive
        rows += _archive(
            ops.ArchiveMembership(workspace=op.workspace, email=op.email, reason="declared"), people, ids, _g
        )
    return rows


def _archive(op: ops.ArchiveMembership, people: People, ids: ToolJetIds, _g: Mapping) -> list[AuditRow]:
    # organization-users/service.ts archive: archived_user and archived_user_workspace
    data = {"archived_user": _person(op.email, people, ids), "archived_user_workspace": _workspace(op.workspace, ids)}
    return [AuditRow(op.workspace, "USER_ARCHIVE", ORGANIZATION_USER, ids.users.get(op.email), op.email, data)]


def _unarchive(op: ops.UnarchiveMembership, people: People, ids: ToolJetIds, _g: Mapping) -> list[AuditRow]:
    # organization-users/service.ts unarchive: unarchived_user and unarchived_user_workspace
    data = {
        "unarchived_user": _person(op.email, people, ids),
        "unarchived_user_workspace": _workspace(op.workspace, ids),
    }
    return [AuditRow(op.workspace, "USER_UNARCHIVE", ORGANIZATION_USER, ids.users.get(op.email), op.email, data)]


def _update_user(op: ops.UpdateUser, people: People, ids: ToolJetIds, _g: Mapping) -> list[AuditRow]:
    # The Edit-user drawer (feature user_update, no auditLogsKey): names are instance-wide, so one row per
    # workspace of the plan would repeat it; it is written once, for the op's workspace.
    data = {"updated_fields": [c.field for c in op.changes]}
    return [AuditRow(op.workspace, "user_update", ORGANIZATION_USER, ids.users.get(op.email), op.email, data)]


def _membership(op: ops.UpdateMembership, people: People, ids: ToolJetIds, _g: Mapping) -> list[AuditRow]:
    rows = []
    user_id = ids.users.get(op.email)
    if op.role is not None:  # group-permissions feature change_user_role (no auditLogsKey)
        data = {"user": _person(op.email, people, ids), "role": {"old": op.role.old, "new": op.role.new}}
        if op.repair_role is not None:
            data["default_groups"] = {"old": list(op.default_groups_found), "new": [op.repair_role]}
        rows.append(AuditRow(op.workspace, "change_user_role", GROUP_PERMISSIONS, user_id, op.email, data))
    elif op.repair_role is not None:  # several default groups or none made exactly one: a role set, as ToolJet's
        role = op.repair_role
        data = {
            "user": _person(op.email, people, ids),
            "role": {"old": role, "new": role},
            "default_groups": {"old": list(op.default_groups_found), "new": [role]},
        }
        rows.append(AuditRow(op.workspace, "change_user_role", GROUP_PERMISSIONS, user_id, op.email, data))
    for name, action in [(g, "USER_ADD_TO_GROUP") for g in op.groups_added] + [
        (g, "USER_REMOVE_FROM_GROUP") for g in op.groups_removed
    ]:
        data = {"user": {"id": user_id, "email": op.email}}
        rows.append(AuditRow(op.workspace, action, GROUP_PERMISSIONS, ids.groups.get((op.workspace, name)), name, data))
    if op.metadata_changes or op.metadata_unreadable:  # user_update; the keys only, never a value
        data: dict[str, Any] = {"updated_user_metadata": {c.key: c.kind for c in op.metadata_changes}}
        if op.metadata_unreadable:
            data["replaced_unreadable_metadata"] = True
        rows.append(AuditRow(op.workspace, "user_update", ORGANIZATION_USER, user_id, op.email, data))
    return rows


def _transfer(op: ops.TransferApps, people: People, ids: ToolJetIds, _g: Mapping) -> list[AuditRow]:
    # roles/util.service.ts editDefaultGroupUserRole moves the apps inside the role-change request, whose audit
    # entry is change_user_role; the transfer is its own row here, with the same key, so the screen shows both.
    data = {
        "user": _person(op.email, people, ids),
        "apps_transferred_to": _person(op.to, people, ids),
        "apps": list(op.apps),
    }
    return [AuditRow(op.workspace, "change_user_role", GROUP_PERMISSIONS, ids.users.get(op.email), op.email, data)]


def _grant_rows(slug: str, name: str, group_id: str | None, kinds: list[str], verb: str) -> list[AuditRow]:
    action = {"app": f"GRANULAR_PERMISSION_APP_{verb}", "data_source": f"GRANULAR_PERMISSION_DATA_SOURCE_{verb}"}
    return [AuditRow(slug, action[kind], GROUP_PERMISSIONS, group_id, name) for kind in kinds]


def _create_group(op: ops.CreateGroup, people: People, ids: ToolJetIds, _g: Mapping) -> list[AuditRow]:
    group_id = ids.groups.get((op.workspace, op.name))
    kinds = [
        k
        for k, grants in (("app", op.permissions.app_grants), ("data_source", op.permissions.data_source_grants))
        if grants
    ]
    return [
        # group-permissions/service.ts create: resourceData.group_details with the name
        AuditRow(
            op.workspace,
            "GROUP_PERMISSION_CREATE",
            GROUP_PERMISSIONS,
            group_id,
            op.name,
            {"group_details": {"name": op.name}},
        ),
        *_grant_rows(op.workspace, op.name, group_id, kinds, "CREATE"),
    ]


def _update_group(
    op: ops.UpdateGroup | ops.UpdateBuilderRole, people: People, ids: ToolJetIds, _g: Mapping
) -> list[AuditRow]:
    name = op.name if isinstance(op, ops.UpdateGroup) else "builder"
    group_id = ids.groups.get((op.workspace, name))
    rows = []
    if op.before.flags != op.after.flags:
        rows.append(AuditRow(op.workspace, "GROUP_PERMISSION_UPDATE", GROUP_PERMISSIONS, group_id, name))
    kinds = [
        kind
        for kind, before, after in (
            ("app", op.before.app_grants, op.after.app_grants),
            ("data_source", op.before.data_source_grants, op.after.data_source_grants),
        )
        if before != after
    ]
    return rows + _grant_rows(op.workspace, name, group_id, kinds, "UPDATE")


def _rename_group(op: ops.RenameGroup, people: People, ids: ToolJetIds, _g: Mapping) -> list[AuditRow]:
    group_id = ids.groups.get((op.workspace, op.new_name))
    data = {"name": {"old": op.old_name, "new": op.new_name}}
    return [AuditRow(op.workspace, "GROUP_PERMISSION_UPDATE", GROUP_PERMISSIONS, group_id, op.new_name, data)]


def _destroy_group(op: ops.DestroyGroup, people: People, ids: ToolJetIds, before: Mapping) -> list[AuditRow]:
    group_id = before.get((op.workspace, op.name))
    return [AuditRow(op.workspace, "GROUP_PERMISSION_DELETE", GROUP_PERMISSIONS, group_id, op.name)]


_HANDLERS: dict[type, Handler] = {
    ops.CreateMembership: _invite,
    ops.ArchiveMembership: _archive,
    ops.UnarchiveMembership: _unarchive,
    ops.UpdateUser: _update_user,
    ops.UpdateMembership: _membership,
    ops.CreateGroup: _create_group,
    ops.UpdateGroup: _update_group,
    ops.UpdateBuilderRole: _update_group,
    ops.RenameGroup: _rename_group,
    ops.DestroyGroup: _destroy_group,
    ops.TransferApps: _transfer,
}
