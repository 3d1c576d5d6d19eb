"""Sharing a workspace with other writers (issue 17), on every backend: an SSO-synced external group, ignore
patterns, prune: confirm, a workspace split over several files, group templates.

The other writers are ToolJet's SSO sign-ins and group sync (server/src/modules/auth/util.service.ts:
``findOrCreateUser`` creates an end-user member at the first sign-in, ``syncUserAndGroups`` takes the member out
of every custom group and puts it into the IdP's groups); the adapters write the rows they write.
"""

from __future__ import annotations

import pytest
from contract_support import CREATE_APPS, SLUG, VIEW_ALL, Scenario, config, email, group, person

from reconciler import ops
from reconciler.errors import PlanRefused
from reconciler.render.jsonplan import dump_saved_plan, load_saved_plan

SSO_ENG = group("sso-eng", VIEW_ALL, members="external")
IGNORE_SSO = ["sso-*@lab.example"]  # members that sign-ins create: never this configuration's


def sso_config(sso_eng: dict = SSO_ENG, **settings: object) -> dict:
    people = [
        person("alice", "admin"),
        person("bob", "end-user"),
        person("carol", "end-user", "viewers"),
        person("dave", "end-user"),
    ]
    return config(people, [sso_eng, group("viewers", VIEW_ALL)], ignore=IGNORE_SSO, **settings)


def ceded(plan: ops.Plan) -> dict[str, str]:
    return {entry.address: entry.kind for entry in plan.ceded}


def groups_of(scenario: Scenario) -> dict[str, frozenset[str]]:
    return {e: m.groups for e, m in scenario.snapshot().workspaces[SLUG].memberships.items()}


def test_an_sso_synced_external_group_changes_in_the_database_without_ops_or_drift(scenario: Scenario) -> None:
    scenario.apply(sso_config())
    scenario.activate("alice")

    scenario.sync_groups("bob", "sso-eng")  # sign-ins with group sync
    scenario.sso_join("sso-erin")  # a first sign-in creates a member
    scenario.sync_groups("sso-erin", "sso-eng")
    planned = scenario.plan(sso_config())

    assert planned.plan.empty
    assert ceded(planned.plan) == {f"{SLUG}/group/sso-eng": "external", f"{SLUG}/user/{email('sso-erin')}": "ignored"}
    assert "members: external (2 members" in {e.address: e.reason for e in planned.plan.ceded}[f"{SLUG}/group/sso-eng"]

    scenario.sync_groups("bob")  # bob left the IdP group, dave joined it
    scenario.sync_groups("dave", "sso-eng")
    planned = scenario.plan(sso_config())

    assert planned.plan.empty
    assert groups_of(scenario) == {
        email("alice"): frozenset(),
        email("bob"): frozenset(),
        email("carol"): {"viewers"},
        email("dave"): {"sso-eng"},
        email("sso-erin"): {"sso-eng"},
    }


def test_a_definition_change_of_an_external_group_promotes_its_end_users_with_cause(scenario: Scenario) -> None:
    scenario.apply(sso_config())
    scenario.activate("alice")
    scenario.sync_groups("bob", "sso-eng")
    scenario.sso_join("sso-erin")
    scenario.sync_groups("sso-erin", "sso-eng")
    builder_level = sso_config(group("sso-eng", CREATE_APPS, members="external"))

    plan, _ = scenario.apply(builder_level)

    cause = 'implied by group "sso-eng" (apps.create)'
    assert [(c.email, c.old, c.new, c.cause) for c in plan.role_changes] == [
        (email("bob"), "end-user", "builder", cause),
        (email("sso-erin"), "end-user", "builder", cause),  # ignored, but rule 1 holds for every member
    ]
    assert {op.email for op in plan.ops if isinstance(op, ops.UpdateMembership)} == {email("bob"), email("sso-erin")}
    roles = {e: m.role for e, m in scenario.snapshot().workspaces[SLUG].memberships.items()}
    assert (roles[email("bob")], roles[email("sso-erin")], roles[email("dave")]) == ("builder", "builder", "end-user")
    assert groups_of(scenario)[email("bob")] == {"sso-eng"}  # the definition changed, not the membership

    plan, _ = scenario.apply(sso_config())  # back to view-only: the declared end-user falls back

    assert [(c.email, c.cause) for c in plan.role_changes] == [
        (email("bob"), 'no longer implied by group "sso-eng"; declared end-user')
    ]
    assert scenario.member("sso-erin").role == "builder"  # ignored: never demoted by this configuration


def test_ignore_patterns_protect_a_service_account_through_prune_and_mass_changes(scenario: Scenario) -> None:
    staff = [person(f"user{n:02d}", "end-user", "ops") for n in range(11)]
    rails = {"mass_change_share": 0.5, "mass_change_min": 4}

    def with_staff(kept: list[dict], groups: list[dict]) -> dict:
        return config([person("alice", "admin"), *kept], groups, ignore=["svc-*@lab.example"], rails=rails)

    scenario.apply(with_staff(staff, [group("ops", VIEW_ALL), group("old", VIEW_ALL)]))
    scenario.activate("alice")
    scenario.sso_join("svc-bot", source="ldap")  # a service account another tool created
    scenario.sync_groups("svc-bot", "ops", "old")
    smaller = with_staff(staff[7:], [group("ops", VIEW_ALL)])  # 7 of the 12 managed members, and group "old"
    before = scenario.snapshot()
    planned = scenario.plan(smaller)

    assert f"{SLUG}/user/{email('svc-bot')}" not in {op.address for op in planned.plan.ops}
    with pytest.raises(PlanRefused) as caught:
        scenario.apply_plan(planned.plan)

    assert caught.value.rule == "mass-change"
    assert "archive 7 of the 12 non-archived members of workspace 'lab' (more than 50%)" in caught.value.message
    assert scenario.snapshot() == before

    scenario.apply(smaller, allow_mass_change=True)

    bot = scenario.member("svc-bot")
    assert (bot.status, bot.role, bot.groups) == ("active", "end-user", {"ops"})  # only the destroyed group is gone
    statuses = {e: m.status for e, m in scenario.snapshot().workspaces[SLUG].memberships.items()}
    assert sorted(e for e, s in statuses.items() if s == "archived") == [p["email"] for p in staff[:7]]


def test_prune_confirm_plans_removals_but_applies_them_only_with_allow_removals(scenario: Scenario) -> None:
    people = [person("alice", "admin"), person("bob", "end-user"), person("carol", "end-user", "old")]
    scenario.apply(config(people, [group("old", VIEW_ALL)], prune="confirm"))
    scenario.activate("alice")
    fewer = config([person("alice", "admin"), person("bob", "end-user", status="archived")], prune="confirm")
    before = scenario.snapshot()
    planned = scenario.plan(fewer)

    assert sorted((type(op).__name__, op.address) for op in planned.plan.ops) == [
        ("ArchiveMembership", f"{SLUG}/user/{email('bob')}"),  # declared: asked for, not a removal
        ("ArchiveMembership", f"{SLUG}/user/{email('carol')}"),
        ("DestroyGroup", f"{SLUG}/group/old"),
    ]
    assert [w.rule for w in planned.plan.warnings] == ["removals"]
    saved = load_saved_plan(dump_saved_plan(planned.plan, scenario.keyring), scenario.keyring, allow_unsigned=True)
    for plan, command in ((planned.plan, "apply"), (saved, "apply PLANFILE")):
        with pytest.raises(PlanRefused) as caught:
            scenario.apply_plan(plan, command=command)
        assert caught.value.rule == "removals"
        assert "(1 archive of a member and 1 group destruction)" in caught.value.message
    assert scenario.snapshot() == before
    assert scenario.backend.history(1)[0].result == "refused"

    scenario.apply_plan(saved, command="apply PLANFILE", allow_removals=True)

    scenario.assert_in_sync(fewer)
    assert (scenario.member("bob").status, scenario.member("carol").status) == ("archived", "archived")
    assert scenario.snapshot().workspaces[SLUG].groups == {}


def test_a_workspace_split_over_three_files_in_two_folders(scenario: Scenario) -> None:
    def part(**entries: object) -> dict:
        return {"version": 1, "workspaces": [{"slug": SLUG, **entries}]}

    files = {
        "lab.yaml": part(name="Lab", settings={"prune": "archive"}, users=[person("alice", "admin")]),
        "teams/finance/lab.yaml": part(
            groups=[group("finance", VIEW_ALL)], users=[person("bob", "end-user", "finance")]
        ),
        "teams/sales/lab.yaml": part(
            groups=[group("sales", CREATE_APPS)], users=[person("carol", "end-user", "sales", "finance")]
        ),
    }
    plan, _ = scenario.apply(scenario.write_files(files))

    assert [(c.email, c.role) for c in plan.grants] == [(email("alice"), "admin"), (email("carol"), "builder")]
    assert groups_of(scenario) == {
        email("alice"): frozenset(),
        email("bob"): {"finance"},
        email("carol"): {"finance", "sales"},
    }

    files["teams/sales/lab.yaml"]["workspaces"][0]["users"].append(person("dave", "end-user", "sales"))
    plan, _ = scenario.apply(scenario.write_files(files))

    assert [op.address for op in plan.ops] == [f"user/{email('dave')}", f"{SLUG}/user/{email('dave')}"]
    assert scenario.member("dave").groups == {"sales"}


def test_a_template_used_by_three_workspaces_with_one_override(scenario: Scenario) -> None:
    slugs = (SLUG, "lab-eu", "lab-us")

    def workspaces(finance: dict) -> dict:
        entries = []
        for slug in slugs:
            used = {"name": "finance", "template": "finance", **(CREATE_APPS if slug == "lab-us" else {})}
            users = [person("alice", "admin"), person("bob", "end-user", "finance")]
            entries.append({"slug": slug, "name": slug.upper(), "groups": [used], "users": users})
        return {"version": 1, "templates": {"groups": [finance]}, "workspaces": entries}

    scenario.apply(workspaces(group("finance", VIEW_ALL)))

    snapshot = scenario.backend.read_snapshot(list(slugs), scenario.keyring)
    finance = {slug: snapshot.workspaces[slug].groups["finance"] for slug in slugs}
    assert finance[SLUG] == finance["lab-eu"]
    assert finance["lab-us"].flags == {"apps.create"}  # the override: the template's grants, its own flag
    assert finance["lab-us"].app_grants == finance[SLUG].app_grants
    roles = {slug: snapshot.workspaces[slug].memberships[email("bob")].role for slug in slugs}
    assert roles == {SLUG: "end-user", "lab-eu": "end-user", "lab-us": "builder"}

    hidden = group("finance", {"granular": {"apps": [{"access": "view", "apps": "all", "hide_from_dashboard": True}]}})
    plan, _ = scenario.apply(workspaces(hidden))  # one edit of the template changes the group everywhere

    assert sorted(op.workspace for op in plan.ops if isinstance(op, ops.UpdateGroup)) == sorted(slugs)
    snapshot = scenario.backend.read_snapshot(list(slugs), scenario.keyring)
    us = snapshot.workspaces["lab-us"].groups["finance"]
    assert (us.flags, [g.hide_from_dashboard for g in us.app_grants]) == ({"apps.create"}, [True])
