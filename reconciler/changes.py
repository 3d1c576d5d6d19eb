"""Each change of a plan described as data, for people and tools: the JSON plan's ``changes`` and the audit rows.

Stage: core (pure). ``change_to_json_dict`` gives an op's address, action, kind, the resource before and after (for
partial updates only the parts that change: groups and metadata keys that leave appear in ``before``, those that
arrive in ``after``), the reasons and the metadata keys it touches; metadata values are always ``MASK``. The JSON
plan (``render.jsonplan``) and the audit trail (``backends.common``) both use it, so it sits below both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from . import ops
from .ops import FieldChange, Op
from .state import FLAG_NAMES, GroupPermissions

__all__ = ["MASK", "change_to_json_dict", "encode"]

MASK = "(sensitive)"


def encode(value: Any) -> Any:
    """Dataclasses as objects, frozensets as sorted lists, tuples as lists; scalars as they are."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, frozenset):
        return sorted(encode(item) for item in value)
    if isinstance(value, tuple | list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    return value


Described = tuple[dict[str, Any] | None, dict[str, Any] | None]


def _permissions(permissions: GroupPermissions) -> dict[str, Any]:
    """Flags and grants in the YAML's shape: ``permissions.apps.create``, ``granular.apps[].access``."""
    flags: dict[str, dict[str, bool]] = {}
    for flag in FLAG_NAMES:
        section, action = flag.split(".")
        flags.setdefault(section, {})[action] = flag in permissions.flags
    apps = [
        {
            "access": g.access,
            "apps": "all" if g.apps is None else list(g.apps),
            "hide_from_dashboard": g.hide_from_dashboard,
        }
        for g in permissions.app_grants
    ]
    sources = [
        {"access": g.access, "data_sources": "all" if g.data_sources is None else list(g.data_sources)}
        for g in permissions.data_source_grants
    ]
    return {"permissions": flags, "granular": {"apps": apps, "data_sources": sources}}


def _changed_fields(identity: dict[str, Any], changes: tuple[FieldChange, ...]) -> Described:
    before = identity | {c.field: encode(c.old) for c in changes}
    return before, identity | {c.field: encode(c.new) for c in changes}


def _masked(keys: Any) -> dict[str, str]:
    return dict.fromkeys(keys, MASK)


def _update_membership(op: ops.UpdateMembership) -> Described:
    before: dict[str, Any] = {"email": op.email}
    after: dict[str, Any] = {"email": op.email}
    if op.role is not None:
        before["role"], after["role"] = op.role.old, op.role.new
    if op.repair_role is not None:  # ToolJet: several default groups or none, repaired to one
        before["default_groups"] = list(op.default_groups_found)
        after["default_groups"] = [op.repair_role]
    if op.groups_removed:
        before["groups"] = list(op.groups_removed)
    if op.groups_added:
        after["groups"] = list(op.groups_added)
    leaving = [c.key for c in op.metadata_changes if c.kind != "add"]
    arriving = [c.key for c in op.metadata_changes if c.kind != "remove"]
    if op.metadata_unreadable:
        before["metadata"] = "(unreadable)"
    elif leaving:
        before["metadata"] = _masked(leaving)
    if arriving:
        after["metadata"] = _masked(arriving)
    return before, after


_DESCRIBERS: dict[type[Op], Callable[[Any], Described]] = {
    ops.CreateWorkspace: lambda op: (None, {"slug": op.workspace, "name": op.name, "status": op.status}),
    ops.UpdateWorkspace: lambda op: _changed_fields({"slug": op.workspace}, op.changes),
    ops.ArchiveWorkspace: lambda op: (
        {"slug": op.workspace, "status": "active"},
        {"slug": op.workspace, "status": "archived"},
    ),
    ops.UnarchiveWorkspace: lambda op: (
        {"slug": op.workspace, "status": "archived"},
        {"slug": op.workspace, "status": "active"},
    ),
    ops.CreateApp: lambda op: (None, {"slug": op.slug, "name": op.name}),
    ops.UpdateApp: lambda op: _changed_fields({"slug": op.slug}, op.changes),
    ops.CreateDataSource: lambda op: (None, {"name": op.name}),
    ops.UpdateBuilderRole: lambda op: (
        {"name": "builder", **_permissions(op.before)},
        {"name": "builder", **_permissions(op.after)},
    ),
    ops.CreateGroup: lambda op: (None, {"name": op.name, **_permissions(op.permissions)}),
    ops.RenameGroup: lambda op: ({"name": op.old_name}, {"name": op.new_name}),
    ops.UpdateGroup: lambda op: (
        {"name": op.name, **_permissions(op.before)},
        {"name": op.name, **_permissions(op.after)},
    ),
    ops.DestroyGroup: lambda op: ({"name": op.name, "members": op.member_count}, None),
    ops.CreateUser: lambda op: (
        None,
        {"email": op.email, "first_name": op.first_name, "last_name": op.last_name},
    ),
    ops.UpdateUser: lambda op: _changed_fields({"email": op.email}, op.changes),
    ops.CreateMembership: lambda op: (
        None,
        {
            "email": op.email,
            "role": op.role,
            "status": op.status,
            "groups": list(op.groups),
            "metadata": _masked(op.metadata_keys),
        },
    ),
    ops.UpdateMembership: _update_membership,
    ops.ArchiveMembership: lambda op: ({"email": op.email}, {"email": op.email, "status": "archived"}),
    ops.UnarchiveMembership: lambda op: (
        {"email": op.email, "status": "archived"},
        {"email": op.email, "status": "invited"},
    ),
    ops.TransferApps: lambda op: (
        {"email": op.email, "apps_owner": op.email, "apps": list(op.apps)},
        {"email": op.email, "apps_owner": op.to, "apps": list(op.apps)},
    ),
}


def _reasons(op: Op) -> list[str]:
    if isinstance(op, ops.UpdateMembership):
        reasons = [op.role.cause] if op.role is not None else []
        return reasons + [f"group {name} expired {when}" for name, when in op.expired_groups]
    if isinstance(op, ops.ArchiveMembership):
        return [op.reason]
    if isinstance(op, ops.UnarchiveMembership):
        return ["unarchived: status invited, new invitation"]
    if isinstance(op, ops.TransferApps):
        return [f"{op.email} is demoted to end-user; settings.transfer_apps_to: {op.to}"]
    return []


def _metadata_changes(op: Op) -> list[dict[str, str]] | None:
    """The metadata keys a membership op touches, ``{"key", "action"}`` (add, change, remove), never a value."""
    if isinstance(op, ops.CreateMembership):
        return [{"key": key, "action": "add"} for key in op.metadata_keys]
    if isinstance(op, ops.UpdateMembership):
        return [{"key": c.key, "action": c.kind} for c in op.metadata_changes]
    return None


def change_to_json_dict(op: Op) -> dict[str, Any]:
    before, after = _DESCRIBERS[type(op)](op)
    change = {
        "address": op.address,
        "actions": [op.action],
        "kind": type(op).__name__,
        "before": before,
        "after": after,
        "reasons": _reasons(op),
    }
    metadata = _metadata_changes(op)
    if metadata is not None:
        change["metadata_changes"] = metadata
    return change
