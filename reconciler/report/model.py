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
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from ..access import (
    COUNTED_STATUSES,
    AccessProfile,
    DeclaredRoles,
    RoleCause,
    Seats,
    WorkspaceAccess,
    profile_of,
    role_cause,
    role_permissions,
    seat_counts,
)
from ..audit import AuditRun
from ..expiry import MemberExpiries
from ..ops import HygieneFinding, Plan
from ..roles import builder_level_reasons
from ..state import FLAG_NAMES, ROLES, GroupPermissions, Membership, Role, Snapshot, Workspace
from .drift import DriftEntry, DriftIndex, index_plan
from .matrix import Cell, Resource, matrix_row, resources_of

Expiries = Mapping[str, Mapping[str, MemberExpiries]]  # workspace slug -> email -> the configuration's expires:
REPORT_VERSION = 1
STATUSES = ("invited", "active", "archived")


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
    # when the access ends, from the configuration's ``expires:`` (``report -f``): (group, when), the membership
    # itself with an empty group; times in UTC as every output shows them (issue 18)
    expires: tuple[tuple[str, str], ...] = ()

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
class Summary:
    members: int
    by_status: dict[str, int]
    by_role: dict[str, dict[str, int]]  # role -> status -> count
    seats: Seats


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
    # access hygiene (issue 18): stale invitations, members who stopped signing in
    hygiene: tuple[HygieneFinding, ...] = ()

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
    seats: Seats  # across the reported workspaces, each user counted once
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
    whole_instance: bool = False,
    expiries: Expiries | None = None,
    hygiene: Sequence[HygieneFinding] = (),
) -> Report:
    """The report for ``slugs`` (default: every workspace of the snapshot); absent slugs are skipped.
    ``whole_instance``: the reported workspaces are all the instance has (its seat counts then include the
    super admins, as ToolJet's do)."""
    chosen = sorted(snapshot.workspaces if slugs is None else set(slugs) & snapshot.workspaces.keys())
    drift = index_plan(plan) if plan is not None else DriftIndex()
    selection = Snapshot({slug: snapshot.workspaces[slug] for slug in chosen}, snapshot.users)
    seats = seat_counts(selection, whole_instance=whole_instance)
    workspaces = tuple(
        build_workspace(
            snapshot, snapshot.workspaces[slug], drift, (declared or {}).get(slug, {}), seats.workspaces[slug]
        )
        for slug in chosen
    )
    workspaces = tuple(_governance(w, (expiries or {}).get(w.slug, {}), hygiene) for w in workspaces)
    return Report(
        generated_at=now or datetime.now(UTC),
        workspaces=workspaces,
        seats=seats.instance,
        applies=tuple(apply_entry(run) for run in runs),
        drift_checked=plan is not None,
        config_hash=plan.config_hash if plan is not None else None,
    )


def _governance(
    workspace: WorkspaceReport, expiries: Mapping[str, MemberExpiries], hygiene: Sequence[HygieneFinding]
) -> WorkspaceReport:
    """The workspace with its members' expiries (from the configuration) and its hygiene findings (issue 18)."""
    if not expiries and not hygiene:
        return workspace
    members = tuple(
        replace(m, expires=expiry_cells(expiries[m.email])) if m.email in expiries else m for m in workspace.members
    )
    found = tuple(f for f in hygiene if f.workspace == workspace.slug)
    return replace(workspace, members=members, hygiene=found)


def expiry_cells(expiries: MemberExpiries) -> tuple[tuple[str, str], ...]:
    """(group, when) for the membership (group ``""``) and each group membership that ends, soonest first."""
    ends = [("", expiries.membership)] if expiries.membership is not None else []
    ends += sorted(expiries.groups.items())
    return tuple((group, expiry.describe()) for group, expiry in sorted(ends, key=lambda pair: pair[1].at))


def build_workspace(
    snapshot: Snapshot, workspace: Workspace, drift: DriftIndex, declared: Mapping[str, Role], seats: Seats
) -> WorkspaceReport:
    engine = WorkspaceAccess(workspace)
    profiles: dict[AccessProfile, int] = {}
    members = []
    for email in sorted(workspace.memberships):
        membership = workspace.memberships[email]
        user = snapshot.users.get(email)
        profile = profile_of(workspace, membership, archived_in_instance=user is not None and user.archived)
        profile = profiles.setdefault(profile, len(profiles))
        members.append(member_entry(snapshot, workspace, membership, profile, drift, declared.get(email)))
    return WorkspaceReport(
        slug=workspace.slug,
        name=workspace.name,
        status=workspace.status,
        summary=summarise(workspace, seats),
        resources=resources_of(workspace),
        profiles=tuple(matrix_row(engine, profile) for profile in profiles),
        members=tuple(members),
        groups=group_entries(workspace, drift),
        drift=drift.for_workspace(workspace.slug),
    )


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
        metadata_keys=membership.metadata.keys() if membership.metadata.known else (),  # unread: none known
        profile=profile,
        drift=drift.for_member(workspace.slug, membership.email),
    )


def summarise(workspace: Workspace, seats: Seats) -> Summary:
    by_status = dict.fromkeys(STATUSES, 0)
    by_role = {role: dict.fromkeys(STATUSES, 0) for role in reversed(ROLES)}
    for membership in workspace.memberships.values():
        by_status[membership.status] += 1
        by_role[membership.role][membership.status] += 1
    return Summary(len(workspace.memberships), by_status, by_role, seats)


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
