"""The role rules of SPEC section 1, as pure functions.

Stage: shared by the config layer (``strict_roles`` validation), the planner (effective roles and the causes of
role changes) and the reports (``explain``, ``report``). Nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .state import FLAG_NAMES, ROLE_RANK, GroupPermissions, Membership, Role, Workspace

STRICT_ROLES_MESSAGE = (
    "End-users can only be granted permission to view apps. Kindly change the user role or custom group to continue."
)
LAST_ADMIN_MESSAGE = "Cannot change role of last present admin, please add another admin and change the role"


@dataclass(frozen=True)
class BuilderLevelReason:
    """Why a group is builder-level: a true flag, an edit grant, any data-source grant, or something the
    database holds that the configuration has no word for (``GroupPermissions.builder_level_extras``)."""

    group: str
    reasons: tuple[str, ...]

    def describe(self) -> str:
        return f'group "{self.group}" ({", ".join(self.reasons)})'


def builder_level_reasons(permissions: GroupPermissions) -> tuple[str, ...]:
    """The reasons that make a group builder-level; empty when it is not."""
    reasons = [flag for flag in FLAG_NAMES if flag in permissions.flags]
    for grant in permissions.app_grants:
        if grant.access == "edit":
            reasons.append("edit on all apps" if grant.apps is None else "edit on " + ", ".join(grant.apps))
    for ds in permissions.data_source_grants:
        target = "all data sources" if ds.data_sources is None else ", ".join(ds.data_sources)
        reasons.append(f"{ds.access} on {target}")
    # What the database holds beyond the configuration's words (ToolJet's isEditableGroup counts every true
    # flag column, and environment access without the licence: issue 16, M5).
    reasons += permissions.builder_level_extras
    return tuple(reasons)


def is_builder_level(permissions: GroupPermissions) -> bool:
    return bool(builder_level_reasons(permissions))


def higher(a: Role, b: Role) -> Role:
    return a if ROLE_RANK[a] >= ROLE_RANK[b] else b


def implying_groups(
    groups: Iterable[str], definitions: Mapping[str, GroupPermissions]
) -> tuple[BuilderLevelReason, ...]:
    """The builder-level groups among ``groups``, sorted by name, each with its reasons."""
    found = []
    for name in sorted(groups):
        permissions = definitions.get(name)
        if permissions is None:
            continue
        reasons = builder_level_reasons(permissions)
        if reasons:
            found.append(BuilderLevelReason(name, reasons))
    return tuple(found)


def effective_role(
    declared: Role, groups: Iterable[str], definitions: Mapping[str, GroupPermissions]
) -> tuple[Role, tuple[BuilderLevelReason, ...]]:
    """Rule 1: the highest of the declared role and ``builder`` when any group is builder-level.

    Returns the role and the groups that imply ``builder`` (empty when the declared role stands on its own).
    """
    implied = implying_groups(groups, definitions)
    if implied and ROLE_RANK[declared] < ROLE_RANK["builder"]:
        return "builder", implied
    return declared, ()


def describe_groups(reasons: tuple[BuilderLevelReason, ...]) -> str:
    return ", ".join(r.describe() for r in reasons)


def strict_role_conflicts(workspace: Workspace) -> list[tuple[str, tuple[BuilderLevelReason, ...]]]:
    """Rule 3: declared end-users that sit in builder-level groups, as (email, groups)."""
    conflicts = []
    for email in sorted(workspace.memberships):
        member = workspace.memberships[email]
        if member.role != "end-user" or member.status == "archived":
            continue
        implied = implying_groups(member.groups, workspace.groups)
        if implied:
            conflicts.append((email, implied))
    return conflicts


def active_admins(memberships: Iterable[Membership]) -> list[str]:
    """Rule 4 counts only *active* admins; invited admins do not count."""
    return sorted(m.email for m in memberships if m.role == "admin" and m.status == "active")
