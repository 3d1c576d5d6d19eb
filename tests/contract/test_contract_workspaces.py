"""Creating workspaces, and demoting members, on every backend (issue 16, H1/H2 and H3): a backend that declares
``SUPPORTS_WORKSPACE_CREATION`` creates a declared workspace; one that does not (ToolJet) refuses the plan,
naming the workspace and saying how to adopt one, and nothing changes."""

from __future__ import annotations

import pytest
from contract_support import SLUG, Scenario, config, email, person

from reconciler import ops
from reconciler.errors import PlanRefused


def test_a_declared_workspace_is_created_or_the_plan_says_how_to_adopt_it(scenario: Scenario) -> None:
    document = config([person("alice", "admin"), person("bob", "end-user")])
    before = scenario.backend.list_workspaces()

    if not scenario.backend.SUPPORTS_WORKSPACE_CREATION:
        with pytest.raises(PlanRefused) as caught:
            scenario.plan(document, adopt=False)
        [line] = caught.value.lines()
        assert line.endswith(
            f"slug: workspace '{SLUG}' does not exist in the database, and the {scenario.backend.name} backend "
            "does not create workspaces"
        )
        assert "export" in (caught.value.hint or "")
        assert scenario.backend.list_workspaces() == before
        return

    planned = scenario.plan(document, adopt=False)
    assert isinstance(planned.plan.ops[0], ops.CreateWorkspace) and planned.plan.ops[0].workspace == SLUG
    scenario.apply_plan(planned.plan)
    scenario.assert_in_sync(document)
    assert SLUG in scenario.backend.list_workspaces()
    assert scenario.member("alice").role == "admin"


def test_transfer_apps_to_moves_nothing_when_the_demoted_member_owns_no_apps(scenario: Scenario) -> None:
    """Every scenario member is new, so owns no app on any backend: the demotion is planned alone."""
    scenario.apply(config([person("alice", "admin"), person("bob", "builder")]))

    plan, _ = scenario.apply(
        config([person("alice", "admin"), person("bob", "end-user")], transfer_apps_to=email("alice"))
    )

    assert [type(op) for op in plan.ops] == [ops.UpdateMembership]
    assert scenario.member("bob").role == "end-user"
