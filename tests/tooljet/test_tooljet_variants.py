"""Schema variants: what introspection finds, and databases this backend refuses (naming what it found)."""

from __future__ import annotations

import pytest
from tooljet_harness import ToolJetDb, load_sql

from reconciler.backends.tooljet import ToolJetBackend
from reconciler.errors import StateError

EXPECTED = {
    "v3_early": "folder flags folder_crud; workflow flags no; promote/release flags no; ToolJet database flag no; "
    "module flags no; other flags none; can_access_* columns no; organization_users.status varchar",
    "v3_recent": "folder flags folder_create/folder_delete; workflow flags yes; promote/release flags yes; "
    "ToolJet database flag no; module flags no; other flags folder_data_source_create, folder_data_source_delete; "
    "can_access_* columns yes; organization_users.status enum status",
    # ToolJet's 2026 migrations 1782112343421, 1782196835449, 1784112371030, 1784551352800 (server/migrations)
    "v3_newest": "folder flags folder_create/folder_delete; workflow flags yes; promote/release flags yes; "
    "ToolJet database flag yes; module flags yes; other flags folder_data_source_create, folder_data_source_delete, "
    "module_folder_create, module_folder_delete, workflow_folder_create, workflow_folder_delete; "
    "can_access_* columns yes; organization_users.status enum status",
}


def test_each_variant_is_recognised(tooljet: ToolJetDb) -> None:
    backend = tooljet.backend()
    assert backend.variant().describe().endswith(EXPECTED[tooljet.variant])
    assert backend.list_workspaces() == ["acme", "other"]


def refusal(url: str) -> str:
    backend = ToolJetBackend(url)
    try:
        with pytest.raises(StateError) as caught:
            backend.read_snapshot(["acme"], None)
    finally:
        backend.close()
    return caught.value.message


def test_an_empty_schema_is_refused(empty_schema: str) -> None:
    assert "found no ToolJet tables (found: no tables at all)" in refusal(empty_schema)


def test_tooljet_2_is_refused(empty_schema: str) -> None:
    _sql(empty_schema, 'CREATE TABLE group_permissions (id uuid PRIMARY KEY, organization_id uuid, "group" varchar)')
    assert "ToolJet 2.x permission tables (group_permissions)" in refusal(empty_schema)


def test_an_incomplete_schema_is_refused(empty_schema: str) -> None:
    load_sql(empty_schema, "schema_v3_early.sql")
    _sql(empty_schema, "ALTER TABLE user_details DROP COLUMN user_metadata")
    assert "missing user_details.user_metadata" in refusal(empty_schema)


def test_a_half_migrated_folder_permission_system_is_refused(empty_schema: str) -> None:
    load_sql(empty_schema, "schema_v3_early.sql")
    _sql(empty_schema, "ALTER TABLE permission_groups ADD COLUMN folder_create boolean NOT NULL DEFAULT false")
    message = refusal(empty_schema)
    assert "folder columns this backend does not know how to map (folder_crud, folder_create)" in message


def test_partial_environment_columns_are_refused(empty_schema: str) -> None:
    load_sql(empty_schema, "schema_v3_early.sql")
    _sql(empty_schema, "ALTER TABLE apps_group_permissions ADD COLUMN can_access_development boolean DEFAULT true")
    assert "only some apps_group_permissions.can_access_* columns (can_access_development)" in refusal(empty_schema)


def test_sqlite_is_refused(tmp_path) -> None:
    with pytest.raises(StateError) as caught:
        ToolJetBackend(f"sqlite:///{tmp_path / 'x.db'}")
    assert "needs ToolJet's PostgreSQL database" in caught.value.message


def _sql(url: str, statement: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        conn.execute(statement)
