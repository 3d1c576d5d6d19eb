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
    """The role first, then each custom group by name; an archived membership has none."""
    if member.status == "archived":
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
    apps = {slug: _best(_app_levels(sources, slug), APP_LEVELS) for slug in sorted(workspace.apps)}
    data_sources = {
        name: _best(_ds_levels(sources, name), DATA_SOURCE_LEVELS) for name in sorted(workspace.data_sources)
    }
    return MemberAccess(flags, apps, data_sources)


def _app_levels(sources: list[tuple[str, GroupPermissions]], slug: str) -> list[tuple[str, str]]:
    levels = []
    for label, perms in sources:
        for grant in perms.app_grants:
            if grant.apps is None or slug in grant.apps:
                level = "edit" if grant.access == "edit" else ("view-hidden" if grant.hide_from_dashboard else "view")
                levels.append((level, label))
    return levels


def _ds_levels(sources: list[tuple[str, GroupPermissions]], name: str) -> list[tuple[str, str]]:
    return [
        (grant.access, label)
        for label, perms in sources
        for grant in perms.data_source_grants
        if grant.data_sources is None or name in grant.data_sources
    ]


def _best(levels: list[tuple[str, str]], order: tuple[str, ...]) -> Access:
    if not levels:
        return Access("none")
    best = max(levels, key=lambda item: order.index(item[0]))[0]
    return Access(best, tuple(dict.fromkeys(label for level, label in levels if level == best)))
