"""Groups and memberships over time on every backend: rename, archive by prune, unarchive, the mass-change rail."""

from __future__ import annotations

import pytest
from contract_support import SLUG, VIEW_ALL, Scenario, config, email, group, person

from reconciler import ops
from reconciler.errors import PlanRefused
from reconciler.state import Metadata


def test_a_rename_with_previously_keeps_the_group_and_its_members(scenario: Scenario) -> None:
    members = [person("alice", "admin"), person("bob", "builder", "viewers"), person("carol", "end-user", "viewers")]
    scenario.apply(config(members, [group("viewers", VIEW_ALL)]))

    renamed = [person("alice", "admin"), person("bob", "builder", "readers"), person("carol", "end-user", "readers")]
    plan, _ = scenario.apply(config(renamed, [group("readers", VIEW_ALL, previously=["viewers"])]))

    assert plan.ops == (ops.RenameGroup(workspace=SLUG, old_name="viewers", new_name="readers"),)
    ws = scenario.snapshot().workspaces[SLUG]
    assert set(ws.groups) == {"readers"}
    assert {e: m.groups for e, m in ws.memberships.items() if m.groups} == {
        email("bob"): {"readers"},
        email("carol"): {"readers"},
    }


def test_prune_archives_a_removed_member_and_declaring_it_again_invites_it(scenario: Scenario) -> None:
    carol = person("carol", "end-user", "viewers", metadata={"team": "blue"})
    groups = [group("viewers", VIEW_ALL)]
    scenario.apply(config([person("alice", "admin"), carol], groups))
    scenario.activate("alice", "carol")

    plan, _ = scenario.apply(config([person("alice", "admin")], groups))

    assert [(type(op), op.address) for op in plan.ops] == [(ops.ArchiveMembership, f"{SLUG}/user/{email('carol')}")]
    archived = scenario.member("carol")
    assert (archived.status, archived.role, archived.groups) == ("archived", "end-user", {"viewers"})
    assert archived.metadata == Metadata.of({"team": "blue"})  # groups and metadata are kept

    carol_again = person("carol", "end-user", "viewers")  # no metadata key: left as it is
    plan, result = scenario.apply(config([person("alice", "admin"), carol_again], groups))

    assert [type(op) for op in plan.ops] == [ops.UnarchiveMembership]
    assert result.invitations == (email("carol"),)
    back = scenario.member("carol")
    assert (back.status, back.role, back.groups) == ("invited", "end-user", {"viewers"})
    assert back.metadata == Metadata.of({"team": "blue"})


def test_archiving_more_than_a_quarter_of_ten_or_more_members_needs_allow_mass_change(scenario: Scenario) -> None:
    staff = [person(f"user{n:02d}", "end-user") for n in range(11)]
    scenario.apply(config([person("alice", "admin"), *staff]))
    scenario.activate("alice")
    smaller = config([person("alice", "admin"), *staff[4:]])  # 4 of 12 members archived: more than 25 %
    before = scenario.snapshot()
    planned = scenario.plan(smaller)

    with pytest.raises(PlanRefused) as caught:
        scenario.apply_plan(planned.plan)

    assert caught.value.rule == "mass-change"
    assert scenario.snapshot() == before

    scenario.apply(smaller, allow_mass_change=True)

    statuses = {e: m.status for e, m in scenario.snapshot().workspaces[SLUG].memberships.items()}
    assert sorted(e for e, status in statuses.items() if status == "archived") == [p["email"] for p in staff[:4]]
