"""What a configuration cedes (issue 17), as a property on random small workspaces (in-memory backend).

Each case applies a first desired state, lets another writer change the store (members added to and removed
from external groups, members matching an ignore pattern added, roles and groups of members changed in the UI),
then plans and applies a second desired state that carries random ownership settings (``ignore`` patterns naming
people it does not declare, ``members: external`` on some groups, ``manage`` flags), and checks:

- the plan reaches a fixed point: planning again is empty (SPEC 4);
- an ignored member keeps its status, its groups (but those destroyed) and its role (but rule 1's promotions);
- the members of an external group stay who they were;
- a kind ``settings.manage`` leaves alone stays as stored for existing members (rule 1's promotions aside);
- rule 1 holds for every non-archived member; a refusal changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fakes import MemoryBackend
from hypothesis import given
from hypothesis import strategies as st
from workspace_strategies import GROUP_NAMES, PEOPLE, PROFILE, SLUGS, apply, desired_states

from reconciler import ops
from reconciler.desired import DesiredState, DesiredWorkspace, Ownership
from reconciler.errors import PlanRefused
from reconciler.roles import implying_groups
from reconciler.state import Membership, Snapshot, User
from reconciler.workflow import make_plan


@dataclass(frozen=True)
class Rules:
    ignored: frozenset[str]  # people the second state ignores (it declares none of them)
    external: frozenset[str]
    manage: tuple[bool, bool, bool]  # roles, groups, metadata


@dataclass(frozen=True)
class OtherWriter:
    """What SSO sync or the UI does between the two applies, to every workspace."""

    synced: frozenset[str]  # people whose external groups the sync sets to ``sync_to``
    sync_to: frozenset[str]
    ui_role: str  # the role the UI gives to the first synced member


rules = st.builds(
    Rules,
    st.frozensets(st.sampled_from(PEOPLE), max_size=3),
    st.frozensets(st.sampled_from(GROUP_NAMES), max_size=2),
    st.tuples(st.booleans(), st.booleans(), st.booleans()),
)
writers = st.builds(
    OtherWriter,
    st.frozensets(st.sampled_from(PEOPLE)),
    st.frozensets(st.sampled_from(GROUP_NAMES), max_size=2),
    st.sampled_from(("end-user", "builder", "admin")),
)


def with_rules(state: DesiredState, chosen: Rules) -> DesiredState:
    """``state`` with the ownership settings: ignored people left out, external groups out of users' lists."""
    workspaces = {}
    for slug, ws in state.workspaces.items():
        ignored = chosen.ignored - {e for e, m in ws.workspace.memberships.items() if m.role == "admin"}
        members = {
            e: replace(m, groups=m.groups - chosen.external)
            for e, m in ws.workspace.memberships.items()
            if e not in ignored
        }
        if not any(m.role == "admin" and m.status == "active" for m in members.values()):
            return state  # the ignored people held every admin: no such configuration is valid
        roles, groups, metadata = chosen.manage
        ownership = Ownership(
            ignore=tuple(sorted(ignored)),
            manage_roles=roles,
            manage_groups=groups,
            manage_metadata=metadata,
            external_groups=chosen.external & ws.workspace.groups.keys(),
        )
        workspace = replace(ws.workspace, memberships=members)
        workspaces[slug] = replace(ws, workspace=workspace, ownership=ownership)
    return replace(state, workspaces=workspaces)


def write(backend: MemoryBackend, writer: OtherWriter, external: frozenset[str], ignored: frozenset[str]) -> None:
    for ws in backend.store.workspaces.values():
        for email in sorted(writer.synced | ignored):
            member = ws.memberships.get(email)
            if member is None:
                if email not in ignored:
                    continue
                backend.store.users.setdefault(email, User(email, "Sso"))
                member = Membership(email, "end-user", "active")
            groups = (member.groups - external) | (writer.sync_to & external & ws.groups.keys())
            ws.memberships[email] = replace(member, groups=groups)
        first = next((e for e in sorted(writer.synced) if e in ws.memberships), None)
        if first is not None and ws.memberships[first].status != "archived":
            ws.memberships[first] = replace(ws.memberships[first], role=writer.ui_role)


def renamed(plan: ops.Plan, slug: str, groups: frozenset[str]) -> frozenset[str]:
    """Stored group names as they are after the plan's renames, without the groups it destroys."""
    names = {op.old_name: op.new_name for op in plan.for_workspace(slug) if isinstance(op, ops.RenameGroup)}
    doomed = {op.name for op in plan.for_workspace(slug) if isinstance(op, ops.DestroyGroup)}
    return frozenset(names.get(g, g) for g in groups) - doomed


def promoted(before: Membership, after: Membership, ws_after_groups: dict) -> bool:
    """Rule 1 raised an end-user to builder because of a builder-level group."""
    return (before.role, after.role) == ("end-user", "builder") and bool(implying_groups(after.groups, ws_after_groups))


def check(second: DesiredState, plan: ops.Plan, before: Snapshot, after: Snapshot) -> None:
    for slug, desired in second.workspaces.items():
        rules_, was, now = desired.ownership, before.workspaces.get(slug), after.workspaces[slug]
        if was is None:
            continue
        for email, old in was.memberships.items():
            new = now.memberships[email]
            kept_groups = renamed(plan, slug, old.groups)
            if rules_.ignoring(email):
                assert new.status == old.status, email
                assert new.groups == kept_groups, email
                assert new.role == old.role or promoted(old, new, now.groups), email
                continue
            assert new.groups & rules_.external_groups == kept_groups & rules_.external_groups, email
            declared = desired.workspace.memberships.get(email)
            if declared is None or "archived" in (old.status, new.status, declared.status):
                continue
            if not rules_.manage_roles:
                assert new.role == old.role or promoted(old, new, now.groups), email
            if not rules_.manage_groups:
                assert new.groups == kept_groups, email
            if not rules_.manage_metadata:
                assert new.metadata == old.metadata, email
        for email, member in now.memberships.items():
            if member.status != "archived" and member.role == "end-user":
                assert not implying_groups(member.groups, now.groups), (slug, email)


@PROFILE
@given(desired_states(), desired_states(), rules, writers)
def test_what_is_ceded_stays_as_the_other_writer_left_it(
    first: DesiredState, second: DesiredState, chosen: Rules, writer: OtherWriter
) -> None:
    backend = MemoryBackend()
    apply(backend, first)
    second = with_rules(second, chosen)
    external = frozenset().union(*(ws.ownership.external_groups for ws in second.workspaces.values()))
    ignored = frozenset().union(*(ws.ownership.ignore for ws in second.workspaces.values()))
    write(backend, writer, external, ignored)
    before = backend.read_snapshot(SLUGS)

    try:
        plan = apply(backend, second)
    except PlanRefused:
        assert backend.read_snapshot(SLUGS) == before
        return

    assert make_plan(backend, second, None).plan.empty
    check(second, plan, before, backend.read_snapshot(SLUGS))


def test_the_property_sees_ceded_kinds() -> None:
    """The property is not vacuous: a plain case cedes what it should."""
    state = DesiredState(
        {"ws-a": DesiredWorkspace(replace(_workspace(), memberships={"p0@unit.example": _admin()}))},
        {"p0@unit.example": User("p0@unit.example", "Ann")},
        "h",
    )
    ruled = with_rules(state, Rules(frozenset({"p5@unit.example"}), frozenset({"ops"}), (False, True, True)))
    assert ruled.workspaces["ws-a"].ownership.ignore == ("p5@unit.example",)
    assert ruled.workspaces["ws-a"].ownership.external_groups == {"ops"}


def _workspace():  # type: ignore[no-untyped-def]
    from reconciler.state import GroupPermissions, Workspace

    return Workspace("ws-a", "WS-A", groups={"ops": GroupPermissions()})


def _admin() -> Membership:
    return Membership("p0@unit.example", "admin", "active")
