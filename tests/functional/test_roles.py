"""Role rules on a real database, from ToolJet's behaviour (SPEC 1): implied promotions and demotions with
their causes, strict roles, the last active admin, protected users and the mass-change rail.
"""

from __future__ import annotations

import json

import pytest
from helpers import Harness, config_yaml, workspace_yaml

from reconciler.errors import ConfigError, PlanRefused
from reconciler.ops import RoleChange
from reconciler.render.text import NO_CHANGES
from reconciler.roles import LAST_ADMIN_MESSAGE, STRICT_ROLES_MESSAGE

ADMIN = "- {email: alice@acme.com, first_name: Alice, role: admin}\n"


def acme(users: str, groups: str = "", settings: str = "") -> str:
    return config_yaml(workspace_yaml(users=ADMIN + users, groups=groups, settings=settings))


def user(name: str, role: str = "end-user", groups: str = "[]") -> str:
    return f"- {{email: {name}@acme.com, first_name: {name.title()}, role: {role}, groups: {groups}}}\n"


def accept(harness: Harness, *emails: str) -> None:
    """What the invited people do when they accept their invitations."""
    for email in emails:
        harness.execute(
            "UPDATE memberships SET status = 'active', invitation_token_hash = NULL "
            "WHERE user_id = (SELECT id FROM users WHERE email = :e)",
            e=email,
        )


def roles(harness: Harness) -> dict[str, str]:
    return dict(
        harness.rows("SELECT u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id ORDER BY u.email")
    )


# --- implied promotions and demotions ---------------------------------------------------------------------

MAKERS = """
- name: makers
  permissions: {apps: {create: true}}
"""
VIEWERS_VIEW = """
- name: viewers
  granular:
    apps: [{access: view, apps: [invoices]}]
"""
VIEWERS_EDIT = VIEWERS_VIEW.replace("access: view", "access: edit")


def test_end_user_added_to_a_group_with_apps_create_becomes_builder(harness: Harness) -> None:
    harness.apply(acme(user("dave"), MAKERS))
    harness.assert_in_sync()

    planned = harness.plan(acme(user("dave", groups="[makers]"), MAKERS))

    cause = 'implied by group "makers" (apps.create)'
    assert planned.plan.role_changes == (RoleChange("acme", "dave@acme.com", "end-user", "builder", cause),)
    assert harness.text(planned).splitlines()[2:] == [
        'workspace "acme" (Acme Corp)',
        '  ~ user "dave@acme.com"',
        f"      ~ role: end-user -> builder ({cause})",
        "      + groups: makers",
        "",
        "Affected role changes:",
        f"  acme  dave@acme.com  end-user -> builder  {cause}",
        "",
        "Plan: 0 to add, 1 to change, 0 to destroy. 1 role change.",
    ]
    harness.apply_plan(planned.plan)
    assert roles(harness)["dave@acme.com"] == "builder"
    harness.assert_in_sync()


def test_a_group_gaining_edit_promotes_its_end_users_and_losing_it_demotes_them(harness: Harness) -> None:
    members = (
        user("dave", groups="[viewers]")
        + user("erin", groups="[viewers]")
        + user("frank", groups="[viewers]")
        + user("gina", role="builder", groups="[viewers]")
        + user("hugo")
    )
    harness.apply(acme(members, VIEWERS_VIEW))
    accept(harness, "dave@acme.com")  # active or invited, a member's role follows the group alike

    promoted = harness.plan(acme(members, VIEWERS_EDIT))

    cause = 'implied by group "viewers" (edit on invoices)'
    assert promoted.plan.role_changes == tuple(
        RoleChange("acme", f"{name}@acme.com", "end-user", "builder", cause) for name in ("dave", "erin", "frank")
    )
    text = harness.text(promoted)
    assert '  ~ group "viewers"\n      ~ granular.apps: view [invoices] -> edit [invoices]' in text
    assert text.split("Affected role changes:\n")[1].splitlines()[:3] == [
        f"  acme  dave@acme.com   end-user -> builder  {cause}",
        f"  acme  erin@acme.com   end-user -> builder  {cause}",
        f"  acme  frank@acme.com  end-user -> builder  {cause}",
    ]
    assert text.endswith("Plan: 0 to add, 4 to change, 0 to destroy. 3 role changes.")
    harness.apply_plan(promoted.plan)
    assert roles(harness) == {
        "alice@acme.com": "admin",
        "dave@acme.com": "builder",
        "erin@acme.com": "builder",
        "frank@acme.com": "builder",
        "gina@acme.com": "builder",
        "hugo@acme.com": "end-user",
    }
    harness.assert_in_sync()

    demoted = harness.plan(acme(members, VIEWERS_VIEW))

    back = 'no longer implied by group "viewers"; declared end-user'
    assert demoted.plan.role_changes == tuple(
        RoleChange("acme", f"{name}@acme.com", "builder", "end-user", back) for name in ("dave", "erin", "frank")
    )
    assert f"  acme  erin@acme.com   builder -> end-user  {back}" in harness.text(demoted).splitlines()
    harness.apply_plan(demoted.plan)
    assert roles(harness)["dave@acme.com"] == roles(harness)["frank@acme.com"] == "end-user"
    assert roles(harness)["gina@acme.com"] == "builder"  # declared builder: the group never mattered
    harness.assert_in_sync()


def test_leaving_a_builder_level_group_demotes_with_its_cause(harness: Harness) -> None:
    harness.apply(acme(user("dave", groups="[makers]"), MAKERS))
    assert roles(harness)["dave@acme.com"] == "builder"

    planned = harness.plan(acme(user("dave"), MAKERS))

    assert planned.plan.role_changes == (
        RoleChange(
            "acme", "dave@acme.com", "builder", "end-user", 'no longer implied by group "makers"; declared end-user'
        ),
    )
    harness.apply_plan(planned.plan)
    harness.assert_in_sync()


def test_strict_roles_turns_the_promotion_into_a_validation_error(harness: Harness, database_url: str) -> None:
    members = user("dave", groups="[viewers]") + user("erin", groups="[viewers]")
    harness.apply(acme(members, VIEWERS_VIEW, settings="strict_roles: true"))
    before = harness.dump()

    with pytest.raises(ConfigError) as raised:
        harness.plan(acme(members, VIEWERS_EDIT, settings="strict_roles: true"))

    lines = raised.value.lines()
    assert len(lines) == 2
    for line, email in zip(lines, ("dave@acme.com", "erin@acme.com"), strict=True):
        assert STRICT_ROLES_MESSAGE in line
        assert email in line and 'group "viewers" (edit on invoices)' in line
    assert harness.dump() == before

    # The same rule from the command line, for a file that does not set strict_roles.
    harness.write(acme(members, VIEWERS_EDIT))
    result = harness.cli("plan", "-f", str(harness.config_path), "--strict-roles")
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert len(errors) == 2 and all(line.startswith("Error: ") and STRICT_ROLES_MESSAGE in line for line in errors)
    assert "dave@acme.com" in errors[0] and "erin@acme.com" in errors[1] and '"viewers"' in errors[0]
    assert result.stdout == ""
    result = harness.cli("apply", "-f", str(harness.config_path), "--strict-roles", "--auto-approve")
    assert result.exit_code == 1 and STRICT_ROLES_MESSAGE in result.stderr
    assert harness.dump() == before


# --- the last active admin --------------------------------------------------------------------------------


def _refused(harness: Harness, yaml_text: str, rule: str) -> PlanRefused:
    before = harness.dump()
    planned = harness.plan(yaml_text)
    with pytest.raises(PlanRefused) as raised:
        harness.apply_plan(planned.plan)
    assert raised.value.rule == rule
    assert harness.dump() == before
    assert harness.backend.history(1)[0].result == "refused"
    return raised.value


def test_demoting_the_last_active_admin_is_refused(harness: Harness, database_url: str) -> None:
    harness.apply(acme(user("bob", role="admin")))
    accept(harness, "alice@acme.com")  # bob, the other admin, is only invited: he does not count
    demoted = config_yaml(workspace_yaml(users=user("alice", role="builder") + user("bob", role="admin")))

    refusal = _refused(harness, demoted, "last-admin")

    assert refusal.message.startswith(LAST_ADMIN_MESSAGE)
    assert "alice@acme.com" in refusal.message
    before = harness.dump()
    harness.write(demoted)
    result = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve")
    assert result.exit_code == 1
    assert f"Error: {LAST_ADMIN_MESSAGE}" in result.stderr
    assert "~ role: admin -> builder" in result.stdout  # the plan is printed with the rule it breaks
    assert harness.dump() == before

    # Once Bob has accepted, Alice may step down.
    accept(harness, "bob@acme.com")
    harness.apply(demoted)
    harness.assert_in_sync()


def test_archiving_the_last_active_admin_is_refused(harness: Harness) -> None:
    harness.apply(acme(user("bob", role="admin")))
    accept(harness, "alice@acme.com")
    without_alice = config_yaml(workspace_yaml(users=user("bob", role="admin")))
    archived_alice = config_yaml(
        workspace_yaml(users=user("bob", role="admin") + ADMIN.replace("}", ", status: archived}"))
    )

    for yaml_text in (without_alice, archived_alice):
        assert LAST_ADMIN_MESSAGE in _refused(harness, yaml_text, "last-admin").message


def test_a_workspace_without_active_admins_is_not_blocked(harness: Harness) -> None:
    # Every admin is still invited: there is no active admin to lose, so the rule does not apply.
    harness.apply(acme(user("bob", role="admin")))
    harness.apply(config_yaml(workspace_yaml(users=user("alice", role="builder") + user("bob", role="admin"))))
    assert roles(harness)["alice@acme.com"] == "builder"
    harness.assert_in_sync()


def test_admins_may_sit_in_custom_groups_without_a_role_change(harness: Harness) -> None:
    harness.apply(acme("", MAKERS))
    planned = harness.plan(
        config_yaml(workspace_yaml(users=user("alice", role="admin", groups="[makers]"), groups=MAKERS))
    )
    assert planned.plan.role_changes == ()
    harness.apply_plan(planned.plan)
    assert roles(harness)["alice@acme.com"] == "admin"
    harness.assert_in_sync()


# --- protected users --------------------------------------------------------------------------------------


def test_protected_users_are_never_archived_or_demoted(harness: Harness) -> None:
    protected = "protected_users: [carol@acme.com]"
    harness.apply(acme(user("carol", role="builder"), settings=protected))
    accept(harness, "alice@acme.com", "carol@acme.com")

    archived = acme(user("carol", role="builder").replace("}", ", status: archived}"), settings=protected)
    refusal = _refused(harness, archived, "protected-user")
    assert "archive protected user carol@acme.com" in refusal.message

    demoted = acme(user("carol"), settings=protected)
    refusal = _refused(harness, demoted, "protected-user")
    assert "demote (builder -> end-user) protected user carol@acme.com" in refusal.message

    # Promotions are fine, and so is everything once the protection is lifted.
    harness.apply(acme(user("carol", role="admin"), settings=protected))
    harness.apply(acme(user("carol")))
    assert roles(harness)["carol@acme.com"] == "end-user"
    harness.assert_in_sync()


# --- mass change ------------------------------------------------------------------------------------------


def _members(count: int) -> str:
    return "".join(user(f"user{i:02d}") for i in range(count))


def test_archiving_more_than_a_quarter_of_members_needs_allow_mass_change(harness: Harness) -> None:
    harness.apply(acme(_members(11)))  # 12 members with Alice
    assert harness.scalar("SELECT count(*) FROM memberships") == 12

    refusal = _refused(harness, acme(_members(7)), "mass-change")  # 4 of 12 > 25%
    assert "archive 4 of the 12 non-archived members of workspace 'acme'" in refusal.message
    assert refusal.hint is not None and "--allow-mass-change" in refusal.hint

    harness.apply(acme(_members(8)))  # 3 of 12 is exactly 25%: allowed
    harness.apply(acme(_members(11)))  # back to 12 members
    plan, _ = harness.apply(acme(_members(7)), allow_mass_change=True)  # 4 of 12, allowed explicitly
    assert plan.summary["archive"] == 4
    assert harness.scalar("SELECT count(*) FROM memberships WHERE status = 'archived'") == 4
    harness.assert_in_sync()


def test_small_workspaces_and_group_destruction(harness: Harness) -> None:
    groups = "".join(f"- name: g{i}\n" for i in range(10))
    harness.apply(acme(_members(4), groups))
    # 5 of 5 members archived, but the workspace has fewer than 10: no mass-change rail.
    harness.apply(config_yaml(workspace_yaml(users=ADMIN.replace("}", ", groups: [g0]}"), groups=groups)))
    kept = "".join(f"- name: g{i}\n" for i in range(7))

    refusal = _refused(harness, acme("", kept), "mass-change")  # 3 of 10 groups

    assert "destroy 3 of the 10 custom groups of workspace 'acme'" in refusal.message
    harness.apply(acme("", kept), allow_mass_change=True)
    assert harness.text(harness.plan()) == NO_CHANGES


def test_an_unmanaged_builder_level_group_still_implies_builder(harness: Harness) -> None:
    """With prune: none, a member keeps the groups the file does not manage, and their permissions count."""
    harness.apply(acme(user("dave", groups="[makers]") + user("erin", groups="[makers]"), MAKERS))
    assert roles(harness)["dave@acme.com"] == "builder"

    planned = harness.plan(acme(user("dave") + user("erin", role="builder"), settings="prune: none"))

    assert planned.plan.empty and planned.plan.role_changes == ()
    assert planned.plan.unmanaged == ("acme/group/makers",)
    assert harness.groups_of("dave@acme.com") == ["makers"]

    # Once the group is managed again without its flag, the cause names it.
    viewers_only = MAKERS.replace("permissions: {apps: {create: true}}", "permissions: {}")
    planned = harness.plan(acme(user("dave", groups="[makers]") + user("erin", role="builder"), viewers_only))
    assert planned.plan.role_changes == (
        RoleChange(
            "acme", "dave@acme.com", "builder", "end-user", 'no longer implied by group "makers"; declared end-user'
        ),
    )
    harness.apply_plan(planned.plan)
    harness.assert_in_sync()


# --- issue 13: causes, notes, grants, the state after the plan, archived members --------------------------

MAKERS_CAUSE = 'group "makers" (apps.create)'


def test_an_admin_declared_end_user_in_a_builder_level_group_is_a_declared_change(harness: Harness) -> None:
    harness.apply(acme(user("bob", role="admin"), MAKERS))
    accept(harness, "alice@acme.com", "bob@acme.com")

    planned = harness.plan(acme(user("bob", groups="[makers]"), MAKERS))

    cause = f"declared end-user; held at builder by {MAKERS_CAUSE}"
    assert planned.plan.role_changes == (RoleChange("acme", "bob@acme.com", "admin", "builder", cause),)
    text = harness.text(planned)
    assert f"      ~ role: admin -> builder ({cause})" in text.splitlines()
    assert f"  acme  bob@acme.com  admin -> builder  {cause}" in text.splitlines()
    harness.apply_plan(planned.plan)
    assert roles(harness)["bob@acme.com"] == "builder"
    harness.assert_in_sync()


def test_a_declared_builder_set_to_end_user_who_leaves_the_group_names_the_declared_role(harness: Harness) -> None:
    harness.apply(acme(user("dave", role="builder", groups="[makers]"), MAKERS))

    planned = harness.plan(acme(user("dave"), MAKERS))

    # The database keeps the effective role only: it cannot tell whether the YAML said builder before, so the cause
    # says both what no longer implies builder and the declared role the member falls back to.
    (change,) = planned.plan.role_changes
    assert (change.old, change.new) == ("builder", "end-user")
    assert change.cause == 'no longer implied by group "makers"; declared end-user'
    harness.apply_plan(planned.plan)
    harness.assert_in_sync()


def test_a_declared_demotion_that_a_group_absorbs_gets_a_note(harness: Harness) -> None:
    harness.apply(acme(user("dave", role="builder", groups="[makers]"), MAKERS))
    note = (
        f"acme: dave@acme.com is declared end-user but stays builder because of {MAKERS_CAUSE}; "
        "to make them an end-user, take the group out of their entry (as ToolJet's Edit role does)"
    )

    planned = harness.plan(acme(user("dave", groups="[makers]"), MAKERS))

    assert planned.plan.empty and harness.text(planned) == NO_CHANGES
    assert planned.plan.notes == (note,)
    result = harness.cli("plan", "-f", str(harness.config_path), "--detailed-exitcode")
    assert (result.exit_code, result.stdout.strip()) == (0, NO_CHANGES)
    assert result.stderr == f"Note: {note}\n"
    result = harness.cli("plan", "-f", str(harness.config_path), "--format", "json")
    assert json.loads(result.stdout)["notes"] == [note]
    result = harness.cli("plan", "-f", str(harness.config_path), "--format", "markdown")
    assert f"- {note}" in result.stdout.splitlines()


def test_admin_handover_in_one_apply_is_accepted(harness: Harness) -> None:
    """Rule 4 counts the active admins *after* the plan: promoting an active member and demoting (or archiving)
    the current admin leaves one."""
    harness.apply(acme(user("bob", role="builder") + user("carol", role="builder")))
    accept(harness, "alice@acme.com", "bob@acme.com")
    alice_archived = ADMIN.replace("}", ", status: archived}")

    handover = config_yaml(workspace_yaml(users=user("alice", role="builder") + user("bob", role="admin")))
    harness.apply(handover)
    assert roles(harness)["alice@acme.com"] == "builder" and roles(harness)["bob@acme.com"] == "admin"
    harness.assert_in_sync()

    # Back, then the other way out: the old admin archived in the same apply.
    harness.apply(acme(user("bob", role="builder")))
    harness.apply(config_yaml(workspace_yaml(users=alice_archived + user("bob", role="admin"))))
    assert harness.membership("alice@acme.com")["status"] == "archived"
    assert roles(harness)["bob@acme.com"] == "admin"
    harness.assert_in_sync()

    # An invited member promoted to admin does not count: handing over to Carol is refused.
    to_carol = config_yaml(workspace_yaml(users=user("bob", role="builder") + user("carol", role="admin")))
    refusal = _refused(harness, to_carol, "last-admin")
    assert "bob@acme.com" in refusal.message


def test_strict_roles_never_promotes_an_archived_end_user(harness: Harness) -> None:
    archived = user("erin", groups="[viewers]").replace("}", ", status: archived}")
    for settings in ("strict_roles: true", ""):
        harness.execute("DELETE FROM group_members")
        harness.execute(
            "DELETE FROM memberships WHERE user_id <> (SELECT id FROM users WHERE email = 'alice@acme.com')"
        )
        harness.apply(acme(archived, VIEWERS_VIEW, settings=settings))
        assert harness.membership("erin@acme.com")["status"] == "archived"

        planned = harness.plan(acme(archived, VIEWERS_EDIT, settings=settings))

        assert planned.plan.role_changes == ()
        harness.apply_plan(planned.plan)
        assert roles(harness)["erin@acme.com"] == "end-user"
        harness.assert_in_sync()
    # Created archived in a builder-level group: stored as declared, strict or not.
    harness.execute("DELETE FROM group_members")
    harness.execute("DELETE FROM memberships WHERE user_id <> (SELECT id FROM users WHERE email = 'alice@acme.com')")
    harness.apply(acme(archived, VIEWERS_EDIT, settings="strict_roles: true"))
    assert roles(harness)["erin@acme.com"] == "end-user"
    harness.assert_in_sync()


def test_one_rule_for_every_archived_member_and_export_then_plan_is_empty(harness: Harness) -> None:
    from reconciler.export import dump_config, snapshot_to_config

    erin = user("erin", groups="[viewers]").replace("}", ", status: archived}")
    harness.apply(acme(user("dave", groups="[viewers]") + erin, VIEWERS_VIEW))
    harness.apply(acme(erin, VIEWERS_VIEW))  # prune archives Dave, who keeps his group
    assert harness.membership("dave@acme.com")["status"] == "archived"

    planned = harness.plan(acme(erin, VIEWERS_EDIT))

    # Neither the pruned nor the declared-archived member is promoted by the group: they have no access.
    assert planned.plan.role_changes == ()
    harness.apply_plan(planned.plan)
    assert (roles(harness)["dave@acme.com"], roles(harness)["erin@acme.com"]) == ("end-user", "end-user")
    harness.assert_in_sync()

    snapshot = harness.backend.read_snapshot(["acme"], harness.keyring)
    exported = dump_config(snapshot_to_config(snapshot, with_metadata=False), with_metadata=False)
    again = harness.plan(exported)
    assert again.plan.empty, harness.text(again)

    # Back from the archive, the group's rule applies again, and the role section says so.
    harness.write(acme(erin + user("dave", groups="[viewers]"), VIEWERS_EDIT))
    back = harness.plan()
    cause = 'implied by group "viewers" (edit on invoices); on unarchive'
    assert back.plan.role_changes == (RoleChange("acme", "dave@acme.com", "end-user", "builder", cause),)
    assert f"  acme  dave@acme.com  end-user -> builder  {cause}" in harness.text(back).splitlines()
    harness.apply_plan(back.plan)
    assert roles(harness)["dave@acme.com"] == "builder"
    harness.assert_in_sync()


def test_promoting_more_than_a_quarter_of_members_needs_allow_mass_change(harness: Harness) -> None:
    members = "".join(user(f"user{i:02d}", groups="[viewers]") for i in range(11))  # 12 members with Alice
    harness.apply(acme(members, VIEWERS_VIEW))

    refusal = _refused(harness, acme(members, VIEWERS_EDIT), "mass-change")

    assert "change the role of 11 of the 12 non-archived members of workspace 'acme'" in refusal.message
    assert refusal.hint is not None and "--allow-mass-change" in refusal.hint
    harness.apply(acme(members, VIEWERS_EDIT), allow_mass_change=True)
    assert set(roles(harness).values()) == {"admin", "builder"}
    # Demoting 3 of 12 (exactly 25%) is allowed.
    demoted = "".join(user(f"user{i:02d}", groups="[viewers]" if i >= 3 else "[]") for i in range(11))
    plan, _ = harness.apply(acme(demoted, VIEWERS_EDIT))
    assert len(plan.role_changes) == 3
    harness.assert_in_sync()


def test_rail_warnings_are_in_the_json_and_markdown_plans(harness: Harness) -> None:
    members = "".join(user(f"user{i:02d}", groups="[viewers]") for i in range(11))
    harness.apply(acme(members, VIEWERS_VIEW))
    harness.write(acme(members, VIEWERS_EDIT))

    result = harness.cli("plan", "-f", str(harness.config_path), "--format", "json")

    assert result.exit_code == 0
    (warning,) = json.loads(result.stdout)["warnings"]
    assert warning["rule"] == "mass-change"
    assert warning["message"].startswith("the plan would change the role of 11 of the 12 non-archived members")
    assert "Warning: the plan would change the role of 11" in result.stderr
    result = harness.cli("plan", "-f", str(harness.config_path), "--format", "markdown")
    assert "**Safety rails** (apply refuses this plan):" in result.stdout
    assert "- `mass-change`: the plan would change the role of 11 of the 12" in result.stdout

    # A refusal that no flag overrides is in the document too (and plan exits 1).
    accept(harness, "alice@acme.com")
    new_admin = user("alice", role="builder") + user("bob", role="admin")  # Bob is only invited: he does not count
    harness.write(config_yaml(workspace_yaml(users=new_admin + members, groups=VIEWERS_VIEW)))
    result = harness.cli("plan", "-f", str(harness.config_path), "--format", "json")
    assert result.exit_code == 1 and LAST_ADMIN_MESSAGE in result.stderr
    assert [w["rule"] for w in json.loads(result.stdout)["warnings"]] == ["last-admin"]


# --- the optional flags of issue 16 ----------------------------------------------------------------------------

AUTOMATORS = """
- name: automators
  permissions:
    apps: {promote: true}
    workflows: {create: true}
    tooljet_database: {create: true, update: true, delete: true}
    modules: {delete: true}
"""


def test_the_optional_flags_are_stored_make_a_group_builder_level_and_round_trip(harness: Harness) -> None:
    planned = harness.plan(acme(user("dave", groups="[automators]"), AUTOMATORS))
    assert (
        'dave@acme.com   (new) -> builder  builder via group "automators" (apps.promote, workflows.create, '
        "tooljet_database.create, tooljet_database.update, tooljet_database.delete, modules.delete); "
        "declared end-user"
    ) in harness.text(planned)
    harness.apply(acme(user("dave", groups="[automators]"), AUTOMATORS))
    assert harness.rows(
        "SELECT workflow_create, workflow_delete, app_promote, app_release, tooljet_database_update, module_delete "
        "FROM groups WHERE name = 'automators'"
    ) == [(True, False, True, False, True, True)]
    assert roles(harness)["dave@acme.com"] == "builder"
    harness.assert_in_sync()

    exported = harness.directory / "exported.yaml"
    assert harness.cli("export", "-o", str(exported)).exit_code == 0
    assert "tooljet_database:" in exported.read_text(encoding="utf-8")
    again = harness.cli("plan", "-f", str(exported), "--detailed-exitcode")
    assert again.exit_code == 0 and NO_CHANGES in again.output

    # a configuration that leaves the keys out keeps what is stored: no change, and the group stays builder-level
    planned = harness.plan(acme(user("dave", groups="[automators]"), "- name: automators\n"))
    assert planned.plan.ops == ()
    assert roles(harness)["dave@acme.com"] == "builder"
