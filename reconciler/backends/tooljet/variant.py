"""Which ToolJet 3.x schema a database has, found by introspection (reference: tooljet-schema.md §6).

Stage: storage. ToolJet's tables changed shape across 3.x releases (``folder_crud`` split into
``folder_create``/``folder_delete``, workflow and promote/release flags, ``can_access_*`` columns, an enum or a
varchar ``organization_users.status``, and in 2026 ``tjdb_crud``, ``module_*``, ``workflow_folder_*`` and
``module_folder_*``). Everything the reader and the executor write depends on the variant, so
it is read once from ``information_schema`` and carried as a frozen :class:`Variant`. A database this backend
does not understand is refused with a message naming what was found, before anything is read or written.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import Connection, text

from ...errors import StateError

# Tables and columns every supported variant has (ToolJet 3.x after 1721716375696).
REQUIRED: dict[str, tuple[str, ...]] = {
    "organizations": ("id", "name", "slug", "status"),
    "users": ("id", "email", "first_name", "last_name", "status", "invitation_token"),
    "organization_users": ("id", "organization_id", "user_id", "role", "status", "invitation_token"),
    "permission_groups": (
        "id",
        "organization_id",
        "name",
        "type",
        "app_create",
        "app_delete",
        "org_constant_crud",
        "data_source_create",
        "data_source_delete",
    ),
    "group_users": ("id", "user_id", "group_id"),
    "granular_permissions": ("id", "group_id", "name", "type", "is_all", "created_at"),
    "apps_group_permissions": ("id", "granular_permission_id", "can_edit", "can_view", "hide_from_dashboard"),
    "group_apps": ("id", "app_id", "apps_group_permissions_id"),
    "data_sources_group_permissions": ("id", "granular_permission_id", "can_configure", "can_use"),
    "group_data_sources": ("id", "data_source_id", "data_sources_group_permissions_id"),
    "user_details": ("id", "user_id", "organization_id", "user_metadata"),
    "apps": ("id", "name", "slug", "organization_id"),
    "data_sources": ("id", "name", "organization_id"),
}
ENV_ACCESS_COLUMNS = ("can_access_development", "can_access_staging", "can_access_production", "can_access_released")
FOLDER_CRUD = ("folder_crud",)
FOLDER_SPLIT = ("folder_create", "folder_delete")
# The flag columns configuration keys map to (flags.py), wherever the schema has them.
KNOWN_FLAG_COLUMNS = frozenset(
    {
        "app_create",
        "app_delete",
        "org_constant_crud",
        "data_source_create",
        "data_source_delete",
        *FOLDER_CRUD,
        *FOLDER_SPLIT,
        "app_promote",
        "app_release",
        "workflow_create",
        "workflow_delete",
        "tjdb_crud",
        "module_create",
        "module_delete",
    }
)

_COLUMNS_SQL = text(
    "SELECT table_name, column_name, data_type, udt_name FROM information_schema.columns "
    "WHERE table_schema = current_schema()"
)
_ENUM_SQL = text("SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = to_regtype(:name) ORDER BY e.enumsortorder")
# A unique index on exactly (organization_id, user_id): what the metadata upsert's ON CONFLICT needs.
_DETAILS_UNIQUE_SQL = text(
    "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
    "WHERE c.oid = to_regclass('user_details') AND i.indisunique AND i.indnkeyatts = 2 AND ("
    "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a "
    "WHERE a.attrelid = c.oid AND a.attnum = ANY(i.indkey)) = ARRAY['organization_id', 'user_id']"
)


@dataclass(frozen=True)
class Variant:
    """The shape of one ToolJet database, as far as this backend reads and writes it."""

    schema: str
    columns: dict[str, frozenset[str]]  # table -> column names
    group_flags: frozenset[str]  # boolean columns of permission_groups
    folder_columns: tuple[str, ...]  # FOLDER_CRUD or FOLDER_SPLIT
    env_access: bool  # apps_group_permissions.can_access_* exist
    membership_status_type: str  # "varchar" or the enum type's name
    # ToolJet's own audit_logs table (issue 16 L4), with text action/resource types: written where it exists.
    audit_logs: bool = False

    def has(self, table: str, column: str) -> bool:
        return column in self.columns.get(table, frozenset())

    @property
    def workflow_flags(self) -> bool:
        return "workflow_create" in self.group_flags

    @property
    def promote_flags(self) -> bool:
        return "app_promote" in self.group_flags

    @property
    def tooljet_database_flag(self) -> bool:
        return "tjdb_crud" in self.group_flags  # 1782112343421

    @property
    def module_flags(self) -> bool:
        return "module_create" in self.group_flags  # 1782196835449

    @property
    def other_flags(self) -> tuple[str, ...]:
        """Boolean columns of permission_groups no configuration key maps to (builder-level when true)."""
        return tuple(sorted(self.group_flags - KNOWN_FLAG_COLUMNS))

    def describe(self) -> str:
        """One line for messages and docs: what was found."""
        yes = {True: "yes", False: "no"}
        return (
            f"ToolJet 3.x schema {self.schema!r}: folder flags {'/'.join(self.folder_columns)}; "
            f"workflow flags {yes[self.workflow_flags]}; promote/release flags {yes[self.promote_flags]}; "
            f"ToolJet database flag {yes[self.tooljet_database_flag]}; module flags {yes[self.module_flags]}; "
            f"other flags {', '.join(self.other_flags) or 'none'}; "
            f"can_access_* columns {yes[self.env_access]}; organization_users.status {self.membership_status_type}"
        )


def detect_variant(conn: Connection) -> Variant:
    """Read the schema on the search path and return its variant, or raise :class:`StateError`."""
    schema = str(conn.scalar(text("SELECT current_schema()")))
    columns: defaultdict[str, set[str]] = defaultdict(set)
    types: dict[tuple[str, str], tuple[str, str]] = {}
    for table, column, data_type, udt in conn.execute(_COLUMNS_SQL):
        columns[table].add(column)
        types[table, column] = (data_type, udt)
    _require_tooljet_3(schema, columns)
    flags = frozenset(c for c in columns["permission_groups"] if types["permission_groups", c][0] == "boolean")
    variant = Variant(
        schema=schema,
        columns={table: frozenset(names) for table, names in columns.items()},
        group_flags=flags,
        folder_columns=_folder_columns(schema, flags),
        env_access=_env_access(schema, columns["apps_group_permissions"]),
        membership_status_type=_status_type(schema, types["organization_users", "status"]),
        audit_logs=_has_audit_logs(types),
    )
    _require_resource_types(conn, schema, types["granular_permissions", "type"])
    if not conn.scalar(_DETAILS_UNIQUE_SQL):
        _refuse(schema, "user_details has no unique constraint on (organization_id, user_id) (migration 1721310882702)")
    return variant


AUDIT_LOG_COLUMNS = ("id", "organization_id", "action_type", "resource_id", "resource_type", "resource_name")


def _has_audit_logs(types: dict[tuple[str, str], tuple[str, str]]) -> bool:
    """ToolJet's ``audit_logs`` (server/migrations/1637909008629-CreateAuditLogs.ts: varchar action and resource
    types) is written where it has the columns this backend fills; any other shape is left alone."""
    if any(("audit_logs", column) not in types for column in AUDIT_LOG_COLUMNS):
        return False
    text_types = ("character varying", "text")
    return all(types["audit_logs", c][0] in text_types for c in ("action_type", "resource_type"))


def _require_tooljet_3(schema: str, columns: dict[str, set[str]]) -> None:
    if "permission_groups" not in columns:
        if "group_permissions" in columns:
            _refuse(
                schema, "ToolJet 2.x permission tables (group_permissions); only 3.x permission_groups are supported"
            )
        found = ", ".join(sorted(columns)[:12]) or "no tables at all"
        _refuse(schema, f"no ToolJet tables (found: {found})")
    missing = [
        f"{table}.{column}" if table in columns else table
        for table, needed in REQUIRED.items()
        for column in needed
        if column not in columns.get(table, ())
    ]
    if missing:
        _refuse(schema, "an incomplete ToolJet 3.x schema; missing " + ", ".join(dict.fromkeys(missing)))


def _folder_columns(schema: str, flags: frozenset[str]) -> tuple[str, ...]:
    crud, split = "folder_crud" in flags, [c for c in FOLDER_SPLIT if c in flags]
    if crud and not split:
        return FOLDER_CRUD
    if not crud and len(split) == len(FOLDER_SPLIT):
        return FOLDER_SPLIT
    found = ", ".join(c for c in (*FOLDER_CRUD, *FOLDER_SPLIT) if c in flags) or "none of them"
    _refuse(schema, f"permission_groups folder columns this backend does not know how to map ({found})")


def _env_access(schema: str, columns: set[str]) -> bool:
    present = [c for c in ENV_ACCESS_COLUMNS if c in columns]
    if present and len(present) != len(ENV_ACCESS_COLUMNS):
        _refuse(schema, "only some apps_group_permissions.can_access_* columns (" + ", ".join(present) + ")")
    return bool(present)


def _status_type(schema: str, column_type: tuple[str, str]) -> str:
    data_type, udt = column_type
    if data_type == "character varying":
        return "varchar"
    if data_type == "USER-DEFINED":
        return f"enum {udt}"
    _refuse(schema, f"organization_users.status of type {data_type}")


def _require_resource_types(conn: Connection, schema: str, column_type: tuple[str, str]) -> None:
    data_type, udt = column_type
    if data_type != "USER-DEFINED":
        return
    labels = set(conn.scalars(_ENUM_SQL, {"name": udt}))
    missing = {"app", "data_source"} - labels
    if missing:
        _refuse(schema, f"granular_permissions.type ({udt}) without " + ", ".join(sorted(missing)))


def _refuse(schema: str, found: str) -> NoReturn:
    raise StateError(
        f"the tooljet backend does not understand the database schema {schema!r}: found {found}",
        hint="point --database at a ToolJet 3.x database (search_path on ToolJet's schema); see docs/tooljet.md",
    )
