"""The lifecycle scenarios of issue 3 on a real database (SQLite, and PostgreSQL when configured).

Each scenario applies configurations through the library, checks what the plan said and what the tables hold,
and ends with the invariant of SPEC 4: a fresh plan prints ``No changes.``.
"""

from __future__ import annotations

import json

from helpers import Harness, config_yaml, workspace_yaml

from reconciler import ops
from reconciler.render.jsonplan import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import NO_CHANGES

SECRET_DEPARTMENT = "dept-Wombat-0451"
SECRET_API_KEY = "sk-live-Narwhal-8812"
SECRET_NEW_KEY = "sk-live-Axolotl-2024"

GROUPS = """
- name: accounting
  granular:
    apps: [{access: view, apps: [invoices]}]
- name: legacy
  granular:
    apps: [{access: view, apps: [crm]}]
"""

ALICE = f"""
- email: alice@acme.com
  first_name: Alice
  last_name: Smith
  role: admin
  groups: [accounting]
  metadata: {{department: {SECRET_DEPARTMENT}}}
"""
BOB = f"""
- email: Bob@Acme.com
  first_name: Bob
  role: end-user
  groups: [accounting, legacy]
  metadata: {{api_key: {SECRET_API_KEY}}}
"""
CAROL = """
- email: carol@acme.com
  first_name: Carol
  role: builder
"""


def acme(users: str = ALICE + BOB + CAROL, groups: str = GROUPS, settings: str = "") -> str:
    return config_yaml(workspace_yaml(users=users, groups=groups, settings=settings))


def applied(harness: Harness, yaml_text: str) -> ops.Plan:
    plan, _ = harness.apply(yaml_text)
    harness.assert_in_sync()
    return plan


def group_id(harness: Harness, name: str, slug: str = "acme") -> int | None:
    return harness.scalar(
        "SELECT g.id FROM groups g JOIN workspaces w ON w.id = g.workspace_id WHERE w.slug = :s AND g.name = :n",
        s=slug,
        n=name,
    )


# --- create, add, change ----------------------------------------------------------------------------


def test_create_from_an_empty_database(harness: Harness) -> None:
    planned = harness.plan(acme())
    text = harness.text(planned)
    assert text.startswith('reconciler will perform the following actions:\n\nworkspace "acme" (Acme Corp)\n')
    for line in (
        '  + workspace "acme" (Acme Corp)',
        '  + app "invoices" (Invoices)',
        '  + data source "warehouse"',
        '  + group "accounting"',
        "      + granular.apps: view [invoices]",
        '  + user account "bob@acme.com" (Bob)',
        '  + user "alice@acme.com" (admin, invited)',
        "      + groups: accounting",
        "      + metadata.department: (sensitive value)",
        '  + user "bob@acme.com" (end-user, invited)',
        "      + groups: accounting, legacy",
        '  + user "carol@acme.com" (builder, invited)',
    ):
        assert line in text.splitlines()
    # New memberships are not role changes, but new admins and builders are in the role section (grants).
    assert text.split("Affected role changes:\n")[1].splitlines() == [
        "  acme  alice@acme.com  (new) -> admin    declared",
        "  acme  carol@acme.com  (new) -> builder  declared",
        "",
        "Plan: 12 to add, 0 to change, 0 to destroy. 0 role changes, 2 new privileged members.",
    ]
    assert SECRET_DEPARTMENT not in text

    result = harness.apply_plan(planned.plan)

    assert sorted(result.invitations) == ["alice@acme.com", "bob@acme.com", "carol@acme.com"]
    assert harness.rows("SELECT email, first_name, last_name FROM users ORDER BY email") == [
        ("alice@acme.com", "Alice", "Smith"),
        ("bob@acme.com", "Bob", ""),
        ("carol@acme.com", "Carol", ""),
    ]
    bob = harness.membership("bob@acme.com")
    assert (bob["role"], bob["status"]) == ("end-user", "invited")
    assert len(bob["invitation_token_hash"]) == 64
    assert harness.groups_of("bob@acme.com") == ["accounting", "legacy"]
    assert harness.metadata_of("bob@acme.com") == {"api_key": SECRET_API_KEY}
    assert harness.metadata_of("carol@acme.com") is None
    blobs = "".join(b for (b,) in harness.rows("SELECT ciphertext FROM membership_metadata"))
    assert SECRET_API_KEY not in blobs and SECRET_DEPARTMENT not in blobs
    harness.assert_in_sync()


def test_add_a_user(harness: Harness) -> None:
    applied(harness, acme())
    dave = "- {email: dave@acme.com, first_name: Dave, role: end-user, groups: [legacy]}\n"

    planned = harness.plan(acme(ALICE + BOB + CAROL + dave))

    assert harness.text(planned).splitlines()[2:] == [
        'workspace "acme" (Acme Corp)',
        '  + user account "dave@acme.com" (Dave)',
        '  + user "dave@acme.com" (end-user, invited)',
        "      + groups: legacy",
        "",
        "Plan: 2 to add, 0 to change, 0 to destroy. 0 role changes.",
    ]
    harness.apply_plan(planned.plan)
    assert harness.membership("dave@acme.com")["status"] == "invited"
    assert harness.groups_of("dave@acme.com") == ["legacy"]
    harness.assert_in_sync()


def test_change_a_role(harness: Harness) -> None:
    applied(harness, acme())

    planned = harness.plan(acme(ALICE + BOB + CAROL.replace("role: builder", "role: end-user")))

    assert harness.text(planned).splitlines()[2:] == [
        'workspace "acme" (Acme Corp)',
        '  ~ user "carol@acme.com"',
        "      ~ role: builder -> end-user",
        "",
        "Affected role changes:",
        "  acme  carol@acme.com  builder -> end-user  declared",
        "",
        "Plan: 0 to add, 1 to change, 0 to destroy. 1 role change.",
    ]
    harness.apply_plan(planned.plan)
    assert harness.membership("carol@acme.com")["role"] == "end-user"
    harness.assert_in_sync()


def test_change_user_names_across_workspaces(harness: Harness) -> None:
    second = workspace_yaml(slug="beta", name="Beta", users=ALICE, groups=GROUPS)
    applied(harness, config_yaml(workspace_yaml(users=ALICE + BOB, groups=GROUPS), second))
    renamed = ALICE.replace("last_name: Smith", "last_name: Jones")

    planned = harness.plan(
        config_yaml(
            workspace_yaml(users=renamed + BOB, groups=GROUPS),
            workspace_yaml(slug="beta", name="Beta", users=renamed, groups=GROUPS),
        )
    )

    assert [type(op) for op in planned.plan.ops] == [ops.UpdateUser]
    assert '  ~ user account "alice@acme.com"\n      ~ last_name: "Smith" -> "Jones"' in harness.text(planned)
    harness.apply_plan(planned.plan)
    assert harness.rows("SELECT first_name, last_name FROM users WHERE email = 'alice@acme.com'") == [
        ("Alice", "Jones")
    ]
    harness.assert_in_sync()


def test_change_workspace_name_registry_and_group_permissions(harness: Harness) -> None:
    applied(harness, acme())
    groups = GROUPS.replace("view, apps: [crm]", "view, apps: [crm, invoices]")
    yaml_text = config_yaml(
        workspace_yaml(
            users=ALICE + BOB + CAROL,
            groups=groups,
            name="Acme Inc",
            apps="[{slug: invoices, name: Billing}, {slug: crm, name: CRM}, {slug: hr, name: HR}]",
        )
    )

    planned = harness.plan(yaml_text)

    text = harness.text(planned)
    assert text.splitlines()[2:8] == [
        'workspace "acme" (Acme Inc)',
        '  ~ workspace "acme"',
        '      ~ name: "Acme Corp" -> "Acme Inc"',
        '  + app "hr" (HR)',
        '  ~ app "invoices"',
        '      ~ name: "Invoices" -> "Billing"',
    ]
    assert '  ~ group "legacy"\n      ~ granular.apps: view [crm] -> view [crm, invoices]' in text
    harness.apply_plan(planned.plan)
    harness.assert_in_sync()


# --- rename, remove, re-add, delete -------------------------------------------------------------------


def test_rename_a_group_keeps_its_members_and_grants(harness: Harness) -> None:
    applied(harness, acme())
    before = group_id(harness, "accounting")
    grants = harness.rows("SELECT id, access FROM app_grants WHERE group_id = :g", g=before)
    renamed = GROUPS.replace("- name: accounting", "- name: finance\n  previously: [accounting]")
    # Combined with membership changes: Carol joins the renamed group, Bob leaves it.
    users = (
        ALICE.replace("[accounting]", "[finance]")
        + BOB.replace("[accounting, legacy]", "[legacy]")
        + CAROL
        + "  groups: [finance]\n"
    )

    planned = harness.plan(acme(users, renamed))

    assert harness.text(planned).splitlines()[2:] == [
        'workspace "acme" (Acme Corp)',
        '  > group "accounting" -> "finance"',
        '  ~ user "bob@acme.com"',
        "      - groups: finance",
        '  ~ user "carol@acme.com"',
        "      + groups: finance",
        "",
        "Plan: 0 to add, 2 to change, 0 to destroy, 1 to rename. 0 role changes.",
    ]
    harness.apply_plan(planned.plan)
    assert group_id(harness, "finance") == before
    assert group_id(harness, "accounting") is None
    assert harness.rows("SELECT id, access FROM app_grants WHERE group_id = :g", g=before) == grants
    assert harness.groups_of("alice@acme.com") == ["finance"]
    assert harness.groups_of("bob@acme.com") == ["legacy"]
    assert harness.groups_of("carol@acme.com") == ["finance"]
    harness.assert_in_sync()


def test_remove_a_user_archives_and_keeps_groups_and_metadata(harness: Harness) -> None:
    applied(harness, acme())
    bob_id = harness.membership("bob@acme.com")["id"]
    blob = harness.scalar("SELECT ciphertext FROM membership_metadata WHERE membership_id = :m", m=bob_id)

    planned = harness.plan(acme(ALICE + CAROL))

    assert harness.text(planned).splitlines()[2:] == [
        'workspace "acme" (Acme Corp)',
        '  * user "bob@acme.com": archive (not in configuration, prune: archive; groups and metadata kept)',
        "",
        "Plan: 0 to add, 0 to change, 0 to destroy, 1 to archive. 0 role changes.",
    ]
    harness.apply_plan(planned.plan)
    bob = harness.membership("bob@acme.com")
    assert (bob["id"], bob["status"], bob["invitation_token_hash"]) == (bob_id, "archived", None)
    assert harness.groups_of("bob@acme.com") == ["accounting", "legacy"]
    assert harness.scalar("SELECT ciphertext FROM membership_metadata WHERE membership_id = :m", m=bob_id) == blob
    assert harness.scalar("SELECT count(*) FROM users WHERE email = 'bob@acme.com'") == 1
    harness.assert_in_sync()


def test_re_add_an_archived_user_unarchives_with_a_new_invitation(harness: Harness) -> None:
    applied(harness, acme())
    first_token = harness.membership("bob@acme.com")["invitation_token_hash"]
    applied(harness, acme(ALICE + CAROL))

    planned = harness.plan(acme())

    assert harness.text(planned).splitlines()[2:] == [
        'workspace "acme" (Acme Corp)',
        '  * user "bob@acme.com": unarchive (status invited, new invitation)',
        "",
        "Plan: 0 to add, 0 to change, 0 to destroy, 1 to unarchive. 0 role changes.",
    ]
    result = harness.apply_plan(planned.plan)
    bob = harness.membership("bob@acme.com")
    assert bob["status"] == "invited"
    assert bob["invitation_token_hash"] is not None and bob["invitation_token_hash"] != first_token
    assert bob["invitation_expires_at"] is not None
    assert result.invitations == ("bob@acme.com",)
    assert harness.groups_of("bob@acme.com") == ["accounting", "legacy"]
    assert harness.metadata_of("bob@acme.com") == {"api_key": SECRET_API_KEY}
    harness.assert_in_sync()


def test_re_add_an_archived_user_with_another_role_and_groups(harness: Harness) -> None:
    applied(harness, acme())
    applied(harness, acme(ALICE + CAROL))
    back = BOB.replace("role: end-user", "role: admin").replace("[accounting, legacy]", "[legacy]")

    planned = harness.plan(acme(ALICE + back + CAROL))

    text = harness.text(planned)
    assert '  * user "bob@acme.com": unarchive (status invited, new invitation)' in text
    cause = "declared; on unarchive"
    assert f'  ~ user "bob@acme.com"\n      ~ role: end-user -> admin ({cause})\n      - groups: accounting' in text
    # Coming back from the archive with another role is a role change, listed where a reviewer looks.
    assert planned.plan.role_changes == (ops.RoleChange("acme", "bob@acme.com", "end-user", "admin", cause),)
    assert f"  acme  bob@acme.com  end-user -> admin  {cause}" in text.splitlines()
    harness.apply_plan(planned.plan)
    bob = harness.membership("bob@acme.com")
    assert (bob["role"], bob["status"]) == ("admin", "invited")
    assert harness.groups_of("bob@acme.com") == ["legacy"]
    harness.assert_in_sync()


def test_declared_archived_user_keeps_groups_and_is_never_invited(harness: Harness) -> None:
    erin = "- {email: erin@acme.com, first_name: Erin, role: end-user, status: archived, groups: [legacy]}\n"
    planned = harness.plan(acme(ALICE + erin))
    assert '  + user "erin@acme.com" (end-user, archived)' in harness.text(planned).splitlines()
    result = harness.apply_plan(planned.plan)
    assert result.invitations == ("alice@acme.com",)
    erin_row = harness.membership("erin@acme.com")
    assert (erin_row["status"], erin_row["invitation_token_hash"]) == ("archived", None)
    assert harness.groups_of("erin@acme.com") == ["legacy"]
    harness.assert_in_sync()


def test_delete_a_group(harness: Harness) -> None:
    applied(harness, acme())
    legacy = group_id(harness, "legacy")
    groups = GROUPS.split("- name: legacy")[0]
    users = ALICE + BOB.replace("[accounting, legacy]", "[accounting]") + CAROL

    planned = harness.plan(acme(users, groups))

    assert harness.text(planned).splitlines()[2:] == [
        'workspace "acme" (Acme Corp)',
        '  - group "legacy" (1 member loses it)',
        "",
        "Plan: 0 to add, 0 to change, 1 to destroy. 0 role changes.",
    ]
    harness.apply_plan(planned.plan)
    assert group_id(harness, "legacy") is None
    assert harness.scalar("SELECT count(*) FROM group_members WHERE group_id = :g", g=legacy) == 0
    assert harness.scalar("SELECT count(*) FROM app_grants WHERE group_id = :g", g=legacy) == 0
    assert harness.groups_of("bob@acme.com") == ["accounting"]
    harness.assert_in_sync()


# --- metadata -------------------------------------------------------------------------------------------


def test_change_metadata_shows_keys_only(harness: Harness) -> None:
    applied(harness, acme())
    bob = BOB.replace(
        f"metadata: {{api_key: {SECRET_API_KEY}}}", f"metadata: {{api_key: {SECRET_NEW_KEY}, team: red-squad}}"
    )
    alice = ALICE.replace(f"metadata: {{department: {SECRET_DEPARTMENT}}}", "metadata: {}")

    planned = harness.plan(acme(alice + bob + CAROL))

    text = harness.text(planned)
    assert text.splitlines()[2:] == [
        'workspace "acme" (Acme Corp)',
        '  ~ user "alice@acme.com"',
        "      - metadata.department: (sensitive value removed)",
        '  ~ user "bob@acme.com"',
        "      ~ metadata.api_key: (sensitive value changed)",
        "      + metadata.team: (sensitive value)",
        "",
        "Plan: 0 to add, 2 to change, 0 to destroy. 0 role changes.",
    ]
    for rendering in (text, render_json(planned.plan), render_markdown(planned.plan)):
        for secret in (SECRET_API_KEY, SECRET_NEW_KEY, SECRET_DEPARTMENT, "red-squad"):
            assert secret not in rendering
    harness.apply_plan(planned.plan)
    assert harness.metadata_of("bob@acme.com") == {"api_key": SECRET_NEW_KEY, "team": "red-squad"}
    assert harness.metadata_of("alice@acme.com") is None  # {} means "no metadata": the row is gone
    harness.assert_in_sync()


def test_absent_metadata_leaves_the_membership_alone(harness: Harness) -> None:
    applied(harness, acme())
    bob = BOB.replace(f"  metadata: {{api_key: {SECRET_API_KEY}}}\n", "")

    planned = harness.plan(acme(ALICE + bob + CAROL))

    assert harness.text(planned) == NO_CHANGES
    assert harness.metadata_of("bob@acme.com") == {"api_key": SECRET_API_KEY}
    # ... and {} on a membership that has none is no change either.
    carol = CAROL + "  metadata: {}\n"
    assert harness.text(harness.plan(acme(ALICE + bob + carol))) == NO_CHANGES


# --- prune: none ----------------------------------------------------------------------------------------


def test_prune_none_leaves_unmanaged_members_and_groups_alone(harness: Harness) -> None:
    applied(harness, acme())
    before = harness.dump()
    groups = GROUPS.split("- name: legacy")[0]
    users = ALICE + CAROL  # Bob, and the legacy group, are no longer in the file

    planned = harness.plan(acme(users, groups, settings="prune: none"))

    assert planned.plan.empty
    assert planned.plan.unmanaged == ("acme/group/legacy", "acme/user/bob@acme.com")
    assert harness.text(planned) == "\n".join(
        [
            NO_CHANGES,
            "",
            "Unmanaged (prune: none), left alone: 2",
            "  acme/group/legacy",
            "  acme/user/bob@acme.com",
        ]
    )
    harness.apply_plan(planned.plan)
    assert harness.dump() == before
    assert harness.membership("bob@acme.com")["status"] == "invited"
    assert harness.groups_of("bob@acme.com") == ["accounting", "legacy"]


def test_prune_none_keeps_unmanaged_groups_of_managed_members(harness: Harness) -> None:
    applied(harness, acme())
    groups = GROUPS.split("- name: legacy")[0]
    bob = BOB.replace("[accounting, legacy]", "[]")

    planned = harness.plan(acme(ALICE + bob + CAROL, groups, settings="prune: none"))

    # Bob leaves the managed group; his membership of the unmanaged group "legacy" is not the file's business.
    assert [(type(op), getattr(op, "groups_removed", None)) for op in planned.plan.ops] == [
        (ops.UpdateMembership, ("accounting",))
    ]
    harness.apply_plan(planned.plan)
    assert harness.groups_of("bob@acme.com") == ["legacy"]
    after = harness.plan()
    assert after.plan.empty and after.plan.unmanaged == ("acme/group/legacy",)


def test_json_plan_of_a_scenario_names_addresses_and_role_changes(harness: Harness) -> None:
    applied(harness, acme())
    planned = harness.plan(acme(ALICE + BOB + CAROL.replace("builder", "end-user")))
    document = json.loads(render_json(planned.plan))
    assert document["format_version"] == 1
    assert [c["address"] for c in document["changes"]] == ["acme/user/carol@acme.com"]
    assert document["role_changes"] == [
        {"workspace": "acme", "email": "carol@acme.com", "from": "builder", "to": "end-user", "cause": "declared"}
    ]
    assert document["summary"]["role_changes"] == 1


# --- issue 13: every new privilege in the role section; archived workspaces ----------------------------------

MAKERS = """
- name: makers
  permissions: {apps: {create: true}}
"""


def test_new_and_unarchived_privileged_members_are_in_the_role_section(harness: Harness) -> None:
    applied(harness, acme(ALICE + CAROL, GROUPS + MAKERS))
    applied(harness, acme(ALICE, GROUPS + MAKERS))  # Carol (builder) is archived
    dave = "- {email: dave@acme.com, first_name: Dave, role: end-user, groups: [makers]}\n"
    erin = "- {email: erin@acme.com, first_name: Erin, role: admin}\n"

    planned = harness.plan(acme(ALICE + CAROL + dave + erin, GROUPS + MAKERS))

    via = 'builder via group "makers" (apps.create); declared end-user'
    text = harness.text(planned)
    assert '  + user "dave@acme.com" (builder, invited)' in text.splitlines()
    assert text.split("Affected role changes:\n")[1].splitlines() == [
        "  acme  carol@acme.com  (archived) -> builder  declared",
        f"  acme  dave@acme.com   (new) -> builder       {via}",
        "  acme  erin@acme.com   (new) -> admin         declared",
        "",
        "Plan: 4 to add, 0 to change, 0 to destroy, 1 to unarchive. 0 role changes, 3 new privileged members.",
    ]
    document = json.loads(render_json(planned.plan))
    assert document["grants"] == [
        {"workspace": "acme", "email": "carol@acme.com", "role": "builder", "kind": "unarchived", "cause": "declared"},
        {"workspace": "acme", "email": "dave@acme.com", "role": "builder", "kind": "new", "cause": via},
        {"workspace": "acme", "email": "erin@acme.com", "role": "admin", "kind": "new", "cause": "declared"},
    ]
    assert (document["summary"]["role_changes"], document["summary"]["grants"]) == (0, 3)
    markdown = render_markdown(planned.plan)
    assert f"| acme | dave@acme.com | (new) | builder | {via} |" in markdown.splitlines()
    harness.apply_plan(planned.plan)
    harness.assert_in_sync()


def test_archiving_a_workspace_is_an_archive(harness: Harness) -> None:
    applied(harness, acme())

    planned = harness.plan(
        config_yaml(workspace_yaml(users=ALICE + BOB + CAROL, groups=GROUPS, extra="status: archived"))
    )

    assert [type(op) for op in planned.plan.ops] == [ops.ArchiveWorkspace]
    assert harness.text(planned).splitlines()[2:] == [
        'workspace "acme" (Acme Corp)',
        '  * workspace "acme": archive (members lose access; nothing is deleted)',
        "",
        "Plan: 0 to add, 0 to change, 0 to destroy, 1 to archive. 0 role changes.",
    ]
    assert json.loads(render_json(planned.plan))["changes"][0]["actions"] == ["archive"]
    harness.apply_plan(planned.plan)
    assert harness.scalar("SELECT status FROM workspaces WHERE slug = 'acme'") == "archived"
    harness.assert_in_sync()

    planned = harness.plan(acme())
    assert harness.text(planned).splitlines()[3:] == [
        '  * workspace "acme": unarchive (members get their access back)',
        "",
        "Plan: 0 to add, 0 to change, 0 to destroy, 1 to unarchive. 0 role changes.",
    ]
    harness.apply_plan(planned.plan)
    assert harness.scalar("SELECT status FROM workspaces WHERE slug = 'acme'") == "active"
    harness.assert_in_sync()


def test_new_members_of_an_archived_workspace_get_no_invitation(harness: Harness) -> None:
    archived = "status: archived"
    applied(harness, config_yaml(workspace_yaml(users=ALICE, groups=GROUPS, extra=archived)))
    dave = "- {email: dave@acme.com, first_name: Dave, role: end-user}\n"
    # Created archived in one apply, or archived by the same apply that adds the member: no invitation either way.
    assert harness.rows("SELECT count(*) FROM outbox") == [(0,)]
    assert harness.membership("alice@acme.com")["invitation_token_hash"] is None

    result = harness.apply_plan(
        harness.plan(config_yaml(workspace_yaml(users=ALICE + dave, groups=GROUPS, extra=archived))).plan
    )

    assert result.invitations == ()
    dave_row = harness.membership("dave@acme.com")
    assert (dave_row["status"], dave_row["invitation_token_hash"]) == ("invited", None)
    assert harness.rows("SELECT count(*) FROM outbox") == [(0,)]
    harness.assert_in_sync()

    # Unarchiving the workspace in the same apply as a new member: that member is invited as usual.
    erin = "- {email: erin@acme.com, first_name: Erin, role: end-user}\n"
    result = harness.apply_plan(harness.plan(acme(ALICE + dave + erin)).plan)
    assert result.invitations == ("erin@acme.com",)
    harness.assert_in_sync()


def test_members_of_an_archived_workspace_have_no_access_in_explain(harness: Harness) -> None:
    applied(harness, config_yaml(workspace_yaml(users=ALICE + BOB, groups=GROUPS, extra="status: archived")))

    result = harness.cli("explain", "bob@acme.com", "--workspace", "acme")

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "  status: invited  (the workspace is archived: its members have no access)" in lines
    assert "  invoices  none" in lines and "  crm       none" in lines
    result = harness.cli("explain", "bob@acme.com", "--workspace", "acme", "--format", "json")
    document = json.loads(result.stdout)
    assert document["apps"] == {
        "crm": {"access": "none", "granted_by": []},
        "invoices": {"access": "none", "granted_by": []},
    }
