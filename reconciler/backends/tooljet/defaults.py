"""A new workspace, created the way ToolJet's ``createDefaultGroups`` creates one (reference §3).

Stage: apply. Three ``type='default'`` groups, inserted in ToolJet's order (end-user, admin, builder), with the
flags of ``DEFAULT_GROUP_PERMISSIONS`` on whatever flag columns the database has, then one ``Apps`` granular row
per group (edit for admin and builder, view for end-user, each with its ``apps_group_permissions`` row and
ToolJet's environment access) and a ``Data sources`` row for admin and builder. Like ToolJet CE, the data source
rows get no child row; the reader reads them as "configure all", which is what ToolJet's constants mean.
Environments, themes, sample data sources and the other rows ToolJet's signup also writes are not in the tables
this backend touches (docs/tooljet.md, caveats).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from .flags import default_group_columns
from .granular import GRANULAR_INSERT, app_child, app_child_insert, new_id
from .reader import ExistingGrant, ToolJetIds
from .variant import Variant

ROLE_ORDER = ("end-user", "admin", "builder")  # Object.keys(USER_ROLE)
_APP_ACCESS = {"admin": "edit", "builder": "edit", "end-user": "view"}


def create_default_groups(
    conn: Connection, variant: Variant, ids: ToolJetIds, workspaces: list[tuple[str, str]]
) -> None:
    """The default groups and granular rows of each new ``(slug, organization id)``."""
    group_rows, granular_rows, app_rows = [], [], []
    for slug, org_id in workspaces:
        for role in ROLE_ORDER:
            group_id = new_id()
            group_rows.append({"id": group_id, "org": org_id, "name": role, **default_group_columns(variant, role)})
            ids.groups[slug, role] = group_id
            granular_rows += _granular(variant, ids, group_id, role, app_rows)
    columns = [c for c in group_rows[0] if c not in ("id", "org", "name")] if group_rows else []
    names = ", ".join(["id", "organization_id", "name", "type", *columns])
    values = ", ".join([":id", ":org", ":name", "'default'", *(f":{c}" for c in columns)])
    _many(conn, f"INSERT INTO permission_groups ({names}) VALUES ({values})", group_rows)
    _many(conn, GRANULAR_INSERT, granular_rows)
    _many(conn, app_child_insert(variant), app_rows)


def _granular(variant: Variant, ids: ToolJetIds, group_id: str, role: str, app_rows: list[dict]) -> list[dict]:
    access = _APP_ACCESS[role]
    apps_id, child_id = new_id(), new_id()
    row = app_child(child_id, apps_id, access, False, variant, builder=role == "builder")
    app_rows.append(row)
    rows = [{"id": apps_id, "group_id": group_id, "name": "Apps", "type": "app", "is_all": True}]
    ids.grants[group_id, "app"] = [ExistingGrant(apps_id, "Apps", child_id, access)]
    ids.granular_names[group_id].add("Apps")
    if role != "end-user":
        sources_id = new_id()
        rows.append(
            {"id": sources_id, "group_id": group_id, "name": "Data sources", "type": "data_source", "is_all": True}
        )
        ids.grants[group_id, "data_source"] = [ExistingGrant(sources_id, "Data sources", None, None)]
        ids.granular_names[group_id].add("Data sources")
    return rows


def _many(conn: Connection, sql: str, rows: list[dict]) -> None:
    if rows:
        conn.execute(text(sql), rows)
