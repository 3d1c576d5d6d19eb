"""Policies on every backend (issue 18): each rule kind denies with its message, located at the rule; a warn
policy lets the plan through and shows in Markdown and JSON; drift reports a separation-of-duties violation made
directly in the database; a saved plan is refused once the policies changed."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
from contract_support import SLUG, VIEW_ALL, Scenario, config, email, group, person
from helpers import KEYRING

from reconciler.cli.drift import render_report
from reconciler.errors import ConfigError, PlanRefused
from reconciler.policies import digest
from reconciler.render.jsonplan import dump_saved_plan, load_saved_plan, plan_to_json_dict
from reconciler.render.markdown import render_markdown
from reconciler.workflow import load_desired, make_plan, plan_drift

EDIT_PAYROLL = {"granular": {"apps": [{"access": "edit", "apps": ["payroll"]}]}}
CONFIGURE_WAREHOUSE = {"granular": {"data_sources": [{"access": "configure", "data_sources": ["warehouse"]}]}}
SOD = {"id": "sod", "message": "Payments need two people", "exclusive": ["pay-create", "pay-approve"]}


def _with_policies(document: dict[str, Any], *policies: dict[str, Any], **workspace: Any) -> dict[str, Any]:
    document["policies"] = list(policies)
    document["workspaces"][0].update(workspace)
    return document


# Each kind, a configuration that breaks it, and what the error must say (after the rule's own message).
KINDS = {
    "admins": (
        {"admins": {"min": 2, "max": 4}},
        [person("alice", "admin"), person("bob", "builder")],
        [],
        {},
        "1 admin (alice@lab.example); at least 2 required",
    ),
    "seats": (
        {"seats": {"builders": 1, "total": 5}},
        [person("alice", "admin"), person("bob", "builder")],
        [],
        {},
        "2 builders (budget 1)",
    ),
    "exclusive": (
        {"exclusive": ["pay-create", "pay-approve"]},
        [person("alice", "admin"), person("bob", "end-user", "pay-create", "pay-approve")],
        [group("pay-create", VIEW_ALL), group("pay-approve", VIEW_ALL)],
        {},
        "bob@lab.example holds pay-approve, pay-create",
    ),
    "allow": (
        {"allow": {"role": "admin", "emails": ["alice@*"]}},
        [person("alice", "admin"), person("carol", "admin")],
        [],
        {},
        "carol@lab.example: role admin is allowed only for alice@*",
    ),
    "require_metadata": (
        {"require_metadata": {"group": "finance", "keys": ["cost_center"]}},
        [person("alice", "admin"), person("bob", "end-user", "finance", metadata={"team": "blue"})],
        [group("finance", VIEW_ALL)],
        {},
        "bob@lab.example lacks cost_center",
    ),
    "forbid-apps": (
        {"forbid": {"access": "edit", "apps": ["payroll"], "except_groups": ["payroll-admins"]}},
        [person("alice", "admin"), person("bob", "end-user", "editors")],
        [group("payroll-admins", EDIT_PAYROLL), group("editors", EDIT_PAYROLL)],
        {"apps": [{"slug": "payroll", "name": "Payroll"}]},
        'bob@lab.example: edit on payroll via role "builder"; edit on payroll via group "editors"',
    ),
    "forbid-data-sources": (
        {"forbid": {"access": "configure", "data_sources": ["warehouse"], "except_groups": ["dba"]}},
        [person("alice", "admin"), person("bob", "end-user", "analysts")],
        [group("dba", CONFIGURE_WAREHOUSE), group("analysts", CONFIGURE_WAREHOUSE)],
        {"data_sources": [{"name": "warehouse"}]},
        'bob@lab.example: configure on warehouse via role "builder"; configure on warehouse via group "analysts"',
    ),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_policy_kind_denies_with_its_message_located_at_the_rule(scenario: Scenario, kind: str) -> None:
    rule, members, groups, registry, found = KINDS[kind]
    policy = {"id": f"rule-{kind}", "level": "deny", "message": f"The {kind} rule", **rule}
    document = config(members, groups)
    document["workspaces"][0].update(registry)
    document["workspaces"][0]["policies"] = [policy]
    before = scenario.snapshot()

    with pytest.raises(ConfigError) as caught:
        scenario.plan(document)

    (problem,) = caught.value.problems
    assert re.fullmatch(r".*config-\d+\.yaml", problem.location.file)
    assert problem.location.line is not None and problem.location.path == "workspaces[0].policies[0].id"
    assert problem.message == f'policy "rule-{kind}" (deny) in workspace lab: The {kind} rule: {found}'
    assert scenario.snapshot() == before


def test_a_deny_policy_is_checked_on_what_the_plan_leaves_alone_too(scenario: Scenario) -> None:
    """Under prune: none a member the file does not manage keeps their groups: the state the plan leads to breaks
    the rule although the configuration alone does not."""
    groups = [group("pay-create", VIEW_ALL), group("pay-approve", VIEW_ALL)]
    scenario.apply(config([person("alice", "admin"), person("bob", "end-user", "pay-create")], groups))
    scenario.under_test.add_to_group(SLUG, email("bob"), "pay-approve")
    document = _with_policies(config([person("alice", "admin")], groups, prune="none"), SOD)

    with pytest.raises(ConfigError) as caught:
        scenario.plan(document)

    (problem,) = caught.value.problems
    assert problem.location.path == "policies[0].id"
    assert "Payments need two people: bob@lab.example holds pay-approve, pay-create" in problem.message
    assert problem.hint == "the state this plan leads to breaks this policy; change it, or the policy"


def test_a_warn_policy_lets_the_plan_through_and_shows_in_markdown_and_json(scenario: Scenario) -> None:
    budget = {"id": "builder-budget", "level": "warn", "message": "Builder seats are paid", "seats": {"builders": 1}}
    document = _with_policies(config([person("alice", "admin"), person("bob", "builder")]), budget)

    plan, _ = scenario.apply(document)

    assert scenario.member("bob").role == "builder"
    (result,) = plan.policy_results
    assert (result.policy, result.level, result.passed, result.detail) == (
        "builder-budget",
        "warn",
        False,
        "2 builders (budget 1)",
    )
    markdown = render_markdown(plan)
    assert "**Policies: 1 checked, 0 passed, 1 warning.**" in markdown
    assert "| `builder-budget` | warn | lab | Builder seats are paid | 2 builders (budget 1) |" in markdown
    document_json = json.loads(json.dumps(plan_to_json_dict(plan)))
    assert document_json["policy_results"] == [
        {
            "policy": "builder-budget",
            "level": "warn",
            "kind": "seats",
            "workspace": "lab",
            "passed": False,
            "message": "Builder seats are paid",
            "detail": "2 builders (budget 1)",
            "members": [],
        }
    ]
    assert document_json["policy_digest"] == plan.policy_digest != ""


def test_drift_reports_a_separation_of_duties_violation_made_in_the_database(scenario: Scenario) -> None:
    groups = [group("pay-create", VIEW_ALL), group("pay-approve", VIEW_ALL)]
    scenario.apply(config([person("alice", "admin"), person("bob", "end-user", "pay-create")], groups))
    # bob stays, unmanaged: nothing the plan would change, so only the policy can tell
    document = _with_policies(config([person("alice", "admin")], groups, prune="none"), SOD)
    scenario.apply(document)
    planned, drifted = plan_drift(scenario.backend, load_desired(scenario.write(document)), scenario.keyring)
    assert not drifted and planned.plan.policy_results[0].passed

    scenario.under_test.add_to_group(SLUG, email("bob"), "pay-approve")  # someone did it in the UI
    planned, drifted = plan_drift(scenario.backend, load_desired(scenario.write(document)), scenario.keyring)

    assert drifted and planned.plan.empty
    finding = "Payments need two people: bob@lab.example holds pay-approve, pay-create"
    text = render_report(planned, "text")
    assert text.startswith("the database breaks a deny policy of the configuration")
    assert f"DENY sod (lab): {finding}" in text
    markdown = render_report(planned, "markdown")
    assert "**Drift detected**: the database breaks a deny policy" in markdown and finding in markdown
    results = json.loads(render_report(planned, "json"))["policy_results"]
    assert [(r["policy"], r["passed"], r["members"]) for r in results] == [("sod", False, [email("bob")])]
    junit = render_report(planned, "junit")
    assert 'name="lab/policy/sod"' in junit and '<failure type="policy"' in junit


def test_a_saved_plan_is_refused_once_the_policies_changed(scenario: Scenario) -> None:
    two_admins = {"id": "admins", "level": "warn", "message": "Two admins", "admins": {"min": 1, "max": 2}}
    document = _with_policies(config([person("alice", "admin"), person("bob", "end-user")]), two_admins)
    planned = scenario.plan(document)
    saved = load_saved_plan(dump_saved_plan(planned.plan, KEYRING), KEYRING)  # signed, as plan --out saves it
    assert saved.policies == planned.plan.policies and saved.policy_digest == planned.plan.policy_digest

    stricter = {**two_admins, "admins": {"min": 2}}
    changed = load_desired(scenario.write(_with_policies(config([person("alice", "admin")]), stricter)))
    before = scenario.snapshot()

    with pytest.raises(PlanRefused) as caught:
        scenario.apply_plan(saved, current_policies=changed.policies)

    assert caught.value.rule == "policies-changed"
    assert caught.value.message.startswith("the policies changed since the plan was made")
    assert scenario.snapshot() == before
    with pytest.raises(PlanRefused) as unverified:
        scenario.apply_plan(saved, current_policies=None)
    assert unverified.value.rule == "policies-unverified"

    scenario.apply_plan(saved, current_policies=load_desired(scenario.write(document)).policies)
    scenario.assert_in_sync(document)


def test_apply_checks_the_recorded_policies_again_under_its_lock(scenario: Scenario) -> None:
    rule = {"id": "one-admin", "message": "At most one admin", "admins": {"max": 1}}
    document = _with_policies(config([person("alice", "admin")]), rule)
    scenario.apply(document)
    bigger = config([person("alice", "admin"), person("carol", "admin")])
    planned = make_plan(scenario.backend, load_desired(scenario.write(bigger)), scenario.keyring)
    policies = load_desired(scenario.write(document)).policies  # recorded, as a saved plan would, never checked
    unchecked = replace(planned.plan, policies=policies, policy_digest=digest(policies))
    before = scenario.snapshot()

    with pytest.raises(PlanRefused) as caught:
        scenario.apply_plan(unchecked, current_policies=unchecked.policies)

    assert caught.value.rule == "policy"
    assert (
        "At most one admin: 2 admins (alice@lab.example, carol@lab.example); at most 1 allowed" in caught.value.message
    )
    assert scenario.snapshot() == before
