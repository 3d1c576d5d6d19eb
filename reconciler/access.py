"""Who can do what, and through which grant: the access a membership has, resource by resource.

Stage: reporting (``explain``, ``report``). Pure functions over the snapshot types. A membership's access is
the union of its role's permissions and its custom groups'; for each app or data source the highest access
wins and every source that grants that level is named.
"""

from __future__ import annotations

from dataclasses import dataclass

from .state import ADMIN_PERMISSIONS, END_USER_PERMISSIONS, FLAG_NAMES, GroupPermissions, Membership, Workspace

APP_LEVELS = ("none", "view-hidden", "view", "edit")
DATA_SOURCE_LEVELS = ("none", "use", "configure")


@dataclass(frozen=True)
class Access:
    level: str
    sources: tuple[str, ...] = ()  # e.g. 'role "admin"', 'group "finance"'

    def describe(self) -> str:
        return f"{self.level} (via {', '.join(self.sources)})" if self.sources else self.level


@dataclass(frozen=True)
class MemberAccess:
    flags: dict[str, tuple[str, ...]]  # flag -> sources that grant it (only granted flags)
    apps: dict[str, Access]  # app slug -> access
    data_sources: dict[str, Access]  # data source name -> access


def role_permissions(workspace: Workspace, role: str) -> GroupPermissions:
    if role == "admin":
        return ADMIN_PERMISSIONS
    if role == "builder":
        return workspace.builder
    return END_USER_PERMISSIONS


def permission_sources(workspace: Workspace, member: Membership) -> list[tuple[str, GroupPermissions]]:
    """The role first, then each custom group by name; an archived membership, or any membership of an archived
    workspace, has none (the same answer as ``report``)."""
    if member.status == "archived" or workspace.status != "active":
        return []
    sources = [(f'role "{member.role}"', role_permissions(workspace, member.role))]
    sources += [(f'group "{g}"', workspace.groups[g]) for g in sorted(member.groups) if g in workspace.groups]
    return sources


def member_access(workspace: Workspace, member: Membership) -> MemberAccess:
    sources = permission_sources(workspace, member)
    flags = {
        flag: tuple(label for label, perms in sources if flag in perms.flags)
        for flag in FLAG_NAMES
        if any(flag in perms.flags for _, perms in sources)
    }
    apps = {
        slug: _best([(app_level(perms, slug), label) for label, perms in sources], APP_LEVELS)
        for slug in sorted(workspace.apps)
    }
    data_sources = {
        name: _best([(data_source_level(perms, name), label) for label, perms in sources], DATA_SOURCE_LEVELS)
        for name in sorted(workspace.data_sources)
    }
    return MemberAccess(flags, apps, data_sources)


def app_level(permissions: GroupPermissions, app: str) -> str:
    """The highest access one group's grants give on ``app``: edit > view > view-hidden > none."""
    best = "none"
    for grant in permissions.app_grants:
        if grant.apps is not None and app not in grant.apps:
            continue
        if grant.access == "edit":
            level = "edit"
        else:
            level = "view-hidden" if grant.hide_from_dashboard else "view"
        best = max(best, level, key=APP_LEVELS.index)
    return best


def data_source_level(permissions: GroupPermissions, name: str) -> str:
    """The highest access one group's grants give on a data source: configure > use > none."""
    best = "none"
    for grant in permissions.data_source_grants:
        if grant.data_sources is None or name in grant.data_sources:
            best = max(best, grant.access, key=DATA_SOURCE_LEVELS.index)
    return best


def _best(levels: list[tuple[str, str]], order: tuple[str, ...]) -> Access:
    best = max((level for level, _ in levels), key=order.index, default="none")
    if best == "none":
        return Access("none")
    return Access(best, tuple(dict.fromkeys(label for level, label in levels if level == best)))
