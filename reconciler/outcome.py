"""The state a plan leads to: a snapshot with the plan's ops applied, in memory.

Stage: core (pure). Policies are checked on it (issue 18): at ``plan`` it is what the apply will leave, members
and metadata the configuration leaves alone included; under the apply's lock it is computed again from the fresh
snapshot, so a saved plan is checked against the policies it recorded without its configuration. Only what
policies look at is kept exact: workspaces, registries, the builder role, groups, memberships (role, status,
groups, metadata keys). A metadata value the plan does not carry (a plan shown without its key) is empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from . import ops
from .ops import Plan
from .state import DEFAULT_BUILDER_PERMISSIONS, Membership, Metadata, Snapshot, Workspace

# The order ops take effect in (within a workspace): what exists first, memberships next, destruction last.
_PHASE: dict[type[ops.Op], int] = {
    ops.CreateWorkspace: 0,
    ops.UpdateWorkspace: 0,
    ops.ArchiveWorkspace: 0,
    ops.UnarchiveWorkspace: 0,
    ops.CreateApp: 1,
    ops.UpdateApp: 1,
    ops.CreateDataSource: 1,
    ops.UpdateBuilderRole: 1,
    ops.RenameGroup: 2,
    ops.CreateGroup: 3,
    ops.UpdateGroup: 3,
    ops.CreateUser: 4,
    ops.UpdateUser: 4,
    ops.CreateMembership: 5,
    ops.UpdateMembership: 5,
    ops.ArchiveMembership: 5,
    ops.UnarchiveMembership: 5,
    ops.TransferApps: 5,
    ops.DestroyGroup: 6,
}


def outcome(snapshot: Snapshot, plan: Plan) -> dict[str, Workspace]:
    """The plan's workspaces as they are once ``plan`` is applied to ``snapshot``."""
    spaces = {slug: ws for slug, ws in snapshot.workspaces.items() if slug in plan.workspaces}
    for op in sorted(plan.ops, key=lambda op: _PHASE[type(op)]):
        if isinstance(op, ops.CreateWorkspace):
            spaces[op.workspace] = Workspace(op.workspace, op.name, op.status, builder=DEFAULT_BUILDER_PERMISSIONS)
        elif op.workspace in spaces and type(op) in _APPLY:
            spaces[op.workspace] = _APPLY[type(op)](spaces[op.workspace], op)
    return spaces


def _status(status: str) -> Callable[[Workspace, Any], Workspace]:
    return lambda ws, op: replace(ws, status=status)


def _rename(ws: Workspace, op: ops.RenameGroup) -> Workspace:
    groups = {op.new_name if name == op.old_name else name: p for name, p in ws.groups.items()}
    members = {
        e: replace(m, groups=(m.groups - {op.old_name}) | {op.new_name}) if op.old_name in m.groups else m
        for e, m in ws.memberships.items()
    }
    return replace(ws, groups=groups, memberships=members)


def _destroy(ws: Workspace, op: ops.DestroyGroup) -> Workspace:
    groups = {name: p for name, p in ws.groups.items() if name != op.name}
    members = {
        e: replace(m, groups=m.groups - {op.name}) if op.name in m.groups else m for e, m in ws.memberships.items()
    }
    return replace(ws, groups=groups, memberships=members)


def _member(ws: Workspace, email: str, member: Membership) -> Workspace:
    return replace(ws, memberships={**ws.memberships, email: member})


def _create_membership(ws: Workspace, op: ops.CreateMembership) -> Workspace:
    metadata = op.metadata if op.metadata.known else Metadata.of(dict.fromkeys(op.metadata_keys, ""))
    return _member(ws, op.email, Membership(op.email, op.role, op.status, frozenset(op.groups), metadata))


def _update_membership(ws: Workspace, op: ops.UpdateMembership) -> Workspace:
    member = ws.memberships.get(op.email)
    if member is None:
        return ws
    metadata = member.metadata
    if op.metadata_unreadable and op.metadata.known:  # replaces a value the backend could not read
        metadata = op.metadata
    elif op.metadata_changes:
        if op.metadata.known:
            metadata = op.metadata
        elif metadata.known:  # values not carried (a plan shown without its key): the keys still are
            values = dict(metadata.values)
            for change in op.metadata_changes:
                if change.kind == "remove":
                    values.pop(change.key, None)
                else:
                    values.setdefault(change.key, "")
            metadata = Metadata.of(values)
    groups = (member.groups | set(op.groups_added)) - set(op.groups_removed)
    role = op.role.new if op.role is not None else member.role
    return _member(ws, op.email, replace(member, role=role, groups=frozenset(groups), metadata=metadata))


def _set_status(status: str) -> Callable[[Workspace, Any], Workspace]:
    def apply(ws: Workspace, op: Any) -> Workspace:
        member = ws.memberships.get(op.email)
        return ws if member is None else _member(ws, op.email, replace(member, status=status))

    return apply


def _transfer_apps(ws: Workspace, op: ops.TransferApps) -> Workspace:
    owners = {email: apps for email, apps in ws.app_owners.items() if email != op.email}
    owners[op.to] = tuple(sorted((*owners.get(op.to, ()), *ws.app_owners.get(op.email, ()))))
    return replace(ws, app_owners=dict(sorted(owners.items())))


_APPLY: dict[type[ops.Op], Callable[[Workspace, Any], Workspace]] = {
    ops.UpdateWorkspace: lambda ws, op: replace(
        ws, name=next((c.new for c in op.changes if c.field == "name"), ws.name)
    ),
    ops.ArchiveWorkspace: _status("archived"),
    ops.UnarchiveWorkspace: _status("active"),
    ops.CreateApp: lambda ws, op: replace(ws, apps={**ws.apps, op.slug: op.name}),
    ops.UpdateApp: lambda ws, op: ws,
    ops.CreateDataSource: lambda ws, op: replace(ws, data_sources=ws.data_sources | {op.name}),
    ops.UpdateBuilderRole: lambda ws, op: replace(ws, builder=op.after),
    ops.RenameGroup: _rename,
    ops.CreateGroup: lambda ws, op: replace(ws, groups={**ws.groups, op.name: op.permissions}),
    ops.UpdateGroup: lambda ws, op: replace(ws, groups={**ws.groups, op.name: op.after}),
    ops.DestroyGroup: _destroy,
    ops.CreateMembership: _create_membership,
    ops.UpdateMembership: _update_membership,
    ops.ArchiveMembership: _set_status("archived"),
    ops.UnarchiveMembership: _set_status("invited"),
    ops.TransferApps: _transfer_apps,
}
