"""Plan-and-apply scenarios on a seeded ToolJet database, once per schema variant.

Every scenario asserts what a user sees (the plan, its role changes and causes, refusals) and what ToolJet would
see (rows queried from its tables), and ends with a fresh plan that prints ``No changes.``.
"""

from __future__ import annotations

import email
import email.policy

import pytest
from tooljet_harness import ACME_ID, OTHER_ID, ToolJetDb, acme, base_config, group, user

from reconciler.backends.tooljet.invitations import invitation_link
from reconciler.errors import ConfigError, PlanRefused
from reconciler.render.text import render_text
from reconciler.workflow import apply_plan


def role_changes(planned) -> list[tuple[str, str, str, str]]:
    return [(c.email, c.old, c.new, c.cause) for c in planned.plan.role_changes]


def other_rows(db: ToolJetDb) -> list[tuple]:
    """Everything that belongs to the undeclared workspace "other", which no apply may touch."""
    return db.query(
        "SELECT 'org', o.id::text, o.name, o.status::text, o.updated_at::text FROM organizations o WHERE o.id = :o "
        "UNION ALL SELECT 'member', ou.id::text, ou.status::text, ou.invitation_token, ou.updated_at::text "
        "FROM organization_users ou WHERE ou.organization_id = :o "
        "UNION ALL SELECT 'group', g.id::text, g.name, g.app_create::text, g.updated_at::text "
        "FROM permission_groups g WHERE g.organization_id = :o "
        "UNION ALL SELECT 'group_user', gu.id::text, gu.user_id::text, gu.group_id::text, '' FROM group_users gu "
        "JOIN permission_groups g ON g.id = gu.group_id WHERE g.organization_id = :o "
        "UNION ALL SELECT 'details', d.id::text, d.user_metadata, '', d.updated_at::text FROM user_details d "
        "WHERE d.organization_id = :o ORDER BY 1, 2",
        o=OTHER_ID,
    )


# --- role changes ---------------------------------------------------------------------------------------------


def test_declared_role_change_moves_the_one_default_group_row(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    user(config, "carol@acme.example")["role"] = "builder"
    before_other = other_rows(tooljet)

    planned, _ = tooljet.apply(config)

    assert role_changes(planned) == [("carol@acme.example", "end-user", "builder", "declared")]
    assert "~ role: end-user -> builder" in render_text(planned.plan)
    assert tooljet.role_of("carol@acme.example") == ["builder"]  # never two default groups
    assert tooljet.groups_of("carol@acme.example") == ["finance"]
    assert tooljet.membership("carol@acme.example")[:2] == ("all-users", "active")
    assert other_rows(tooljet) == before_other
    tooljet.assert_no_changes(config)


def test_joining_a_builder_level_group_promotes_an_end_user(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    user(config, "dave@acme.example")["groups"] = ["sales-ops"]

    planned, _ = tooljet.apply(config)

    (change,) = role_changes(planned)
    assert change[:3] == ("dave@acme.example", "end-user", "builder")
    assert change[3].startswith('implied by group "sales-ops" (apps.create')
    assert tooljet.role_of("dave@acme.example") == ["builder"]
    assert tooljet.groups_of("dave@acme.example") == ["sales-ops"]
    assert tooljet.membership("dave@acme.example")[1] == "invited"  # the tool never accepts for anyone
    tooljet.assert_no_changes(config)


def test_group_gaining_edit_promotes_its_end_users_and_losing_it_demotes_them(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    finance_child = tooljet.one(
        "SELECT a.id::text FROM apps_group_permissions a JOIN granular_permissions gp ON gp.id = "
        "a.granular_permission_id WHERE gp.group_id = '0c000000-0000-4000-8000-0000000000a4'"
    )
    group(config, "finance")["granular"]["apps"][0]["access"] = "edit"

    planned, _ = tooljet.apply(config)

    assert role_changes(planned) == [
        ("carol@acme.example", "end-user", "builder", 'implied by group "finance" (edit on invoices)')
    ]
    assert "Affected role changes:" in render_text(planned.plan)
    assert tooljet.role_of("carol@acme.example") == ["builder"]
    assert tooljet.role_of("erin@acme.example") == ["end-user"]  # archived: groups never promote an archived member
    assert tooljet.role_of("alice@acme.example") == ["admin"]
    row = _finance_app_row(tooljet)
    assert row[:4] == (finance_child, True, False, False)  # changed in place; edit => can_view false
    if tooljet.variant != "v3_early":
        assert row[4:] == (True, True, True, True)  # re-levelled: an edit grant reaches every environment
    tooljet.assert_no_changes(config)

    group(config, "finance")["granular"]["apps"][0]["access"] = "view"
    planned, _ = tooljet.apply(config)

    assert role_changes(planned) == [
        ("carol@acme.example", "builder", "end-user", 'no longer implied by group "finance"; declared end-user')
    ]
    assert tooljet.role_of("carol@acme.example") == ["end-user"]
    row = _finance_app_row(tooljet)
    assert row[:4] == (finance_child, False, True, False)
    if tooljet.variant != "v3_early":
        assert row[4:] == (False, False, False, True)  # view: released only, or ToolJet would call it builder-level
    tooljet.assert_no_changes(config)


def _finance_app_row(db: ToolJetDb) -> tuple:
    env = ", a.can_access_development, a.can_access_staging, a.can_access_production, a.can_access_released"
    return db.one(
        f"SELECT a.id::text, a.can_edit, a.can_view, a.hide_from_dashboard{env if db.variant != 'v3_early' else ''} "
        "FROM apps_group_permissions a JOIN granular_permissions gp ON gp.id = a.granular_permission_id "
        "WHERE gp.group_id = '0c000000-0000-4000-8000-0000000000a4'"
    )


def test_strict_roles_refuses_the_promotion(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    user(config, "dave@acme.example")["groups"] = ["sales-ops"]
    with pytest.raises(ConfigError) as caught:
        tooljet.plan(config, strict_roles=True)
    assert "End-users can only be granted permission to view apps" in str(caught.value)
    assert "dave@acme.example" in str(caught.value)


def test_demoting_the_last_active_admin_is_refused_and_nothing_changes(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    user(config, "alice@acme.example")["role"] = "builder"
    user(config, "dave@acme.example")["role"] = "admin"  # invited admins do not count
    before = tooljet.dump()
    planned = tooljet.plan(config)

    with pytest.raises(PlanRefused) as caught:
        apply_plan(tooljet.backend(), planned.plan, None, actor="tester", command="apply")

    assert caught.value.rule == "last-admin"
    assert "Cannot change role of last present admin" in caught.value.message
    assert tooljet.dump() == before


# --- groups -----------------------------------------------------------------------------------------------------


def test_rename_with_previously_keeps_the_row_its_members_and_grants(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    group(config, "finance").update(name="accounting", previously=["finance"])
    for address in ("alice@acme.example", "carol@acme.example", "erin@acme.example"):
        user(config, address)["groups"] = ["accounting"]

    planned, _ = tooljet.apply(config)

    assert '> group "finance" -> "accounting"' in render_text(planned.plan)
    assert tooljet.one("SELECT name FROM permission_groups WHERE id = '0c000000-0000-4000-8000-0000000000a4'") == (
        "accounting"
    )
    assert tooljet.groups_of("carol@acme.example") == ["accounting"]
    assert (
        tooljet.one(
            "SELECT count(*) FROM group_apps ga JOIN apps_group_permissions a ON a.id = ga.apps_group_permissions_id "
            "JOIN granular_permissions gp ON gp.id = a.granular_permission_id "
            "WHERE gp.group_id = '0c000000-0000-4000-8000-0000000000a4'"
        )
        == 1
    )
    tooljet.assert_no_changes(config)


def test_new_group_is_written_as_tooljet_writes_one_and_destroying_it_removes_every_row(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    acme(config)["groups"].append(
        {
            "name": "support",
            "granular": {
                "apps": [
                    {"access": "view", "apps": "all", "hide_from_dashboard": True},
                    {"access": "view", "apps": ["crm", "invoices"]},
                ],
                "data_sources": [{"access": "configure", "data_sources": ["postgres-prod"]}],
            },
        }
    )
    user(config, "bob@acme.example")["groups"] = ["sales-ops", "support"]

    tooljet.apply(config)

    group_id, kind, flags = tooljet.one(
        "SELECT id::text, type::text, app_create OR app_delete OR org_constant_crud FROM permission_groups "
        "WHERE name = 'support' AND organization_id = :o",
        o=ACME_ID,
    )
    assert (kind, flags) == ("custom", False)
    grants = tooljet.query(
        "SELECT gp.name, gp.type::text, gp.is_all, a.can_edit, a.can_view, a.hide_from_dashboard, "
        "(SELECT string_agg(ap.slug, ',' ORDER BY ap.slug) FROM group_apps ga JOIN apps ap ON ap.id = ga.app_id "
        " WHERE ga.apps_group_permissions_id = a.id) FROM granular_permissions gp "
        "JOIN apps_group_permissions a ON a.granular_permission_id = gp.id WHERE gp.group_id = :g ORDER BY gp.name",
        g=group_id,
    )
    assert grants == [
        ("Apps", "app", True, False, True, True, None),
        ("Apps 2", "app", False, False, True, False, "crm,invoices"),
    ]
    sources = tooljet.query(
        "SELECT gp.name, gp.is_all, d.can_configure, d.can_use, ds.name FROM granular_permissions gp "
        "JOIN data_sources_group_permissions d ON d.granular_permission_id = gp.id "
        "JOIN group_data_sources x ON x.data_sources_group_permissions_id = d.id "
        "JOIN data_sources ds ON ds.id = x.data_source_id WHERE gp.group_id = :g",
        g=group_id,
    )
    assert sources == [("Data sources", False, True, False, "postgres-prod")]
    if tooljet.variant != "v3_early":
        assert tooljet.query(
            "SELECT DISTINCT a.app_type::text, a.can_access_development, a.can_access_staging, "
            "a.can_access_production, a.can_access_released FROM apps_group_permissions a "
            "JOIN granular_permissions gp ON gp.id = a.granular_permission_id WHERE gp.group_id = :g",
            g=group_id,
        ) == [("front-end", False, False, False, True)]
        assert tooljet.one(
            "SELECT workflow_create, app_promote, folder_data_source_create FROM permission_groups WHERE id = :g",
            g=group_id,
        ) == (False, False, False)  # ToolJet's column defaults for the flags the configuration has no word for
    tooljet.assert_no_changes(config)

    del acme(config)["groups"][-1]
    user(config, "bob@acme.example")["groups"] = ["sales-ops"]
    planned, _ = tooljet.apply(config)

    assert '- group "support" (1 member loses it)' in render_text(planned.plan)
    assert tooljet.query("SELECT id FROM permission_groups WHERE id = :g", g=group_id) == []
    assert tooljet.query("SELECT id FROM granular_permissions WHERE group_id = :g", g=group_id) == []
    assert tooljet.query("SELECT id FROM group_users WHERE group_id = :g", g=group_id) == []
    tooljet.assert_no_changes(config)


def test_group_flags_the_configuration_lacks_are_left_alone(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    group(config, "sales-ops")["permissions"] = {"apps": {"create": True, "delete": True}}
    builder = acme(config)["roles"]["builder"]
    builder["permissions"]["workspace_constants"] = {"create": False, "update": False, "delete": False}
    builder["granular"]["apps"] = [{"access": "edit", "apps": "all"}, {"access": "view", "apps": ["payroll"]}]

    tooljet.apply(config)

    assert (
        tooljet.one("SELECT app_delete FROM permission_groups WHERE id = '0c000000-0000-4000-8000-0000000000a5'")
        is True
    )
    assert (
        tooljet.one("SELECT org_constant_crud FROM permission_groups WHERE id = '0c000000-0000-4000-8000-0000000000a3'")
        is False
    )
    builder_apps = tooljet.query(
        "SELECT gp.id::text, gp.name FROM granular_permissions gp WHERE gp.group_id = "
        "'0c000000-0000-4000-8000-0000000000a3' AND gp.type = 'app' ORDER BY gp.created_at, gp.name"
    )
    assert builder_apps[0] == ("0d000000-0000-4000-8000-0000000000a4", "Apps")  # kept in place
    assert builder_apps[1][1] == "Apps 2"
    if tooljet.variant != "v3_early":
        assert tooljet.one(
            "SELECT workflow_create, app_promote, app_release FROM permission_groups "
            "WHERE id = '0c000000-0000-4000-8000-0000000000a5'"
        ) == (True, True, True)
        builder_row = "'0e000000-0000-4000-8000-0000000000a4'"
        production = tooljet.one(f"SELECT can_access_production FROM apps_group_permissions WHERE id = {builder_row}")
        assert production is False  # the builder's ToolJet default survives an in-place update
    tooljet.assert_no_changes(config)


# --- membership lifecycle -------------------------------------------------------------------------------------


def test_removing_a_member_archives_it_and_re_adding_re_invites_it(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    carol = user(config, "carol@acme.example")
    acme(config)["users"].remove(carol)

    planned, _ = tooljet.apply(config)

    assert '* user "carol@acme.example": archive' in render_text(planned.plan)
    assert tooljet.membership("carol@acme.example") == ("all-users", "archived", None, "invite")
    assert tooljet.role_of("carol@acme.example") == ["end-user"]  # group rows are kept
    assert tooljet.groups_of("carol@acme.example") == ["finance"]
    tooljet.assert_no_changes(config)

    acme(config)["users"].append(carol)
    planned, result = tooljet.apply(config)

    role, status, token, source = tooljet.membership("carol@acme.example")
    assert (role, status, source) == ("all-users", "invited", "invite")
    assert _is_uuid(token)
    assert result.invitations == ("carol@acme.example",)
    (invitation,) = tooljet.backend().pending_invitations
    link = invitation_link(invitation, {"TOOLJET_HOST": "https://tooljet.acme.example"})
    assert link == f"https://tooljet.acme.example/organization-invitations/{token}?oid={ACME_ID}"
    tooljet.assert_no_changes(config)


def test_inviting_a_new_person_writes_what_tooljets_invite_writes(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    acme(config)["users"].append(
        {
            "email": "Frank@Acme.example",
            "first_name": "Frank",
            "last_name": "Moss",
            "role": "end-user",
            "groups": ["finance"],
            "metadata": {"team": "ap"},
        }
    )

    _planned, result = tooljet.apply(config)

    user_row = tooljet.one(
        "SELECT status::text, source::text, user_type::text, invitation_token, organization_id::text, "
        "password_digest FROM users WHERE email = 'frank@acme.example'"
    )
    assert user_row[:3] == ("invited", "invite", "workspace")
    assert _is_uuid(user_row[3]) and user_row[4] == ACME_ID and user_row[5] is None
    role, status, token, source = tooljet.membership("frank@acme.example")
    assert (role, status, source) == ("all-users", "invited", "invite") and _is_uuid(token)
    assert tooljet.role_of("frank@acme.example") == ["end-user"]
    assert tooljet.groups_of("frank@acme.example") == ["finance"]
    assert result.invitations == ("frank@acme.example",)
    lines = tooljet.backend().after_commit(result)
    assert lines[0] == f"Wrote 1 invitation email(s) to {tooljet.tmp / 'outbox'}."
    (eml,) = (tooljet.tmp / "outbox").glob("*.eml")
    expected = f"https://tooljet.acme.example/invitations/{user_row[3]}/workspaces/{token}?oid={ACME_ID}"
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Welcome to Acme Corp"
    assert expected in message.get_body().get_content()
    tooljet.assert_no_changes(config)


def _is_uuid(value: object) -> bool:
    import uuid

    try:
        return str(uuid.UUID(str(value))) == value
    except ValueError:
        return False


def test_inviting_someone_archived_in_the_instance_is_refused(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    acme(config)["users"].append(
        {"email": "zed@acme.example", "first_name": "Zed", "last_name": "Null", "role": "end-user"}
    )
    with pytest.raises(PlanRefused) as caught:
        tooljet.plan(config)
    assert "User is archived in the instance. Contact super admin to activate them." in caught.value.message


# --- workspaces -------------------------------------------------------------------------------------------------


def test_workspace_rename_and_archive(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    acme(config).update(name="Acme Corporation", status="archived")

    tooljet.apply(config)

    assert tooljet.one("SELECT name, status::text FROM organizations WHERE id = :o", o=ACME_ID) == (
        "Acme Corporation",
        "archived",
    )
    tooljet.assert_no_changes(config)


def test_new_members_of_an_archived_workspace_get_no_invitation_email(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    acme(config)["status"] = "archived"
    acme(config)["users"].append({"email": "frank@acme.example", "first_name": "Frank", "role": "end-user"})

    planned, result = tooljet.apply(config)

    assert result.invitations == ()
    assert planned.plan.summary["archive"] == 1  # the workspace
    assert [line for line in tooljet.backend().after_commit(result) if "invitation" in line] == []
    role, status, token, _source = tooljet.membership("frank@acme.example")
    assert (role, status) == ("all-users", "invited") and _is_uuid(token)  # ToolJet's UI still shows the link
    tooljet.assert_no_changes(config)


def test_a_new_workspace_is_created_the_tooljet_way(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    config["workspaces"].append(
        {
            "slug": "labs",
            "name": "Acme Labs",
            "groups": [{"name": "researchers", "granular": {"apps": [{"access": "view", "apps": "all"}]}}],
            "users": [
                {"email": "alice@acme.example", "first_name": "Alice", "last_name": "Smith", "role": "admin"},
                {
                    "email": "bob@acme.example",
                    "first_name": "Bob",
                    "last_name": "Jones",
                    "role": "end-user",
                    "groups": ["researchers"],
                },
                {"email": "dave@acme.example", "first_name": "Dave", "role": "end-user"},
            ],
        }
    )

    _planned, result = tooljet.apply(config)

    org_id, status = tooljet.one("SELECT id::text, status::text FROM organizations WHERE slug = 'labs'")
    assert status == "active"
    groups = tooljet.query(
        "SELECT name, type::text, app_create, app_delete, org_constant_crud, data_source_create, data_source_delete "
        "FROM permission_groups WHERE organization_id = :o ORDER BY created_at, name",
        o=org_id,
    )
    assert [g[:2] for g in groups] == [
        ("admin", "default"),
        ("builder", "default"),
        ("end-user", "default"),
        ("researchers", "custom"),
    ]
    assert {g[0]: g[2:] for g in groups}["builder"] == (True,) * 5
    assert {g[0]: g[2:] for g in groups}["end-user"] == (False,) * 5
    granular = tooljet.query(
        "SELECT g.name, gp.name, gp.type::text, gp.is_all, a.can_edit, a.can_view, d.id IS NOT NULL "
        "FROM granular_permissions gp JOIN permission_groups g ON g.id = gp.group_id "
        "LEFT JOIN apps_group_permissions a ON a.granular_permission_id = gp.id "
        "LEFT JOIN data_sources_group_permissions d ON d.granular_permission_id = gp.id "
        "WHERE g.organization_id = :o AND g.type = 'default' ORDER BY g.name, gp.name",
        o=org_id,
    )
    assert granular == [
        ("admin", "Apps", "app", True, True, False, False),
        ("admin", "Data sources", "data_source", True, None, None, False),  # CE: no child row
        ("builder", "Apps", "app", True, True, False, False),
        ("builder", "Data sources", "data_source", True, None, None, False),
        ("end-user", "Apps", "app", True, False, True, False),
    ]
    if tooljet.variant != "v3_early":
        assert tooljet.query(
            "SELECT g.name, g.workflow_create, g.app_promote, g.folder_create, g.folder_data_source_create, "
            "a.can_access_development, a.can_access_staging, a.can_access_production, a.can_access_released "
            "FROM permission_groups g JOIN granular_permissions gp ON gp.group_id = g.id AND gp.type = 'app' "
            "JOIN apps_group_permissions a ON a.granular_permission_id = gp.id "
            "WHERE g.organization_id = :o AND g.type = 'default' ORDER BY g.name",
            o=org_id,
        ) == [
            ("admin", True, True, True, True, True, True, True, True),
            ("builder", True, True, True, False, True, True, False, True),
            ("end-user", False, False, False, False, False, False, False, True),
        ]
    assert tooljet.role_of("alice@acme.example", org_id) == ["admin"]
    assert tooljet.membership("alice@acme.example", org_id)[1] == "invited"
    assert tooljet.role_of("bob@acme.example", org_id) == ["end-user"]
    links = {i.email: invitation_link(i, {}) for i in tooljet.backend().pending_invitations}
    assert set(result.invitations) == set(links) == {"alice@acme.example", "bob@acme.example", "dave@acme.example"}
    bob_token = tooljet.membership("bob@acme.example", org_id)[2]
    assert links["bob@acme.example"] == f"http://localhost:8082/organization-invitations/{bob_token}?oid={org_id}"
    dave_token = tooljet.membership("dave@acme.example", org_id)[2]
    account_token = "f7b2d4c1-8e9a-4b0c-a1d2-e3f4a5b6c7d8"  # dave never set up his account: ToolJet's new-user link
    assert links["dave@acme.example"] == (
        f"http://localhost:8082/invitations/{account_token}/workspaces/{dave_token}?oid={org_id}"
    )
    tooljet.assert_no_changes(config)


def test_a_new_workspace_with_a_customised_builder_role(tooljet: ToolJetDb) -> None:
    """The default builder rows ToolJet's way first, then changed in place like any other group."""
    config = base_config(tooljet.variant)
    config["workspaces"].append(
        {
            "slug": "labs",
            "name": "Acme Labs",
            "roles": {
                "builder": {
                    "permissions": {"apps": {"create": True}},
                    "granular": {
                        "apps": [{"access": "edit", "apps": "all"}],
                        "data_sources": [{"access": "use", "data_sources": "all"}],
                    },
                }
            },
            "users": [{"email": "alice@acme.example", "first_name": "Alice", "last_name": "Smith", "role": "admin"}],
        }
    )

    tooljet.apply(config)

    org_id = tooljet.one("SELECT id::text FROM organizations WHERE slug = 'labs'")
    builder = tooljet.one(
        "SELECT id::text, app_create, app_delete, org_constant_crud, data_source_create FROM permission_groups "
        "WHERE organization_id = :o AND name = 'builder'",
        o=org_id,
    )
    assert builder[1:] == (True, False, False, False)
    assert tooljet.query(
        "SELECT gp.name, gp.is_all, d.can_configure, d.can_use FROM granular_permissions gp "
        "JOIN data_sources_group_permissions d ON d.granular_permission_id = gp.id WHERE gp.group_id = :g",
        g=builder[0],
    ) == [("Data sources", True, False, True)]
    if tooljet.variant != "v3_early":  # flags the configuration lacks keep ToolJet's defaults for a builder
        assert tooljet.one(
            "SELECT workflow_create, app_promote FROM permission_groups WHERE id = :g", g=builder[0]
        ) == (
            True,
            True,
        )
    tooljet.assert_no_changes(config)


# --- registry and flags this backend cannot write ---------------------------------------------------------------


def test_registry_entries_must_match_what_tooljet_has(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    acme(config)["apps"][1]["name"] = "Customer CRM"
    acme(config)["apps"].append({"slug": "reports", "name": "Reports"})
    acme(config)["data_sources"].append({"name": "snowflake"})
    before = tooljet.dump()

    with pytest.raises(PlanRefused) as caught:
        tooljet.plan(config)

    lines = caught.value.lines()
    assert len(lines) == 3
    assert any(
        'app "reports" does not exist in ToolJet' in line
        and "these apps: crm (CRM), invoices (Invoices), payroll (Payroll)" in line
        for line in lines
    )
    assert any('app "crm" is called "CRM" in ToolJet, not "Customer CRM"' in line for line in lines)
    assert any('data source "snowflake"' in line and "postgres-prod, sample-db, stripe" in line for line in lines)
    # apply refuses the same plan even when nobody validated it first
    backend = tooljet.backend()
    from reconciler.planner import build_plan
    from reconciler.workflow import load_desired

    desired = load_desired(tooljet.write(config))
    raw = build_plan(desired, backend.read_snapshot(sorted(desired.workspaces), None))
    with pytest.raises(PlanRefused):
        apply_plan(backend, raw, None, actor="tester", command="apply")
    assert tooljet.dump() == before


def test_flags_sharing_a_column_must_agree(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    group(config, "finance")["permissions"] = {
        "folders": {"create": True, "update": False, "delete": True},
        "workspace_constants": {"create": True},
    }
    with pytest.raises(PlanRefused) as caught:
        tooljet.plan(config)
    text = "\n".join(caught.value.lines())
    column = "folder_crud" if tooljet.variant == "v3_early" else "folder_create"
    assert f"in one column ({column})" in text
    assert "in one column (org_constant_crud)" in text


def test_only_the_declared_workspace_is_touched(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    user(config, "alice@acme.example")["metadata"] = {"department": "ops"}
    acme(config)["users"] = [u for u in acme(config)["users"] if u["email"] != "bob@acme.example"]
    user(config, "dave@acme.example")["role"] = "admin"
    user(config, "carol@acme.example")["last_name"] = "Diaz-Ortiz"
    before = other_rows(tooljet)

    tooljet.apply(config)

    assert other_rows(tooljet) == before
    assert tooljet.one("SELECT last_name FROM users WHERE email = 'carol@acme.example'") == "Diaz-Ortiz"
    assert tooljet.membership("bob@acme.example") == ("all-users", "archived", None, "invite")
    tooljet.assert_no_changes(config)


def test_reads_are_bulk_and_writes_are_batched(tooljet: ToolJetDb) -> None:
    """The number of statements does not grow with the number of members (SPEC 8)."""
    from sqlalchemy import event

    config = base_config(tooljet.variant)
    statements: list[str] = []
    engine = tooljet.backend().engine
    tooljet.backend().read_snapshot(["acme"], None)  # the first read also introspects the schema variant
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    tooljet.backend().read_snapshot(["acme"], None)
    small_read = len(statements)
    assert small_read <= 15
    for n in range(40):
        acme(config)["users"].append(
            {"email": f"temp{n}@acme.example", "first_name": f"Temp{n}", "role": "end-user", "groups": ["finance"]}
        )
    statements.clear()
    tooljet.apply(config)
    assert len(statements) < 60, len(statements)  # a fixed number of batched statements for 40 new members
    statements.clear()
    tooljet.backend().read_snapshot(["acme"], None)
    assert len(statements) == small_read
    tooljet.assert_no_changes(config)
