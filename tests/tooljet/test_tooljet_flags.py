"""Group flag columns on every schema variant (issue 16, M1 and M5): what a group the tool creates holds, the optional
configuration keys (apps promote/release, workflows, ToolJet database, modules), and flags or environment access the
configuration cannot express, which still make a group builder-level in ToolJet.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from tooljet_harness import VARIANTS, ToolJetDb, acme, base_config, group, user

from reconciler.cli import cli
from reconciler.errors import PlanRefused
from reconciler.render.text import NO_CHANGES

NEWEST = ["v3_newest"]  # the 2026 columns (tjdb_crud, module_*, workflow_folder_*, module_folder_*)
WITH_OPTIONAL = [v for v in VARIANTS if v != "v3_early"]  # workflow and promote/release flags, can_access_*
FINANCE = "0c000000-0000-4000-8000-0000000000a4"  # acme's custom group finance (seed_groups_*.sql)
FINANCE_APPS = "0d000000-0000-4000-8000-0000000000a6"  # its Apps granular row (view on invoices)
NEW_KEYS = {
    "apps": {"create": True, "delete": False, "promote": True, "release": True},
    "workflows": {"create": True, "delete": True},
    "tooljet_database": {"create": True, "update": True, "delete": True},
    "modules": {"create": True, "delete": True},
}


def run(db: ToolJetDb, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--backend", "tooljet", "--database", db.url, *args], env={"RECONCILER_MASTER_KEY": "5e" * 32}
    )


def role_changes(planned) -> list[tuple[str, str, str, str]]:
    return [(c.email, c.old, c.new, c.cause) for c in planned.plan.role_changes]


def flag_row(db: ToolJetDb, name: str) -> dict[str, bool]:
    columns = [
        c
        for (c,) in db.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'permission_groups' AND data_type = 'boolean' ORDER BY column_name"
        )
    ]
    values = db.one(
        f"SELECT {', '.join(columns)} FROM permission_groups WHERE name = :n AND organization_id = "
        "'0a000000-0000-4000-8000-000000000001'",
        n=name,
    )
    return dict(zip(columns, values, strict=True))


def execute(db: ToolJetDb, sql: str, **params: object) -> None:
    """An out-of-band change, as ToolJet's UI (or an admin) makes it."""
    engine = create_engine(make_url(db.url).set(drivername="postgresql+psycopg"))
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()


# --- M1: what a group the tool creates holds ----------------------------------------------------------------------


def test_a_group_the_tool_creates_holds_toolJets_value_in_every_flag_column(tooljet: ToolJetDb) -> None:
    # ToolJet creates a custom group with createGroup(organizationId, { name }) (group-permissions/service.ts,
    # repository.ts createGroup): every flag column gets its column default. On v3_newest that includes tjdb_crud,
    # module_*, workflow_folder_* and module_folder_* (server/migrations/1782112343421, 1782196835449,
    # 1784112371030, 1784551352800: NOT NULL DEFAULT false).
    defaults = {
        column: default
        for column, default in tooljet.query(
            "SELECT column_name, column_default FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = 'permission_groups' AND data_type = 'boolean'"
        )
    }
    assert all(default == "false" for default in defaults.values()), defaults
    config = base_config(tooljet.variant)
    acme(config)["groups"].append({"name": "ops", "permissions": {"apps": {"create": True}}})
    tooljet.apply(config)

    row = flag_row(tooljet, "ops")
    assert row == {column: column == "app_create" for column in defaults}
    if tooljet.variant == "v3_newest":
        assert {"tjdb_crud", "module_create", "workflow_folder_create", "module_folder_delete"} <= row.keys()
    tooljet.assert_no_changes(config)


@pytest.mark.parametrize("tooljet", NEWEST, indirect=True)
def test_the_seeded_default_groups_hold_toolJets_backfills(tooljet: ToolJetDb) -> None:
    # server/migrations/1782112568534-BackfillTjdbPermission, 1782197622558-BackfillModuleCreateDeleteForDefaultGroups,
    # 1784112436513 (workflow folders: admin), 1784551394230 (module folders: admin and, on CE, builder)
    assert tooljet.query(
        "SELECT name, tjdb_crud, module_create, module_delete, workflow_folder_create, module_folder_create "
        "FROM permission_groups WHERE organization_id = '0a000000-0000-4000-8000-000000000001' "
        "AND type = 'default' ORDER BY name"
    ) == [
        ("admin", True, True, True, True, True),
        ("builder", True, True, True, False, True),
        ("end-user", False, False, False, False, False),
    ]


# --- the optional keys --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tooljet", NEWEST, indirect=True)  # every optional key has its column there
def test_the_optional_keys_write_their_columns_and_round_trip_through_export(
    tooljet: ToolJetDb, tmp_path: Path
) -> None:
    config = base_config(tooljet.variant)
    acme(config)["groups"].append({"name": "ops", "permissions": NEW_KEYS})
    plan_text = tooljet.plan_text(config)
    assert "permissions.tooljet_database.create: true" in plan_text
    assert "permissions.workflows.create: true" in plan_text
    tooljet.apply(config)
    row = flag_row(tooljet, "ops")
    written = {c for c, on in row.items() if on}
    assert written == {
        "app_create",
        "app_promote",
        "app_release",
        "workflow_create",
        "workflow_delete",
        "tjdb_crud",
        "module_create",
        "module_delete",
    }
    tooljet.assert_no_changes(config)

    exported = tmp_path / "exported.yaml"
    assert run(tooljet, "export", "--workspace", "acme", "-o", str(exported)).exit_code == 0
    text = exported.read_text(encoding="utf-8")
    assert "tooljet_database:" in text and "modules:" in text and "promote: true" in text
    planned_cli = run(tooljet, "plan", "-f", str(exported), "--detailed-exitcode")
    assert planned_cli.exit_code == 0, planned_cli.output
    assert NO_CHANGES in planned_cli.output

    group(config, "ops")["permissions"]["tooljet_database"] = {"create": False, "update": False, "delete": False}
    tooljet.apply(config)
    assert flag_row(tooljet, "ops")["tjdb_crud"] is False
    tooljet.assert_no_changes(config)


@pytest.mark.parametrize("tooljet", WITH_OPTIONAL, indirect=True)
def test_a_configuration_that_does_not_mention_an_optional_key_leaves_its_column_alone(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    group(config, "sales-ops")["permissions"] = {"apps": {"create": True, "delete": True}}  # no promote, workflows
    planned, _ = tooljet.apply(config)
    assert [(c.field, c.old, c.new) for op in planned.plan.ops for c in getattr(op, "changes", ())] == [
        ("permissions.apps.delete", False, True)
    ]
    row = flag_row(tooljet, "sales-ops")
    assert (row["app_delete"], row["workflow_create"], row["app_promote"], row["app_release"]) == (
        True,
        True,
        True,
        True,
    )
    tooljet.assert_no_changes(config)


@pytest.mark.parametrize("tooljet", ["v3_early", "v3_recent"], indirect=True)  # v3_newest has every column
def test_an_optional_key_whose_column_the_schema_lacks_is_refused(tooljet: ToolJetDb) -> None:
    key, column, migration = {
        "v3_early": ("workflows", "workflow_create", "1746705301652"),
        "v3_recent": ("tooljet_database", "tjdb_crud", "1782112343421"),
    }[tooljet.variant]
    before = tooljet.dump()
    config = base_config(tooljet.variant)
    group(config, "finance")["permissions"] = {key: {"create": True}}
    with pytest.raises(PlanRefused) as caught:
        tooljet.plan(config)
    assert (
        f'workspace "acme", group "finance": permissions.{key}.create needs the column permission_groups.{column}, '
        f"which this ToolJet database does not have (added by ToolJet's migration {migration})"
    ) in str(caught.value)
    path = tooljet.write(config)
    result = run(tooljet, "plan", "-f", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"permissions.{key}.create needs the column" in result.output
    # located at the group's permissions in the file
    assert f"Error: {path}:" in result.output and '.permissions: workspace "acme", group "finance"' in result.output
    assert tooljet.dump() == before


# --- M5: what the configuration cannot express still makes a group builder-level ---------------------------------


@pytest.mark.parametrize("tooljet", WITH_OPTIONAL, indirect=True)
def test_an_end_user_put_into_a_group_with_a_stored_workflow_flag_is_shown_promoted(tooljet: ToolJetDb) -> None:
    # ToolJet's isEditableGroup counts every true boolean of the group (roles/util.service.ts), so an end-user cannot
    # sit in a group with workflow_create; addUsersToGroup promotes them or refuses (group-permissions/util.service.ts)
    execute(tooljet, "UPDATE permission_groups SET workflow_create = true WHERE id = :g", g=FINANCE)
    config = base_config(tooljet.variant)
    user(config, "dave@acme.example")["groups"] = ["finance"]
    planned, _ = tooljet.apply(config)

    cause = 'implied by group "finance" (workflows.create)'
    assert role_changes(planned) == [
        ("carol@acme.example", "end-user", "builder", cause),
        ("dave@acme.example", "end-user", "builder", cause),
    ]
    assert tooljet.role_of("dave@acme.example") == ["builder"]
    assert tooljet.role_of("carol@acme.example") == ["builder"]
    assert flag_row(tooljet, "finance")["workflow_create"] is True  # never written: the config does not mention it
    tooljet.assert_no_changes(config)


@pytest.mark.parametrize("tooljet", WITH_OPTIONAL, indirect=True)  # v3_early: neither unmapped flags nor can_access_*
@pytest.mark.parametrize("what", ["flag", "environment"])
def test_flags_and_environment_access_without_a_configuration_key_make_a_group_builder_level(
    tooljet: ToolJetDb, what: str
) -> None:
    if what == "flag":
        column = "workflow_folder_create" if tooljet.variant == "v3_newest" else "folder_data_source_create"
        execute(tooljet, f"UPDATE permission_groups SET {column} = true WHERE id = :g", g=FINANCE)
        reason = f"ToolJet flag {column}"
    else:
        # roles/util.service.ts checkIfBuilderLevelEnvironmentPermissions: a non-released environment is
        # builder-level without the release licence (which this backend cannot see)
        execute(
            tooljet,
            "UPDATE apps_group_permissions SET can_access_development = true WHERE granular_permission_id = :g",
            g=FINANCE_APPS,
        )
        reason = "app access to the development environment"
    config = base_config(tooljet.variant)
    planned = tooljet.plan(config)
    assert role_changes(planned) == [
        ("carol@acme.example", "end-user", "builder", f'implied by group "finance" ({reason})')
    ]
    tooljet.apply(config)
    assert tooljet.role_of("carol@acme.example") == ["builder"]
    tooljet.assert_no_changes(config)


@pytest.mark.parametrize("tooljet", WITH_OPTIONAL, indirect=True)
def test_with_the_release_licence_environment_access_is_not_builder_level(
    tooljet: ToolJetDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    # roles/util.service.ts checkIfBuilderLevelEnvironmentPermissions: with the licence's release feature, access
    # to development, staging or production is not builder-level; the licence key is not in ToolJet's tables, so
    # RECONCILER_TOOLJET_RELEASE_LICENSE says so
    execute(
        tooljet,
        "UPDATE apps_group_permissions SET can_access_development = true WHERE granular_permission_id = :g",
        g=FINANCE_APPS,
    )
    monkeypatch.setenv("RECONCILER_TOOLJET_RELEASE_LICENSE", "true")
    tooljet.assert_no_changes(base_config(tooljet.variant))

    monkeypatch.setenv("RECONCILER_TOOLJET_RELEASE_LICENSE", "maybe")
    result = run(tooljet, "plan", "-f", str(tooljet.write(base_config(tooljet.variant))))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Error: RECONCILER_TOOLJET_RELEASE_LICENSE='maybe' is neither true nor false" in result.output


@pytest.mark.parametrize("tooljet", WITH_OPTIONAL, indirect=True)
def test_strict_roles_refuse_an_end_user_whom_a_stored_flag_would_promote(tooljet: ToolJetDb) -> None:
    # roles/util.service.ts isEditableGroup: any true flag makes the group builder-level, also one the
    # configuration has no key for; with strict roles the plan refuses instead of promoting carol (end-user, finance)
    column = "workflow_folder_create" if tooljet.variant == "v3_newest" else "folder_data_source_create"
    execute(tooljet, f"UPDATE permission_groups SET {column} = true WHERE id = :g", g=FINANCE)
    config = base_config(tooljet.variant)
    acme(config).setdefault("settings", {})["strict_roles"] = True
    before = tooljet.dump()

    result = run(tooljet, "plan", "-f", str(tooljet.write(config)))
    flag = run(tooljet, "plan", "-f", str(tooljet.write(base_config(tooljet.variant))), "--strict-roles")

    for refused in (result, flag):
        assert refused.exit_code == 1, refused.output
        assert "users[2].groups: workspace 'acme': carol@acme.example: End-users can only be granted" in refused.output
        assert "builder-level in ToolJet are the groups finance" in refused.output
    assert tooljet.dump() == before
