"""Workspaces and app owners on the ToolJet backend (issue 16, H1/H2, H3, H5): what ToolJet refuses, the plan
refuses with ToolJet's message, located, and nothing changes; what ToolJet writes, the apply writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tooljet_harness import ACME_ID, VARIANTS, ToolJetDb, acme, base_config, create_workspace_as_tooljet, user

from reconciler.cli import cli
from reconciler.errors import PlanRefused
from reconciler.planner import build_plan
from reconciler.render.text import NO_CHANGES
from reconciler.workflow import apply_plan, load_desired

MASTER_KEY = "5e" * 32


def run(db: ToolJetDb, *args: str) -> Result:
    env = {"RECONCILER_MASTER_KEY": MASTER_KEY}
    return CliRunner().invoke(cli, ["--backend", "tooljet", "--database", db.url, *args], env=env)


def labs(*users: dict, **extra: object) -> dict:
    return {"slug": "labs", "name": "Acme Labs", **extra, "users": list(users)}


ALICE = {"email": "alice@acme.example", "first_name": "Alice", "last_name": "Smith", "role": "admin"}


# --- H1/H2: workspaces are created in ToolJet, then adopted ------------------------------------------------------


def test_plan_and_apply_refuse_a_new_workspace_and_say_how_to_adopt_one(tooljet: ToolJetDb) -> None:
    """ToolJet's workspace setup (server/src/modules/setup-organization/util.service.ts ``create``) writes the
    form-login ``sso_configs`` row, environments, a main branch, a sample database, a ToolJet database schema and
    role, static data sources: not reproducible from outside, so refused (docs/tooljet.md, Workspaces)."""
    config = base_config(tooljet.variant)
    config["workspaces"].append(labs(ALICE))
    config["workspaces"].append({**labs(ALICE), "slug": "labs-two", "name": "Acme Labs 2"})
    path = tooljet.write(config)
    before = tooljet.dump()

    for command in (["plan", "-f", str(path)], ["apply", "-f", str(path), "--auto-approve"]):
        result = run(tooljet, *command)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(lines) == 2, result.output
        for line, slug in zip(lines, ("labs", "labs-two"), strict=True):
            assert line.startswith(f"Error: {path}:")  # located at the workspace's slug in the file
            assert f"slug: workspace '{slug}' does not exist in the database, and the tooljet backend does not " in line
        assert "Workspace menu -> Add workspace" in result.output
        assert "reconciler --backend tooljet export --workspace SLUG" in result.output

    assert tooljet.dump() == before
    assert tooljet.query("SELECT slug FROM organizations WHERE slug LIKE 'labs%'") == []


def test_every_refusal_is_shown_at_once_each_with_its_own_hint(tooljet: ToolJetDb) -> None:
    """The workflow's refusals (a new workspace) and the backend's own (an archived member joining a group,
    organization-users: "User archived in this workspace") come in one answer, and each kind says its fix."""
    config = base_config(tooljet.variant)
    config["workspaces"].append(labs(ALICE))
    user(config, "erin@acme.example")["groups"] = ["finance", "sales-ops"]  # erin stays archived

    result = run(tooljet, "plan", "-f", str(tooljet.write(config)))

    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert [("does not exist in the database" in e, "User archived in this workspace" in e) for e in errors] == [
        (True, False),
        (False, True),
    ], result.output
    hints = [line for line in result.output.splitlines() if line.startswith("Hint:")]
    assert len(hints) == 2 and "Workspace menu -> Add workspace" in hints[0], result.output


def test_a_plan_that_creates_a_workspace_is_refused_by_apply_too(tooljet: ToolJetDb) -> None:
    """A plan made without the check (another version, a hand-made file) is refused before the lock."""
    config = base_config(tooljet.variant)
    config["workspaces"].append(labs(ALICE))
    desired = load_desired(tooljet.write(config))
    backend = tooljet.backend()
    raw = build_plan(desired, backend.read_snapshot(sorted(desired.workspaces), None))
    before = tooljet.dump()

    with pytest.raises(PlanRefused) as caught:
        apply_plan(backend, raw, None, actor="tester", command="apply")

    assert caught.value.lines() == [
        "workspace 'labs' does not exist in the database, and the tooljet backend does not create workspaces"
    ]
    assert tooljet.dump() == before


def test_a_workspace_created_in_tooljet_is_adopted_by_export(tooljet: ToolJetDb, tmp_path: Path) -> None:
    """Created as ToolJet's setup creates it (the creator an active admin), exported, then managed."""
    org = create_workspace_as_tooljet(tooljet.url, "labs", "Acme Labs", creator="alice@acme.example")
    exported = tmp_path / "labs.yaml"
    assert run(tooljet, "export", "--workspace", "labs", "-o", str(exported)).exit_code == 0
    planned = run(tooljet, "plan", "-f", str(exported), "--detailed-exitcode")
    assert planned.exit_code == 0 and NO_CHANGES in planned.output, planned.output

    config = base_config(tooljet.variant)
    bob = {"email": "bob@acme.example", "first_name": "Bob", "last_name": "Jones", "role": "builder"}
    builder = {
        "permissions": {"apps": {"create": True}},
        "granular": {
            "apps": [{"access": "edit", "apps": "all"}],
            "data_sources": [{"access": "use", "data_sources": "all"}],
        },
    }
    config["workspaces"].append(labs(ALICE, bob, roles={"builder": builder}))
    tooljet.apply(config)

    assert tooljet.role_of("alice@acme.example", org) == ["admin"]
    assert tooljet.membership("alice@acme.example", org)[1] == "active"  # the creator, untouched
    assert tooljet.role_of("bob@acme.example", org) == ["builder"]
    assert tooljet.membership("bob@acme.example", org)[1] == "invited"
    flags = tooljet.one(
        "SELECT id::text, app_create, app_delete, org_constant_crud, data_source_create FROM permission_groups "
        "WHERE organization_id = :o AND name = 'builder'",
        o=org,
    )
    assert flags[1:] == (True, False, False, False)
    assert tooljet.query(
        "SELECT gp.name, gp.is_all, d.can_configure, d.can_use FROM granular_permissions gp "
        "JOIN data_sources_group_permissions d ON d.granular_permission_id = gp.id WHERE gp.group_id = :g",
        g=flags[0],
    ) == [("Data sources", True, False, True)]
    tooljet.assert_no_changes(config)


# --- H5: the default workspace ------------------------------------------------------------------------------------


# organizations.is_default arrives with migration 1740401000000: v3_early has no default workspace (next test)
@pytest.mark.parametrize("tooljet", [v for v in VARIANTS if v != "v3_early"], indirect=True)
def test_the_default_workspace_cannot_be_archived(tooljet: ToolJetDb) -> None:
    """organizations/service.ts ``updateOrganizationStatus``: ``if (organization.isDefault) throw new
    NotAcceptableException('Default workspace cannot be archived')``."""
    tooljet.query("UPDATE organizations SET is_default = true WHERE id = :o RETURNING id", o=ACME_ID)
    config = base_config(tooljet.variant)
    acme(config)["status"] = "archived"
    path = tooljet.write(config)
    before = tooljet.dump()

    result = run(tooljet, "plan", "-f", str(path))

    assert result.exit_code == 1, result.output
    assert f"Error: {path}:" in result.output
    assert "status: workspace 'acme': Default workspace cannot be archived" in result.output
    assert tooljet.dump() == before
    assert tooljet.one("SELECT status::text FROM organizations WHERE id = :o", o=ACME_ID) == "active"


def test_a_workspace_that_is_not_the_default_is_archived(tooljet: ToolJetDb) -> None:
    if tooljet.variant != "v3_early":
        tooljet.query("UPDATE organizations SET is_default = false RETURNING id")
    config = base_config(tooljet.variant)
    acme(config)["status"] = "archived"
    tooljet.apply(config)
    assert tooljet.one("SELECT status::text FROM organizations WHERE id = :o", o=ACME_ID) == "archived"
    tooljet.assert_no_changes(config)


# --- H3: app owners -----------------------------------------------------------------------------------------------

OWNED = "SELECT a.slug, u.email FROM apps a JOIN users u ON u.id = a.user_id WHERE a.organization_id = :o ORDER BY 1"


def demote_bob(config: dict) -> dict:
    """bob (builder; owns crm and the workflow nightly-sync in the seed) becomes an end-user, out of sales-ops."""
    user(config, "bob@acme.example").update(role="end-user", groups=[])
    return config


def test_demoting_an_app_owner_is_refused_with_tooljets_message(tooljet: ToolJetDb) -> None:
    """roles/util.service.ts ``editDefaultGroupUserRole``: moving to end-user a user who owns apps
    (``manager.find(App, {userId, organizationId})``, every type) without an acting admin throws
    ``USER_IS_OWNER_OF_APPS`` (group-permissions/constants/error.ts) with the apps' names."""
    config = demote_bob(base_config(tooljet.variant))
    path = tooljet.write(config)
    before = tooljet.dump()

    result = run(tooljet, "plan", "-f", str(path))

    assert result.exit_code == 1, result.output
    error = next(line for line in result.output.splitlines() if line.startswith("Error:"))
    assert error.startswith(f"Error: {path}:")  # at bob's role
    assert error.endswith(
        "role: workspace 'acme': The user- bob@acme.example cannot be an end-user because they are the owner of "
        "the following application(s)- CRM, Nightly sync"
    )
    assert "settings.transfer_apps_to" in result.output
    assert tooljet.dump() == before


def test_the_apps_of_a_demoted_owner_pass_to_transfer_apps_to(tooljet: ToolJetDb, tmp_path: Path) -> None:
    """With an acting admin, ToolJet updates ``apps.user_id`` of every app the user owns in the workspace to that
    admin before the role change (roles/util.service.ts; TypeORM's update also sets ``updated_at``)."""
    config = demote_bob(base_config(tooljet.variant))
    acme(config)["settings"] = {"transfer_apps_to": "alice@acme.example"}
    path = tooljet.write(config)

    text = run(tooljet, "plan", "-f", str(path))
    assert text.exit_code == 0, text.output
    assert (
        '~ apps owned by "bob@acme.example": owner -> "alice@acme.example" (2 apps; settings.transfer_apps_to)'
        in text.output
    )
    assert '~ apps: "CRM", "Nightly sync"' in text.output
    as_json = json.loads(run(tooljet, "plan", "-f", str(path), "--format", "json").output)
    [change] = [c for c in as_json["changes"] if c["kind"] == "TransferApps"]
    assert change["address"] == "acme/user/bob@acme.example/apps"
    assert change["before"]["apps_owner"] == "bob@acme.example"
    assert change["after"] == {
        "email": "bob@acme.example",
        "apps_owner": "alice@acme.example",
        "apps": ["CRM", "Nightly sync"],
    }
    markdown = run(tooljet, "plan", "-f", str(path), "--format", "markdown").output
    assert '! ~ apps owned by "bob@acme.example": owner -> "alice@acme.example"' in markdown
    stamps = dict(tooljet.query("SELECT slug, updated_at FROM apps WHERE organization_id = :o", o=ACME_ID))

    applied = run(tooljet, "apply", "-f", str(path), "--auto-approve")
    assert applied.exit_code == 0, applied.output

    assert tooljet.query(OWNED, o=ACME_ID) == [
        ("crm", "alice@acme.example"),
        ("invoices", "alice@acme.example"),
        ("nightly-sync", "alice@acme.example"),
        ("payroll", "alice@acme.example"),
    ]
    after = dict(tooljet.query("SELECT slug, updated_at FROM apps WHERE organization_id = :o", o=ACME_ID))
    assert after["crm"] > stamps["crm"] and after["invoices"] == stamps["invoices"]
    assert tooljet.role_of("bob@acme.example") == ["end-user"]
    # ToolJet's audit screen shows the transfer with the role change (audit_logs, key change_user_role)
    logged = tooljet.query(
        "SELECT resource_name, resource_data::text FROM audit_logs WHERE action_type = 'change_user_role' "
        "ORDER BY created_at, resource_data::text"
    )
    transfer = [json.loads(data) for name, data in logged if "apps_transferred_to" in data]
    assert [(t["user"]["email"], t["apps_transferred_to"]["email"], t["apps"]) for t in transfer] == [
        ("bob@acme.example", "alice@acme.example", ["CRM", "Nightly sync"])
    ]
    assert any(json.loads(data).get("role") == {"old": "builder", "new": "end-user"} for _, data in logged)
    tooljet.assert_no_changes(config)


def test_transfer_apps_to_must_be_an_active_admin_once_applied(tooljet: ToolJetDb) -> None:
    config = demote_bob(base_config(tooljet.variant))
    acme(config)["settings"] = {"transfer_apps_to": "carol@acme.example"}  # an end-user
    path = tooljet.write(config)
    before = tooljet.dump()

    result = run(tooljet, "plan", "-f", str(path))

    assert result.exit_code == 1, result.output
    assert (
        "settings.transfer_apps_to: workspace 'acme': settings.transfer_apps_to: carol@acme.example must be an "
        "active admin of the workspace once the plan is applied, to receive the apps of bob@acme.example"
    ) in result.output
    assert tooljet.dump() == before


def test_archiving_an_app_owner_keeps_the_apps_as_tooljet_does(tooljet: ToolJetDb) -> None:
    """organization-users/service.ts ``archive``: status archived, token cleared; apps are not touched (an
    archived member cannot sign in to the workspace, so the ownership grants nothing)."""
    config = base_config(tooljet.variant)
    user(config, "bob@acme.example")["status"] = "archived"
    tooljet.apply(config)
    assert tooljet.membership("bob@acme.example")[1] == "archived"
    assert ("crm", "bob@acme.example") in tooljet.query(OWNED, o=ACME_ID)
    tooljet.assert_no_changes(config)
