"""Who can do what: the one access engine behind ``explain``, ``report`` and the seat counts of ``users``.

Stage: core (pure functions over the snapshot types; no database, no output). Three answers, each computed
only here:

- **access**: a membership's flags, apps and data sources, each with every source (its role, a custom group)
  that grants the winning level (:class:`WorkspaceAccess`, :func:`member_access`);
- **the role cause**: whether the stored (effective) role is declared or implied by builder-level groups
  (:func:`role_cause`; the rules themselves are in ``roles.py``);
- **seats**, counted as ToolJet's licence counts them, per workspace and instance-wide (:func:`seat_counts`).

A membership's access is the union of its role's permissions and its custom groups'; for each app or data
source the highest level wins. Archived memberships, and every membership of an archived workspace, have none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .desired import DesiredState
from .roles import BuilderLevelReason, describe_groups, implying_groups
from .state import (
    ADMIN_PERMISSIONS,
    END_USER_PERMISSIONS,
    FLAG_NAMES,
    GroupPermissions,
    Membership,
    Role,
    Snapshot,
    Workspace,
)

APP_LEVELS = ("none", "view-hidden", "view", "edit")
DATA_SOURCE_LEVELS = ("none", "use", "configure")
DeclaredRoles = Mapping[str, Mapping[str, Role]]  # workspace slug -> email -> role declared in the configuration


# --- access ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Source:
    """Who grants access: a role (the membership's default group) or a custom group."""

    kind: Literal["role", "group"]
    name: str

    @property
    def label(self) -> str:
        """``role:admin``, ``group:finance``: the spelling of the report's CSV and JSON."""
        return f"{self.kind}:{self.name}"

    def describe(self) -> str:
        """``role "admin"``, ``group "finance"``: the spelling of ``explain``."""
        return f'{self.kind} "{self.name}"'


@dataclass(frozen=True)
class Access:
    """The level a member has on one app or data source, and every source that grants that level."""

    level: str
    granted_by: tuple[Source, ...] = ()


NO_ACCESS = Access("none")


@dataclass(frozen=True)
class MemberAccess:
    flags: dict[str, tuple[Source, ...]]  # flag -> sources that grant it (granted flags only, FLAG_NAMES order)
    apps: dict[str, Access]  # app slug -> access, by slug
    data_sources: dict[str, Access]  # data source name -> access, by name


@dataclass(frozen=True)
class AccessProfile:
    """What decides a member's access; members who share one have the same access."""

    role: Role
    groups: frozenset[str]
    grants_access: bool  # False for archived memberships and archived workspaces


def profile_of(workspace: Workspace, membership: Membership, *, archived_in_instance: bool = False) -> AccessProfile:
    """``archived_in_instance``: the person is archived in the whole instance (ToolJet's ``users.status``), so
    cannot sign in anywhere, whatever the membership says."""
    if archived_in_instance or membership.status == "archived" or workspace.status != "active":
        return AccessProfile("end-user", frozenset(), grants_access=False)  # one shared answer: nothing
    return AccessProfile(membership.role, membership.groups, grants_access=True)


def role_permissions(workspace: Workspace, role: str) -> GroupPermissions:
    """Admin and end-user are fixed (ToolJet's default groups); builder is the workspace's configuration."""
    if role == "admin":
        return ADMIN_PERMISSIONS
    if role == "builder":
        return workspace.builder
    return END_USER_PERMISSIONS


class WorkspaceAccess:
    """The access of the members of one workspace. What each source grants on each resource is worked out once,
    and members who share a profile share one answer, so 10,000 members in random groups stay cheap."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.apps = tuple(sorted(workspace.apps))
        self.data_sources = tuple(sorted(workspace.data_sources))
        self._levels: dict[Source, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._answers: dict[AccessProfile, MemberAccess] = {}

    def of(self, membership: Membership, *, archived_in_instance: bool = False) -> MemberAccess:
        return self.of_profile(profile_of(self.workspace, membership, archived_in_instance=archived_in_instance))

    def of_profile(self, profile: AccessProfile) -> MemberAccess:
        if profile not in self._answers:
            self._answers[profile] = self._compute(profile)
        return self._answers[profile]

    def sources(self, profile: AccessProfile) -> list[tuple[Source, GroupPermissions]]:
        """The role first, then each custom group by name (a group the workspace does not define grants nothing)."""
        if not profile.grants_access:
            return []
        found = [(Source("role", profile.role), role_permissions(self.workspace, profile.role))]
        groups = self.workspace.groups
        return found + [(Source("group", name), groups[name]) for name in sorted(profile.groups) if name in groups]

    def _compute(self, profile: AccessProfile) -> MemberAccess:
        sources = self.sources(profile)
        flags = {flag: tuple(s for s, p in sources if flag in p.flags) for flag in FLAG_NAMES}
        granted = [(source, self._levels_of(source, permissions)) for source, permissions in sources]
        apps = {slug: _best(granted, 0, i, APP_LEVELS) for i, slug in enumerate(self.apps)}
        data_sources = {name: _best(granted, 1, i, DATA_SOURCE_LEVELS) for i, name in enumerate(self.data_sources)}
        return MemberAccess({flag: s for flag, s in flags.items() if s}, apps, data_sources)

    def _levels_of(self, source: Source, permissions: GroupPermissions) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """What ``source`` grants on each app and each data source, in the order of ``apps`` / ``data_sources``."""
        if source not in self._levels:
            self._levels[source] = (
                tuple(app_level(permissions, slug) for slug in self.apps),
                tuple(data_source_level(permissions, name) for name in self.data_sources),
            )
        return self._levels[source]


def member_access(workspace: Workspace, membership: Membership, *, archived_in_instance: bool = False) -> MemberAccess:
    """One member's access (for many members of a workspace, reuse one :class:`WorkspaceAccess`)."""
    return WorkspaceAccess(workspace).of(membership, archived_in_instance=archived_in_instance)


def app_level(permissions: GroupPermissions, app: str) -> str:
    """The highest access one source's grants give on ``app``: edit > view > view-hidden > none."""
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
    """The highest access one source's grants give on a data source: configure > use > none."""
    best = "none"
    for grant in permissions.data_source_grants:
        if grant.data_sources is None or name in grant.data_sources:
            best = max(best, grant.access, key=DATA_SOURCE_LEVELS.index)
    return best


def _best(
    granted: list[tuple[Source, tuple[tuple[str, ...], ...]]], kind: int, index: int, order: tuple[str, ...]
) -> Access:
    """The highest level any source grants on one resource, with every source that grants it."""
    best = max((levels[kind][index] for _, levels in granted), key=order.index, default="none")
    if best == "none":
        return NO_ACCESS
    return Access(best, tuple(source for source, levels in granted if levels[kind][index] == best))


# --- the role cause -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleCause:
    """Why a member has their (effective, stored) role: ``declared`` or ``implied`` by builder-level groups."""

    kind: Literal["declared", "implied"]
    text: str
    groups: tuple[BuilderLevelReason, ...] = ()


def role_cause(
    membership: Membership, definitions: Mapping[str, GroupPermissions], declared: Role | None = None
) -> RoleCause:
    """The stored role is the effective role. A builder in builder-level groups is ``implied`` by them unless
    the configuration (``declared``) says builder itself; without a configuration the declared role is unknown
    and the groups, which alone would make the member a builder, are named as the cause."""
    implied = implying_groups(membership.groups, definitions)
    if membership.role != "builder" or not implied:
        return RoleCause("declared", "declared")
    if declared == "builder":
        return RoleCause("declared", f"declared (also implied by {describe_groups(implied)})", implied)
    return RoleCause("implied", f"implied by {describe_groups(implied)}", implied)


def declared_roles(desired: DesiredState | None) -> DeclaredRoles:
    """The roles a configuration declares, for :func:`role_cause` (empty without a configuration)."""
    if desired is None:
        return {}
    return {
        slug: {email: m.role for email, m in ws.workspace.memberships.items()}
        for slug, ws in desired.workspaces.items()
    }


# --- seats ----------------------------------------------------------------------------------------------------

COUNTED_STATUSES = frozenset({"invited", "active"})
BUILDER_ROLES = frozenset({"admin", "builder"})


@dataclass(frozen=True)
class Seats:
    """Seats as ToolJet counts them. ``total`` is ToolJet's user count, ``builders`` its editors (admins
    included), ``end_users`` its viewers (0 whenever there are no builders, as ToolJet returns it); ``admins``
    is not a seat type, it is shown beside them."""

    total: int = 0
    builders: int = 0
    end_users: int = 0
    admins: int = 0


@dataclass(frozen=True)
class SeatHolders:
    """Who holds each kind of seat (emails): what :class:`Seats` counts, for a limit that must name who is added."""

    total: frozenset[str] = frozenset()
    builders: frozenset[str] = frozenset()
    end_users: frozenset[str] = frozenset()
    admins: frozenset[str] = frozenset()

    @property
    def seats(self) -> Seats:
        return Seats(len(self.total), len(self.builders), len(self.end_users), len(self.admins))


@dataclass(frozen=True)
class SeatCounts:
    instance: Seats  # across every workspace of the state, each person once
    workspaces: dict[str, Seats] = field(default_factory=dict, hash=False)  # by slug


def seat_counts(state: Snapshot, *, whole_instance: bool = True) -> SeatCounts:
    """The seats ``state`` takes, per workspace and across its workspaces, counted as ToolJet counts them.

    ``state`` is a snapshot (what the database holds) or the state a plan would produce, in the same types.
    ToolJet's instance figures cover every workspace of the instance, and count super admins too: give a state
    that holds every workspace. With ``whole_instance=False`` the state is a selection of workspaces (``users
    --workspace``, ``report --workspace``): its figures cover those workspaces only, without the super admins
    who are in none of them.

    The rules (ToolJet ``server/src/modules/licensing/services/count.service.ts``):

    - a person holds a seat when they are not archived in the instance and have an invited or active membership
      in an active workspace; each person counts once;
    - instance-wide, such a person is a builder when they hold the admin or builder role in *any* workspace,
      whatever that membership's or workspace's status (ToolJet does not tie the role to the counted
      membership); per workspace, the role must be that workspace's, in the counted membership;
    - end-users are the other seat holders, and ToolJet counts none at all while there is no builder;
    - the instance total also counts super admins who are not archived, with or without a membership.
    """
    return SeatCounts(
        instance=instance_seat_holders(state, whole_instance=whole_instance).seats,
        workspaces={slug: workspace_seat_holders(state, ws).seats for slug, ws in sorted(state.workspaces.items())},
    )


def _archived_in_instance(state: Snapshot, email: str) -> bool:
    user = state.users.get(email)
    return user is not None and user.archived


def _counted(state: Snapshot, workspace: Workspace) -> Iterable[Membership]:
    if workspace.status != "active":
        return ()
    return (
        m
        for m in workspace.memberships.values()
        if m.status in COUNTED_STATUSES and not _archived_in_instance(state, m.email)
    )


def instance_seat_holders(state: Snapshot, *, whole_instance: bool = True) -> SeatHolders:
    """Who holds a seat across the workspaces of ``state`` (the rules of :func:`seat_counts`)."""
    holders: set[str] = set()
    admins: set[str] = set()
    any_builder_role: set[str] = set()
    for workspace in state.workspaces.values():
        any_builder_role.update(m.email for m in workspace.memberships.values() if m.role in BUILDER_ROLES)
        for membership in _counted(state, workspace):
            holders.add(membership.email)
            if membership.role == "admin":
                admins.add(membership.email)
    builders = holders & any_builder_role
    super_admins = {e for e, u in state.users.items() if u.super_admin and not u.archived} if whole_instance else set()
    return _holders(holders | super_admins, builders, holders - builders, admins)


def workspace_seat_holders(state: Snapshot, workspace: Workspace) -> SeatHolders:
    """Who holds a seat in one workspace of ``state`` (the rules of :func:`seat_counts`)."""
    counted = list(_counted(state, workspace))
    holders = {m.email for m in counted}
    builders = {m.email for m in counted if m.role in BUILDER_ROLES}
    admins = {m.email for m in counted if m.role == "admin"}
    return _holders(holders, builders, holders - builders, admins)


def _holders(total: set[str], builders: set[str], others: set[str], admins: set[str]) -> SeatHolders:
    return SeatHolders(frozenset(total), frozenset(builders), frozenset(others if builders else ()), frozenset(admins))
