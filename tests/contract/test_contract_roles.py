"""Role changes on every backend: implied by a group (with the cause), declared, and the last-admin rail (SPEC 1).

Causes are checked by their start and the group they name, not word for word (their wording is the planner's).
"""

from __future__ import annotations

import pytest
from contract_support import CREATE_APPS, SLUG, VIEW_ALL, Scenario, config, email, group, person

from reconciler.errors import PlanRefused
from reconciler.ops import RoleChange


def role_changes(changes: tuple[RoleChange, ...]) -> list[tuple[str, str, str, str]]:
    return [(c.workspace, c.email, c.old, c.new) for c in changes]


def test_a_group_that_becomes_builder_level_promotes_its_end_user_and_says_why(scenario: Scenario) -> None:
    viewing = config([person("alice", "admin"), person("carol", "end-user", "makers")], [group("makers", VIEW_ALL)])
    creating = config([person("alice", "admin"), person("carol", "end-user", "makers")], [group("makers", CREATE_APPS)])
    scenario.apply(viewing)
    scenario.activate("alice", "carol")
    assert scenario.member("carol").role == "end-user"

    plan, _ = scenario.apply(creating)

    assert role_changes(plan.role_changes) == [(SLUG, email("carol"), "end-user", "builder")]
    assert plan.role_changes[0].cause.startswith('implied by group "makers"')
    carol = scenario.member("carol")
    assert (carol.role, carol.status, carol.groups) == ("builder", "active", frozenset({"makers"}))

    plan, _ = scenario.apply(viewing)

    assert role_changes(plan.role_changes) == [(SLUG, email("carol"), "builder", "end-user")]
    assert 'group "makers"' in plan.role_changes[0].cause
    assert scenario.member("carol").role == "end-user"


def test_joining_a_builder_level_group_promotes_and_leaving_it_demotes(scenario: Scenario) -> None:
    groups = [group("makers", CREATE_APPS)]
    outside = config([person("alice", "admin"), person("dave", "end-user")], groups)
    inside = config([person("alice", "admin"), person("dave", "end-user", "makers")], groups)
    scenario.apply(outside)

    plan, _ = scenario.apply(inside)

    assert role_changes(plan.role_changes) == [(SLUG, email("dave"), "end-user", "builder")]
    assert plan.role_changes[0].cause.startswith('implied by group "makers"')
    assert scenario.member("dave").groups == {"makers"}

    plan, _ = scenario.apply(outside)

    assert role_changes(plan.role_changes) == [(SLUG, email("dave"), "builder", "end-user")]
    assert (scenario.member("dave").role, scenario.member("dave").groups) == ("end-user", frozenset())


def test_a_declared_promotion_and_demotion(scenario: Scenario) -> None:
    scenario.apply(config([person("alice", "admin"), person("bob", "end-user")]))
    scenario.activate("alice", "bob")

    plan, _ = scenario.apply(config([person("alice", "admin"), person("bob", "admin")]))

    assert role_changes(plan.role_changes) == [(SLUG, email("bob"), "end-user", "admin")]
    assert plan.role_changes[0].cause.startswith("declared")
    assert scenario.member("bob").role == "admin"

    plan, _ = scenario.apply(config([person("alice", "admin"), person("bob", "builder")]))

    assert role_changes(plan.role_changes) == [(SLUG, email("bob"), "admin", "builder")]
    assert plan.role_changes[0].cause.startswith("declared")
    assert scenario.member("bob").role == "builder"


def test_demoting_the_last_active_admin_is_refused_and_changes_nothing(scenario: Scenario) -> None:
    start = config([person("alice", "admin"), person("dave", "end-user")])
    scenario.apply(start)
    scenario.activate("alice")  # dave stays invited: an invited admin does not count
    before = scenario.snapshot()
    planned = scenario.plan(config([person("alice", "builder"), person("dave", "admin")]))

    with pytest.raises(PlanRefused) as caught:
        scenario.apply_plan(planned.plan)

    assert caught.value.rule == "last-admin"
    assert "Cannot change role of last present admin" in caught.value.message
    assert scenario.snapshot() == before
    assert scenario.backend.history(1)[0].result == "refused"
    scenario.assert_in_sync(start)


def test_an_optional_flag_key_promotes_and_leaving_it_out_keeps_what_is_stored(scenario: Scenario) -> None:
    """Issue 16: ``workflows.create`` (an optional key) makes a group builder-level on every backend whose storage
    has it; a configuration that leaves the key out leaves the stored value alone; ``false`` demotes again. The
    ToolJet schema before migration 1746705301652 has no column for it: there the key is refused at plan time."""
    automating = group("automators", {"permissions": {"workflows": {"create": True}}})
    silent = group("automators", {})
    stated_off = group("automators", {"permissions": {"workflows": {"create": False}}})
    people = [person("alice", "admin"), person("carol", "end-user", "automators")]
    if getattr(getattr(scenario.under_test, "db", None), "variant", None) == "v3_early":
        with pytest.raises(PlanRefused, match=r"permissions\.workflows\.create needs the column"):
            scenario.plan(config(people, [automating]))
        return
    scenario.apply(config([person("alice", "admin"), person("carol", "end-user")], [silent]))
    scenario.activate("alice", "carol")

    plan, _ = scenario.apply(config(people, [automating]))
    assert role_changes(plan.role_changes) == [(SLUG, email("carol"), "end-user", "builder")]
    assert plan.role_changes[0].cause == 'implied by group "automators" (workflows.create)'

    plan = scenario.plan(config(people, [silent])).plan
    assert plan.ops == () and plan.role_changes == ()  # left out: the stored true stays, and so does the role
    assert scenario.member("carol").role == "builder"

    plan, _ = scenario.apply(config(people, [stated_off]))
    assert role_changes(plan.role_changes) == [(SLUG, email("carol"), "builder", "end-user")]
    scenario.assert_in_sync(config(people, [stated_off]))
