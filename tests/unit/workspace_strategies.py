"""Random small desired states for the fast unit properties (hypothesis strategies), and the starting state.

Desired states are drawn directly in the snapshot types, no YAML: one or two workspaces, six people, three group
names whose permissions are builder-level or not, renames through ``previously``, any roles, archived members,
metadata absent / empty / with values, ``prune: archive`` or ``none``; every workspace declares an active admin
(a configuration rule). Draws are few and coarse (one per member), because generation is most of a case's cost.

``RECONCILER_UNIT_EXAMPLES`` sets the number of cases per property (default 1,000: about 5 s of CPU each).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from fakes import MemoryBackend
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from reconciler.desired import DesiredState, DesiredWorkspace, Settings
from reconciler.ops import Plan
from reconciler.state import (
    DEFAULT_BUILDER_PERMISSIONS,
    ROLES,
    AppGrant,
    DataSourceGrant,
    GroupPermissions,
    Membership,
    Metadata,
    User,
    Workspace,
)
from reconciler.workflow import apply_plan, make_plan

EXAMPLES = int(os.environ.get("RECONCILER_UNIT_EXAMPLES", "1000"))
PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("CI") == "true",  # CI is reproducible; local runs explore
    suppress_health_check=[HealthCheck.too_slow],
)

SLUGS = ("ws-a", "ws-b")
PEOPLE = tuple(f"p{i}@unit.example" for i in range(6))
PEOPLE_SUBSETS = tuple(tuple(p for bit, p in enumerate(PEOPLE) if mask >> bit & 1) for mask in range(1, 64))
GROUP_NAMES = ("ops", "sales", "audit")
APPS = {"crm": "CRM", "wiki": "Wiki"}
DATA_SOURCES = frozenset({"warehouse"})
NOT_BUILDER_LEVEL = (
    GroupPermissions(),
    GroupPermissions(app_grants=(AppGrant("view", None),)),
    GroupPermissions(app_grants=(AppGrant("view", ("crm",), hide_from_dashboard=True),)),
)
BUILDER_LEVEL = (
    GroupPermissions(flags=frozenset({"apps.create"})),
    GroupPermissions(flags=frozenset({"folders.delete"}), app_grants=(AppGrant("view", ("wiki",)),)),
    GroupPermissions(app_grants=(AppGrant("edit", ("crm",)),)),
    GroupPermissions(data_source_grants=(DataSourceGrant("use", ("warehouse",)),)),
)
BUILDERS = (DEFAULT_BUILDER_PERMISSIONS, GroupPermissions(app_grants=(AppGrant("edit", None),)))
METADATA = (
    Metadata.UNMANAGED,
    Metadata.EMPTY,
    Metadata.of({"team": "blue"}),
    Metadata.of({"team": "red", "tier": "1"}),
)
NAMES = (("Ann", ""), ("Ann", "Lee"), ("Bo", ""))
GROUP_SUBSETS = ((), ("ops",), ("ops", "sales"), ("audit", "ops", "sales"), ("sales", "audit"))

permissions = st.sampled_from(NOT_BUILDER_LEVEL + BUILDER_LEVEL)


# --- strategies ---------------------------------------------------------------------------------------------


def membership(email: str, role: str, status: str, groups: frozenset[str], metadata: Metadata) -> Membership:
    """A declared membership (the one place that knows how the desired state spells one)."""
    return Membership(email, role, status, groups, metadata)  # type: ignore[arg-type]


# One draw per member: (role, status, metadata, which of the declared groups by bit mask); few draws keep
# generation cheap, which is most of a case's cost.
MEMBER_SHAPES = tuple(
    (role, status, metadata, mask)
    for role in ROLES
    for status in ("active", "archived")
    for metadata in range(len(METADATA))
    for mask in range(8)
)


@st.composite
def desired_workspaces(draw: st.DrawFn, slug: str) -> DesiredWorkspace:
    names = draw(st.sampled_from(GROUP_SUBSETS))
    groups = {name: draw(permissions) for name in names}
    people = draw(st.sampled_from(PEOPLE_SUBSETS))
    members = {}
    for email in people:
        role, status, metadata, mask = draw(st.sampled_from(MEMBER_SHAPES))
        chosen = frozenset(name for bit, name in enumerate(names) if mask >> bit & 1)
        members[email] = membership(email, role, status, chosen, METADATA[metadata])
    if not any(m.role == "admin" and m.status == "active" for m in members.values()):  # a config rule
        members[people[0]] = replace(members[people[0]], role="admin", status="active")
    # A group may say it was called like a group that is not declared any more: a rename if that one exists.
    unused = [n for n in GROUP_NAMES if n not in groups]
    renamed = draw(st.sampled_from((None, *names))) if unused else None
    previously = {renamed: (draw(st.sampled_from(unused)),)} if renamed else {}
    workspace = Workspace(
        slug,
        slug.upper(),
        apps=dict(APPS),
        data_sources=DATA_SOURCES,
        builder=draw(st.sampled_from(BUILDERS)),
        groups=groups,
        memberships=members,
    )
    prune = draw(st.sampled_from(("archive", "none")))
    return DesiredWorkspace(workspace, Settings(prune=prune), previously)


@st.composite
def desired_states(draw: st.DrawFn) -> DesiredState:
    slugs = draw(st.sampled_from(((SLUGS[0],), (SLUGS[1],), SLUGS)))
    workspaces = {slug: draw(desired_workspaces(slug)) for slug in sorted(slugs)}
    declared = sorted({e for ws in workspaces.values() for e in ws.workspace.memberships})
    users = {e: User(e, *draw(st.sampled_from(NAMES))) for e in declared}
    return DesiredState(workspaces, users, config_hash="unit")


@dataclass(frozen=True)
class Drift:
    """Out-of-band changes between the two applies: invitations accepted, one stored role edited."""

    accepted: frozenset[str]
    edited: str | None
    role: str


drifts = st.builds(
    Drift, st.frozensets(st.sampled_from(PEOPLE)), st.none() | st.sampled_from(PEOPLE), st.sampled_from(ROLES)
)


def apply(backend: MemoryBackend, desired: DesiredState) -> Plan:
    """Plan and apply through the workflow, as the CLI does (mass changes allowed: small workspaces)."""
    plan = make_plan(backend, desired, None).plan
    apply_plan(backend, plan, None, actor="unit", command="apply", allow_mass_change=True)
    return plan


def starting_state(first: DesiredState, drift: Drift) -> MemoryBackend:
    """``first`` applied to an empty backend, then the drift: invitations accepted, one stored role edited."""
    backend = MemoryBackend()
    apply(backend, first)
    for slug, ws in backend.store.workspaces.items():
        for email, member in ws.memberships.items():
            if member.status == "invited" and email in drift.accepted:
                backend.accept_invitation(slug, email)
            elif email == drift.edited and member.status != "archived":
                ws.memberships[email] = replace(member, role=drift.role)
    return backend
