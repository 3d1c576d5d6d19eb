"""Rows every new workspace starts with: its three role groups and their default permissions."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from reconciler import state
from reconciler.backends.builtin import models

ROLE_PERMISSIONS: dict[str, state.GroupPermissions] = {
    "admin": state.ADMIN_PERMISSIONS,
    "builder": state.DEFAULT_BUILDER_PERMISSIONS,
    "end-user": state.END_USER_PERMISSIONS,
}


def create_role_groups(session: Session, workspace_id: str) -> dict[str, models.Group]:
    """Insert the admin, builder and end-user role rows of a workspace (flushed, so they have ids)."""
    groups = {name: _role_group(workspace_id, name, perms) for name, perms in ROLE_PERMISSIONS.items()}
    session.add_all(groups.values())
    session.flush()
    return groups


def set_flags(group: models.Group, flags: Iterable[str]) -> None:
    """Set the group's flag columns so that exactly ``flags`` (``state.FLAG_NAMES`` spelling) are true."""
    enabled = set(flags)
    for flag, column in models.FLAG_COLUMNS.items():
        setattr(group, column, flag in enabled)


def _role_group(workspace_id: str, name: str, permissions: state.GroupPermissions) -> models.Group:
    group = models.Group(workspace_id=workspace_id, name=name, kind="role")
    set_flags(group, permissions.flags)
    # Role defaults only grant "all"; grants naming apps or data sources need their ids and belong to apply.
    assert all(g.apps is None for g in permissions.app_grants)
    assert all(g.data_sources is None for g in permissions.data_source_grants)
    group.app_grants = [
        models.AppGrant(position=i, access=g.access, all_apps=True, hide_from_dashboard=g.hide_from_dashboard)
        for i, g in enumerate(permissions.app_grants)
    ]
    group.data_source_grants = [
        models.DataSourceGrant(position=i, access=g.access, all_data_sources=True)
        for i, g in enumerate(permissions.data_source_grants)
    ]
    return group
