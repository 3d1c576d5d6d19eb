"""Reading what ToolJet can hold (issue 16: M2, M3, M4, L1, M7), on the edge seed (``sql/seed_edge.sql``).

Each test fails on the main branch before issue 16, where the whole workspace was unreadable (M3, M4), apps
without a slug were invisible (M2), empty child rows read as access (L1), and export was silent (M7).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from lockbox_reference import tooljet_decrypt_metadata
from tooljet_harness import ToolJetDb, acme, base_config, group, user

from reconciler import ops
from reconciler.cli import cli as main
from reconciler.export import adoption_warnings, snapshot_to_config
from reconciler.render.jsonplan import dump_saved_plan, load_saved_plan
from reconciler.render.text import NO_CHANGES, render_text

UNNAMED_APP = "2a000000-0000-4000-8000-0000000000e1"
FINANCE_APPS = "0d000000-0000-4000-8000-0000000000a6"  # finance's 'Apps' granular row (seed_groups_*.sql)
SALES_OPS_SOURCES = "0d000000-0000-4000-8000-0000000000a8"  # sales-ops' 'Data sources' row


def edge_config(variant: str) -> dict[str, Any]:
    """The base configuration plus the edge seed's groups and members (hank declared builder: rule 1)."""
    config = base_config(variant)
    ws = acme(config)
    ws["groups"] += [
        {"name": "builders-x", "permissions": {"apps": {"create": True}}},
        {"name": "empty-grants"},
    ]
    ws["users"] += [
        {"email": "frank@acme.example", "first_name": "Frank", "last_name": "Ng", "role": "admin"},
        {
            "email": "gina@acme.example",
            "first_name": "Gina",
            "last_name": "Ruiz",
            "role": "end-user",
            "groups": ["empty-grants"],
        },
        {
            "email": "hank@acme.example",
            "first_name": "Hank",
            "last_name": "Ito",
            "role": "builder",
            "groups": ["builders-x"],
        },
    ]
    return config


def test_members_in_two_default_groups_or_none_are_read_by_precedence_and_repaired(tooljet_edge: ToolJetDb) -> None:
    # ToolJet: server/src/modules/roles/repository.ts getUserRole sorts the default groups by USER_ROLE_PRECEDENCE
    # and takes the first; the default-group check of addUsersToGroup is commented out, so both states occur.
    db = tooljet_edge
    assert db.role_of("frank@acme.example") == ["admin", "builder"]
    assert db.role_of("gina@acme.example") == []
    config = edge_config(db.variant)
    text = db.plan_text(config)
    assert "default groups: admin, builder -> admin (ToolJet requires exactly one" in text, text
    assert "default groups: none -> end-user" in text, text
    db.apply(config)  # check_tooljet_invariants: every member of every workspace in exactly one default group
    assert db.role_of("frank@acme.example") == ["admin"]
    assert db.role_of("gina@acme.example") == ["end-user"]
    assert db.role_of("alice@acme.example") == ["admin"]  # others planned normally
    # each repair is a role change on ToolJet's audit screen (audit_logs, key change_user_role)
    rows = db.query("SELECT resource_name, resource_data::text FROM audit_logs WHERE action_type = 'change_user_role'")
    logged = {name: json.loads(data)["default_groups"] for name, data in rows if "default_groups" in data}
    assert logged["frank@acme.example"] == {"old": ["admin", "builder"], "new": ["admin"]}
    assert logged["gina@acme.example"] == {"old": [], "new": ["end-user"]}
    db.assert_no_changes(config)


def test_unmanaged_member_in_two_default_groups_is_repaired_with_a_line(tooljet_edge: ToolJetDb) -> None:
    db = tooljet_edge
    config = edge_config(db.variant)
    acme(config)["settings"] = {"prune": "none"}
    acme(config)["users"] = [u for u in acme(config)["users"] if u["email"] != "frank@acme.example"]
    text = db.plan_text(config)
    assert 'user "frank@acme.example"' in text and "default groups: admin, builder -> admin" in text, text
    db.apply(config)
    assert db.role_of("frank@acme.example") == ["admin"]
    db.assert_no_changes(config)


def test_unreadable_metadata_flags_the_member_and_everyone_else_still_plans(tooljet_edge: ToolJetDb) -> None:
    # ToolJet: server/src/modules/session/util.service.ts decryptUserMetadata returns {} when the value cannot
    # be decrypted or parsed, and the parsed JSON (a number, a nested object) otherwise.
    db = tooljet_edge
    config = edge_config(db.variant)
    planned = db.plan(config)
    notes = "\n".join(planned.plan.notes)
    assert "metadata of bob@acme.example cannot be read: ToolJet's key (LOCKBOX_MASTER_KEY) cannot open it" in notes
    assert "metadata of carol@acme.example cannot be read: it decrypts to a JSON number" in notes
    assert "metadata of dave@acme.example cannot be read: it decrypts to a JSON object whose values" in notes
    assert "metadata of frank@acme.example cannot be read: it decrypts to text that is not JSON" in notes
    assert "left alone (not managed here)" in notes and "ops" not in notes and "42" not in notes
    bob_blob = db.one("SELECT user_metadata FROM user_details WHERE id = '3b000000-0000-4000-8000-000000000003'")
    # carol's metadata is managed: the plan replaces it, and says so (no value shown)
    user(config, "carol@acme.example")["metadata"] = {"team": "ops"}
    text = db.plan_text(config)
    assert "metadata: replaces the stored value, which cannot be read (it decrypts to a JSON number" in text, text
    assert "+ metadata.team: (sensitive value)" in text and "ops" not in text.replace("sales-ops", ""), text
    db.apply(config)
    blob = db.one(
        "SELECT ud.user_metadata FROM user_details ud JOIN users u ON u.id = ud.user_id "
        "WHERE u.email = 'carol@acme.example' AND ud.organization_id = '0a000000-0000-4000-8000-000000000001'"
    )
    assert tooljet_decrypt_metadata(blob) == {"team": "ops"}
    assert (
        db.one("SELECT user_metadata FROM user_details WHERE id = '3b000000-0000-4000-8000-000000000003'") == bob_blob
    )
    db.assert_no_changes(config)


def test_an_app_without_slug_is_visible_and_kept_when_its_grant_is_rewritten(tooljet_edge: ToolJetDb) -> None:
    # ToolJet: external-apis/AGENTS.md, AppsUtilService.create()/update() leave apps.name/slug NULL for apps made
    # through the v2 external API; group_apps grants them like any other app.
    db = tooljet_edge
    config = edge_config(db.variant)
    snapshot = db.plan(config).snapshot
    (grant,) = snapshot.workspaces["acme"].groups["finance"].app_grants
    assert grant.unnamed == (f"app {UNNAMED_APP} (no slug)",)
    assert UNNAMED_APP not in snapshot.workspaces["acme"].apps  # a configuration cannot name it
    db.apply(config)  # finance's grant is unchanged: its row for the app without a slug stays
    assert db.query("SELECT 1 FROM group_apps WHERE app_id = :id", id=UNNAMED_APP) == [(1,)]
    db.assert_no_changes(config)
    # the grant is rewritten at the same level: the app stays, and the plan line says so
    group(config, "finance")["granular"] = {"apps": [{"access": "view", "apps": ["invoices", "payroll"]}]}
    unnamed = f"app {UNNAMED_APP} (no slug)"
    text = db.plan_text(config)
    assert f"granular.apps: view [invoices, {unnamed}] -> view [invoices, payroll, {unnamed}]" in text, text
    db.apply(config)
    rows = db.query(
        "SELECT coalesce(ap.slug, ap.id::text) FROM group_apps ga JOIN apps ap ON ap.id = ga.app_id "
        "JOIN apps_group_permissions a ON a.id = ga.apps_group_permissions_id "
        "WHERE a.granular_permission_id = '0d000000-0000-4000-8000-0000000000a6' ORDER BY 1"
    )
    assert rows == [(UNNAMED_APP,), ("invoices",), ("payroll",)]
    db.assert_no_changes(config)


def test_an_app_without_slug_leaves_only_with_a_line_in_the_plan(tooljet_edge: ToolJetDb) -> None:
    db = tooljet_edge
    config = edge_config(db.variant)
    del group(config, "finance")["granular"]  # finance's only grant goes, and with it the app without a slug
    unnamed = f"app {UNNAMED_APP} (no slug)"
    text = db.plan_text(config)
    assert f"granular.apps: view [invoices, {unnamed}] -> none" in text, text
    db.apply(config)
    assert db.query("SELECT 1 FROM group_apps WHERE app_id = :id", id=UNNAMED_APP) == []
    db.assert_no_changes(config)


def test_empty_child_rows_read_as_no_access(tooljet_edge: ToolJetDb) -> None:
    # ToolJet grants nothing through a child with every action false (group-permissions granular rows).
    db = tooljet_edge
    config = edge_config(db.variant)
    snapshot = db.plan(config).snapshot
    empty = snapshot.workspaces["acme"].groups["empty-grants"]
    assert empty.app_grants == () and empty.data_source_grants == ()
    group(config, "empty-grants")["granular"] = {
        "apps": [{"access": "view", "apps": ["invoices"]}],
        "data_sources": [{"access": "use", "data_sources": ["stripe"]}],
    }
    user(config, "gina@acme.example")["role"] = "builder"  # a data source grant makes the group builder-level
    text = db.plan_text(config)
    assert "granular.apps: none -> view [invoices]" in text, text
    assert "granular.data_sources: none -> use [stripe]" in text, text
    db.apply(config)
    assert db.one(
        "SELECT can_edit, can_view FROM apps_group_permissions WHERE id = '0e000000-0000-4000-8000-0000000000e1'"
    ) == (False, True)
    assert db.one(
        "SELECT can_configure, can_use FROM data_sources_group_permissions "
        "WHERE id = '0f000000-0000-4000-8000-0000000000e1'"
    ) == (False, True)
    db.assert_no_changes(config)


def test_export_of_every_edge_state_plans_no_changes_or_says_why(tooljet_edge: ToolJetDb) -> None:
    db = tooljet_edge
    backend = db.backend()
    snapshot = backend.read_snapshot(["acme", "other"], None)
    exported = snapshot_to_config(snapshot, with_metadata=True)
    warnings = adoption_warnings(snapshot)
    plan = db.plan(copy.deepcopy(exported)).plan
    changed = {op.address for op in plan.ops}
    # every change the plan makes was announced by export, naming the member and why
    assert changed == {"acme/user/frank@acme.example", "acme/user/gina@acme.example", "acme/user/hank@acme.example"}
    for email, why in (
        ("frank", "is in default groups admin, builder; exported as admin"),
        ("gina", "is in default groups none; exported as end-user"),
        ("hank", 'is stored as end-user but is in builder-level group "builders-x"'),
    ):
        assert any(f"{email}@acme.example {why}" in w for w in warnings), (email, warnings)
    assert any("metadata of carol@acme.example cannot be read" in w for w in warnings), warnings
    assert any(f"grants app {UNNAMED_APP} (no slug)" in w for w in warnings), warnings
    db.apply(exported)
    again = snapshot_to_config(backend.read_snapshot(["acme", "other"], None), with_metadata=True)
    assert render_text(db.plan(again).plan).startswith(NO_CHANGES)
    db.assert_no_changes(exported)


def test_declared_end_user_in_builder_level_group_says_what_happens(tooljet_edge: ToolJetDb) -> None:
    # ToolJet's Edit role to end-user removes builder-level custom groups (organization-users/util.service.ts
    # handleGroupsAndRoleChanges -> roles/util.service.ts editDefaultGroupUserRole); rule 1 instead keeps the
    # group and the builder role, and the plan says so and how to get ToolJet's result.
    db = tooljet_edge
    config = edge_config(db.variant)
    db.apply(config)  # hank becomes builder (declared)
    user(config, "hank@acme.example")["role"] = "end-user"
    planned = db.plan(config)
    assert planned.plan.empty
    (note,) = [n for n in planned.plan.notes if "hank" in n]
    assert 'declared end-user but stays builder because of group "builders-x"' in note, note
    assert note.endswith("; to make them an end-user, take the group out of their entry (as ToolJet's Edit role does)")
    user(config, "hank@acme.example")["groups"] = []
    text = db.plan_text(config)
    assert "builder -> end-user" in text, text
    db.apply(config)
    assert db.role_of("hank@acme.example") == ["end-user"] and db.groups_of("hank@acme.example") == []
    db.assert_no_changes(config)


def test_repairs_and_kept_apps_survive_a_saved_plan(tooljet_edge: ToolJetDb) -> None:
    db = tooljet_edge
    config = edge_config(db.variant)
    group(config, "finance")["granular"] = {"apps": [{"access": "view", "apps": ["invoices", "payroll"]}]}
    plan = db.plan(config).plan
    loaded = load_saved_plan(dump_saved_plan(plan, None), None, allow_unsigned=True)
    assert loaded.ops == plan.ops
    repairs = {op.email: (op.default_groups_found, op.repair_role) for op in loaded.ops if op.address.count("/user/")}
    assert repairs["frank@acme.example"] == (("admin", "builder"), "admin")
    assert repairs["gina@acme.example"] == ((), "end-user")
    (finance,) = [op for op in loaded.ops if isinstance(op, ops.UpdateGroup)]
    assert finance.after.app_grants[0].unnamed == (f"app {UNNAMED_APP} (no slug)",)


def test_empty_child_rows_alone_show_as_drift(tooljet: ToolJetDb) -> None:
    # The same rows on the ordinary seed, so that nothing else in the workspace is unusual: before issue 16 the
    # app child read as view (plan "No changes" against view [invoices]), the data source child as configure.
    db = tooljet
    config = base_config(db.variant)
    db.query(
        "UPDATE apps_group_permissions SET can_view = false WHERE granular_permission_id = :id RETURNING 1",
        id=FINANCE_APPS,
    )
    db.query(
        "UPDATE data_sources_group_permissions SET can_use = false WHERE granular_permission_id = :id RETURNING 1",
        id=SALES_OPS_SOURCES,
    )
    text = db.plan_text(config)
    assert "granular.apps: none -> view [invoices]" in text, text
    assert "granular.data_sources: none -> use [stripe]" in text, text
    db.apply(config)
    assert db.one(
        "SELECT can_edit, can_view FROM apps_group_permissions WHERE granular_permission_id = :id", id=FINANCE_APPS
    ) == (False, True)
    assert db.one(
        "SELECT can_configure, can_use FROM data_sources_group_permissions WHERE granular_permission_id = :id",
        id=SALES_OPS_SOURCES,
    ) == (False, True)
    db.assert_no_changes(config)


def cli(db: ToolJetDb, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        main,
        ["--backend", "tooljet", "--database", db.url, *args],
        env={"RECONCILER_MASTER_KEY": "5e" * 32, **(env or {})},
    )


def test_export_then_plan_through_the_cli_names_every_change(tooljet_edge: ToolJetDb, tmp_path: Path) -> None:
    db = tooljet_edge
    exported = tmp_path / "exported.yaml"
    result = cli(db, "export", "-o", str(exported))
    assert result.exit_code == 0, result.output
    for expected in (
        "Warning: acme: frank@acme.example is in default groups admin, builder; exported as admin",
        "Warning: acme: gina@acme.example is in default groups none; exported as end-user",
        'Warning: acme: hank@acme.example is stored as end-user but is in builder-level group "builders-x"',
        "Warning: acme: the metadata of bob@acme.example cannot be read",
        f"Warning: acme: group 'finance' grants app {UNNAMED_APP} (no slug)",
    ):
        assert expected in result.output, result.output
    planned = cli(db, "plan", "-f", str(exported), "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "Note: acme: the stored metadata of carol@acme.example cannot be read" in planned.output
    assert "Traceback" not in planned.output
    applied = cli(db, "apply", "-f", str(exported), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    again = cli(db, "plan", "-f", str(exported), "--detailed-exitcode")
    assert again.exit_code == 0 and NO_CHANGES in again.output, again.output


def test_drift_shows_repairs_and_empty_rows(tooljet_edge: ToolJetDb) -> None:
    db = tooljet_edge
    config = edge_config(db.variant)
    group(config, "empty-grants")["granular"] = {"apps": [{"access": "view", "apps": ["invoices"]}]}
    drifted = cli(db, "drift", "-f", str(db.write(config)))
    assert drifted.exit_code == 2, drifted.output
    assert "frank@acme.example" in drifted.output and "empty-grants" in drifted.output, drifted.output


def test_a_key_that_opens_no_metadata_at_all_is_still_an_error(tooljet_edge: ToolJetDb) -> None:
    # Tolerating a blob the key cannot open is safe only when the key is shown right by another blob: with a
    # wrong key every blob fails, and replacing values would write them under a key ToolJet does not have.
    db = tooljet_edge
    result = cli(db, "plan", "-f", str(db.write(edge_config(db.variant))), env={"LOCKBOX_MASTER_KEY": "cd" * 32})
    assert result.exit_code == 1, result.output
    assert "could not be decrypted" in result.output and "LOCKBOX_MASTER_KEY" in result.output
    assert "Traceback" not in result.output


def test_people_commands_and_the_report_read_the_edge_states(tooljet_edge: ToolJetDb, tmp_path: Path) -> None:
    db = tooljet_edge
    listing = cli(db, "users", "--workspace", "acme")
    assert listing.exit_code == 0, listing.output
    assert "carol@acme.example" in listing.output and "frank@acme.example" in listing.output
    explained = cli(db, "explain", "carol@acme.example", "--workspace", "acme", "--reveal")
    assert explained.exit_code == 0, explained.output
    assert "42" not in explained.output
    report = cli(db, "report", "-f", str(db.write(edge_config(db.variant))), "-o", str(tmp_path / "report.html"))
    assert report.exit_code == 0, report.output
    assert "frank@acme.example" in (tmp_path / "report.html").read_text(encoding="utf-8")
