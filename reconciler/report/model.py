"""The access review report as data: who can do what in each workspace, and why.

Stage: report model (pure). ``build_report`` turns a :class:`~reconciler.state.Snapshot` (plus, optionally, the
audit runs, a plan against a configuration for drift marks, and the configuration's declared roles) into a
:class:`Report`; the HTML, CSV and JSON renderers only lay it out. Metadata enters only as its keys.

Members who share a role, a set of custom groups and an archived-or-not status share one row of the matrix
(an :class:`AccessProfile`), so a workspace of 10,000 members computes a few dozen rows, not 10,000.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from ..access import BuilderLevelReason, builder_level_reasons, describe_groups, implying_groups
from ..audit import AuditRun
from ..grants import role_permissions
from ..ops import Plan
from ..state import FLAG_NAMES, ROLES, GroupPermissions, Membership, Role, Snapshot, Workspace
from .drift import DriftEntry, DriftIndex, index_plan
from .matrix import AccessProfile, Cell, MatrixBuilder, Resource, resources_of

REPORT_VERSION = 1
STATUSES = ("invited", "active", "archived")
COUNTED_STATUSES = frozenset({"invited", "active"})
DeclaredRoles = Mapping[str, Mapping[str, Role]]  # workspace slug -> email -> role declared in the configuration


@dataclass(frozen=True)
class RoleCause:
    """Why a member has their (effective, stored) role: ``declared`` or ``implied`` by builder-level groups."""

    kind: Literal["declared", "implied"]
    text: str
    groups: tuple[BuilderLevelReason, ...] = ()


@dataclass(frozen=True)
class MemberEntry:
    email: str
    first_name: str
    last_name: str
    status: str
    role: Role
    cause: RoleCause
    groups: tuple[str, ...]
    metadata_keys: tuple[str, ...]
    profile: int  # index into WorkspaceReport.profiles
    drift: tuple[DriftEntry, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class GroupEntry:
    """A role (``admin``, ``builder``, ``end-user``) or a custom group, with its permissions."""

    name: str
    kind: Literal["role", "group"]
    members: int  # invited and active members
    flags: tuple[str, ...]  # the true FLAG_NAMES, in their order
    app_grants: tuple[str, ...]
    data_source_grants: tuple[str, ...]
    builder_level: tuple[str, ...]  # reasons; custom groups only
    drift: tuple[DriftEntry, ...] = ()


@dataclass(frozen=True)
class SeatCounts:
    """ToolJet's counting: distinct users with an invited or active membership in an active workspace;
    builders are admins or builders in such a membership (admins count as builders)."""

    users: int = 0
    builders: int = 0
    admins: int = 0


@dataclass(frozen=True)
class Summary:
    members: int
    by_status: dict[str, int]
    by_role: dict[str, dict[str, int]]  # role -> status -> count
    seats: SeatCounts


@dataclass(frozen=True)
class WorkspaceReport:
    slug: str
    name: str
    status: str
    summary: Summary
    resources: tuple[Resource, ...]
    profiles: tuple[tuple[Cell, ...], ...]  # one matrix row per access profile, cells in resource order
    members: tuple[MemberEntry, ...]
    groups: tuple[GroupEntry, ...]
    drift: tuple[DriftEntry, ...] = ()

    def access(self, member: MemberEntry) -> tuple[Cell, ...]:
        return self.profiles[member.profile]

    def cell(self, email: str, resource_type: str, key: str) -> Cell:
        member = next(m for m in self.members if m.email == email)
        index = next(i for i, r in enumerate(self.resources) if (r.type, r.key) == (resource_type, key))
        return self.access(member)[index]


@dataclass(frozen=True)
class ApplyEntry:
    id: int
    started_at: datetime
    actor: str
    command: str
    result: str
    config_hash: str
    summary: dict[str, int]
    error: str | None
    workspaces: tuple[str, ...] = ()  # from the run's change addresses, when the backend records them


@dataclass(frozen=True)
class Report:
    generated_at: datetime
    workspaces: tuple[WorkspaceReport, ...]
    seats: SeatCounts  # across the reported workspaces, each user counted once
    applies: tuple[ApplyEntry, ...] = ()
    drift_checked: bool = False  # True when made against a configuration (``-f``)
    config_hash: str | None = None
    report_version: int = REPORT_VERSION


# --- building ---------------------------------------------------------------------------------------


def build_report(
    snapshot: Snapshot,
    slugs: Iterable[str] | None = None,
    *,
    runs: Sequence[AuditRun] = (),
    plan: Plan | None = None,
    declared: DeclaredRoles | None = None,
    now: datetime | None = None,
) -> Report:
    """The report for ``slugs`` (default: every workspace of the snapshot); absent slugs are skipped."""
    chosen = sorted(snapshot.workspaces if slugs is None else set(slugs) & snapshot.workspaces.keys())
    drift = index_plan(plan) if plan is not None else DriftIndex()
    workspaces = tuple(
        build_workspace(snapshot, snapshot.workspaces[slug], drift, (declared or {}).get(slug, {})) for slug in chosen
    )
    return Report(
        generated_at=now or datetime.now(UTC),
        workspaces=workspaces,
        seats=seat_counts(snapshot.workspaces[slug] for slug in chosen),
        applies=tuple(apply_entry(run) for run in runs),
        drift_checked=plan is not None,
        config_hash=plan.config_hash if plan is not None else None,
    )


def build_workspace(
    snapshot: Snapshot, workspace: Workspace, drift: DriftIndex, declared: Mapping[str, Role]
) -> WorkspaceReport:
    resources = resources_of(workspace)
    profiles: dict[AccessProfile, int] = {}
    members = []
    for email in sorted(workspace.memberships):
        membership = workspace.memberships[email]
        profile = profiles.setdefault(access_profile(workspace, membership), len(profiles))
        members.append(member_entry(snapshot, workspace, membership, profile, drift, declared.get(email)))
    return WorkspaceReport(
        slug=workspace.slug,
        name=workspace.name,
        status=workspace.status,
        summary=summarise(workspace),
        resources=resources,
        profiles=tuple(map(MatrixBuilder(workspace, resources).row, profiles)),
        members=tuple(members),
        groups=group_entries(workspace, drift),
        drift=drift.for_workspace(workspace.slug),
    )


def access_profile(workspace: Workspace, membership: Membership) -> AccessProfile:
    if membership.status == "archived" or workspace.status != "active":
        return AccessProfile("end-user", frozenset(), grants_access=False)  # one shared row of "none"
    return AccessProfile(membership.role, membership.groups, grants_access=True)


def member_entry(
    snapshot: Snapshot,
    workspace: Workspace,
    membership: Membership,
    profile: int,
    drift: DriftIndex,
    declared: Role | None,
) -> MemberEntry:
    user = snapshot.users.get(membership.email)
    return MemberEntry(
        email=membership.email,
        first_name=user.first_name if user else "",
        last_name=user.last_name if user else "",
        status=membership.status,
        role=membership.role,
        cause=role_cause(membership, workspace.groups, declared),
        groups=tuple(sorted(membership.groups)),
        metadata_keys=membership.metadata.keys(),
        profile=profile,
        drift=drift.for_member(workspace.slug, membership.email),
    )


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


def summarise(workspace: Workspace) -> Summary:
    by_status = dict.fromkeys(STATUSES, 0)
    by_role = {role: dict.fromkeys(STATUSES, 0) for role in reversed(ROLES)}
    for membership in workspace.memberships.values():
        by_status[membership.status] += 1
        by_role[membership.role][membership.status] += 1
    return Summary(len(workspace.memberships), by_status, by_role, seat_counts([workspace]))


def seat_counts(workspaces: Iterable[Workspace]) -> SeatCounts:
    users: set[str] = set()
    builders: set[str] = set()
    admins: set[str] = set()
    for workspace in workspaces:
        if workspace.status != "active":
            continue
        for membership in workspace.memberships.values():
            if membership.status not in COUNTED_STATUSES:
                continue
            users.add(membership.email)
            if membership.role in ("admin", "builder"):
                builders.add(membership.email)
            if membership.role == "admin":
                admins.add(membership.email)
    return SeatCounts(len(users), len(builders), len(admins))


def group_entries(workspace: Workspace, drift: DriftIndex) -> tuple[GroupEntry, ...]:
    counted = [m for m in workspace.memberships.values() if m.status in COUNTED_STATUSES]
    by_role = Counter(m.role for m in counted)
    by_group = Counter(name for m in counted for name in m.groups)
    roles = tuple(
        permissions_entry(
            role,
            "role",
            role_permissions(workspace, role),
            by_role[role],
            drift.at(f"{workspace.slug}/role/{role}"),
        )
        for role in reversed(ROLES)
    )
    groups = tuple(
        permissions_entry(name, "group", workspace.groups[name], by_group[name], drift.for_group(workspace.slug, name))
        for name in sorted(workspace.groups)
    )
    return roles + groups


def permissions_entry(
    name: str,
    kind: Literal["role", "group"],
    permissions: GroupPermissions,
    members: int,
    drift: tuple[DriftEntry, ...],
) -> GroupEntry:
    return GroupEntry(
        name=name,
        kind=kind,
        members=members,
        flags=tuple(flag for flag in FLAG_NAMES if flag in permissions.flags),
        app_grants=tuple(grant.describe() for grant in permissions.app_grants),
        data_source_grants=tuple(grant.describe() for grant in permissions.data_source_grants),
        builder_level=builder_level_reasons(permissions) if kind == "group" else (),
        drift=drift,
    )


def apply_entry(run: AuditRun) -> ApplyEntry:
    touched = {address.split("/", 1)[0] for _, address in run.changes if not address.startswith("user/")}
    return ApplyEntry(
        id=run.id,
        started_at=run.started_at,
        actor=run.actor,
        command=run.command,
        result=run.result,
        config_hash=run.config_hash,
        summary=dict(run.summary),
        error=run.error,
        workspaces=tuple(sorted(touched)),
    )
