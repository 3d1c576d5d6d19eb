"""Test harness for the ToolJet backend: plan and apply configuration dicts, query and dump ToolJet's tables.

Configurations are written as YAML files (through ``yaml.safe_dump``) and go through the real loader, planner and
workflow (``load_desired``, ``make_plan``, ``apply_plan``), exactly as the CLI drives them. ``plan`` also calls
``ToolJetBackend.validate_plan``, which ``workflow.make_plan`` is meant to call for every backend.
"""

from __future__ import annotations

import copy
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from reconciler.backends.base import ApplyResult
from reconciler.backends.tooljet import ToolJetBackend
from reconciler.render.text import NO_CHANGES, render_text
from reconciler.workflow import Planned, apply_plan, load_desired, make_plan

SQL_DIR = Path(__file__).with_name("sql")
POSTGRES_ENV = "RECONCILER_TEST_POSTGRES_URL"


@contextmanager
def fresh_schema() -> Iterator[tuple[str, str, str]]:
    """(URL on a new empty schema, the schema, an admin URL); the schema and its audit twin are dropped after."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set: the tooljet backend is PostgreSQL-only")
    import psycopg
    from psycopg import sql

    schema = f"tj_{secrets.token_hex(6)}"
    admin = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False), schema, admin
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '30s'")
            for name in (schema, f"{schema}_audit"):
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def load_sql(url: str, *files: str) -> None:
    import psycopg

    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as conn:
        for name in files:
            for part in _layers(name):
                conn.execute((SQL_DIR / part).read_text(encoding="utf-8"))
                conn.commit()  # a migration's new enum value can be used only once it is committed
            if name.startswith("schema_"):  # tables every variant has, kept in files of their own
                for extra in SCHEMA_EXTRAS:
                    conn.execute((SQL_DIR / extra).read_text(encoding="utf-8"))


ON_TOP_OF = "-- on top of: "


def _layers(name: str) -> list[str]:
    """``name`` and the files it is written on top of (its first line ``-- on top of: FILE``), base first: a later
    variant is the earlier one plus ToolJet's migrations, as a migrated database is."""
    first = (SQL_DIR / name).read_text(encoding="utf-8").partition("\n")[0]
    base = first.removeprefix(ON_TOP_OF).strip() if first.startswith(ON_TOP_OF) else ""
    return [*_layers(base), name] if base else [name]


# Loaded right after every ``schema_<variant>.sql``, so that each variant (present and future) has them.
SCHEMA_EXTRAS = ("audit_logs.sql",)


VARIANTS = ("v3_early", "v3_recent", "v3_newest")
ACME_ID = "0a000000-0000-4000-8000-000000000001"
OTHER_ID = "0a000000-0000-4000-8000-000000000002"
ALL_FLAGS = {
    "apps": {"create": True, "delete": True},
    "folders": {"create": True, "update": True, "delete": True},
    "workspace_constants": {"create": True, "update": True, "delete": True},
    "data_sources": {"create": True, "delete": True},
}


def base_config(variant: str) -> dict[str, Any]:
    """The configuration that describes the seed exactly (plan: ``No changes.``)."""
    builder_flags = copy.deepcopy(ALL_FLAGS)
    sales_ops_flags: dict[str, Any] = {"apps": {"create": True}}
    if variant == "v3_early":  # early 3.0 constants: the builder could not create or delete data sources
        builder_flags["data_sources"] = {"create": False, "delete": False}
    else:  # the optional keys (issue 16) where the schema has their columns, as the seed holds them
        builder_flags["apps"] |= {"promote": True, "release": True}
        builder_flags["workflows"] = {"create": True, "delete": True}
        sales_ops_flags = {"apps": {"create": True, "promote": True, "release": True}, "workflows": {"create": True}}
    if variant == "v3_newest":  # 1782112568534 and 1782197622558 backfilled these for the builder
        builder_flags["tooljet_database"] = {"create": True, "update": True, "delete": True}
        builder_flags["modules"] = {"create": True, "delete": True}
    return {
        "version": 1,
        "workspaces": [
            {
                "slug": "acme",
                "name": "Acme Corp",
                "apps": [
                    {"slug": "invoices", "name": "Invoices"},
                    {"slug": "crm", "name": "CRM"},
                    {"slug": "payroll", "name": "Payroll"},
                ],
                "data_sources": [{"name": "postgres-prod"}, {"name": "stripe"}],
                "roles": {
                    "builder": {
                        "permissions": builder_flags,
                        "granular": {
                            "apps": [{"access": "edit", "apps": "all"}],
                            "data_sources": [{"access": "configure", "data_sources": "all"}],
                        },
                    }
                },
                "groups": [
                    {"name": "finance", "granular": {"apps": [{"access": "view", "apps": ["invoices"]}]}},
                    {
                        "name": "sales-ops",
                        "permissions": sales_ops_flags,
                        "granular": {
                            "apps": [{"access": "edit", "apps": ["crm"]}],
                            "data_sources": [{"access": "use", "data_sources": ["stripe"]}],
                        },
                    },
                ],
                "users": [
                    _user("alice", "Alice", "Smith", "admin", ["finance"]),
                    _user("bob", "Bob", "Jones", "builder", ["sales-ops"]),
                    _user("carol", "Carol", "Diaz", "end-user", ["finance"]),
                    {"email": "dave@acme.example", "first_name": "Dave", "role": "end-user"},
                    _user("erin", "Erin", "Park", "end-user", ["finance"]) | {"status": "archived"},
                ],
            }
        ],
    }


def _user(name: str, first: str, last: str, role: str, groups: list[str]) -> dict[str, Any]:
    return {"email": f"{name}@acme.example", "first_name": first, "last_name": last, "role": role, "groups": groups}


def acme(config: dict[str, Any]) -> dict[str, Any]:
    return config["workspaces"][0]


def user(config: dict[str, Any], email: str) -> dict[str, Any]:
    return next(u for u in acme(config)["users"] if u["email"] == email)


def group(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in acme(config)["groups"] if g["name"] == name)


def create_workspace_as_tooljet(
    url: str, slug: str, name: str, *, template: str = ACME_ID, creator: str | None = None
) -> str:
    """A workspace as ToolJet's own setup writes it into the main tables this backend reads, for tests that need
    one the database does not hold yet (the tooljet backend refuses to create workspaces). Returns its id.

    ``SetupOrganizationsUtilService.create`` (server/src/modules/setup-organization/util.service.ts) calls
    ``OrganizationRepository.createOne`` (server/src/modules/organizations/repository.ts: the organizations row
    and its ``sso_configs`` row ``sso 'form', enabled true``), creates the environments, then
    ``createDefaultGroups`` (server/src/modules/group-permissions/util.service.ts): three ``type 'default'`` groups
    with their granular rows. The groups are copied from the ``template`` workspace's default groups, which the
    seed (``seed_groups_<variant>.sql``) holds exactly as ``createDefaultGroups`` and the later data migrations
    left them for that schema variant; ``sso_configs`` and ``app_environments`` are written where the fixture has
    the tables. ``creator`` (an email): the workspace's creator, as ``createOne(user, organization, false)``
    and ``addUserRole(ADMIN)`` make them, an active admin (the contract scenarios declare their own admins and pass
    none). Not written: the main branch, the sample database, the ToolJet database schema, the static data
    sources: nothing this backend reads.
    """
    import uuid

    import psycopg
    from psycopg import sql

    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as conn:

        def columns(table: str) -> list[str]:
            return [
                row[0]
                for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                    "AND table_name = %s ORDER BY ordinal_position",
                    (table,),
                )
            ]

        def copy(table: str, key: str, old: str, overrides: dict[str, object]) -> None:
            """Copy the rows of ``table`` whose ``key`` is ``old``, with ``overrides`` (uuid column -> value)."""
            names = columns(table)
            values = [
                sql.SQL("CAST({} AS uuid)").format(sql.Literal(overrides[c])) if c in overrides else sql.Identifier(c)
                for c in names
                if c not in ("created_at", "updated_at")
            ]
            kept = [sql.Identifier(c) for c in names if c not in ("created_at", "updated_at")]
            conn.execute(
                sql.SQL("INSERT INTO {t} ({cols}) SELECT {vals} FROM {t} WHERE {k} = {old}").format(
                    t=sql.Identifier(table),
                    cols=sql.SQL(", ").join(kept),
                    vals=sql.SQL(", ").join(values),
                    k=sql.Identifier(key),
                    old=sql.Literal(old),
                )
            )

        org = str(uuid.uuid4())
        conn.execute(
            "INSERT INTO organizations (id, name, slug, status) VALUES (%s, %s, %s, 'active')", (org, name, slug)
        )
        if "sso" in columns("sso_configs"):  # the template's form row where the seed has one, else a minimal one
            forms = conn.execute(
                "SELECT id::text FROM sso_configs WHERE organization_id = %s AND sso::text = 'form'", (template,)
            ).fetchall()
            for (form,) in forms:
                copy("sso_configs", "id", form, {"id": str(uuid.uuid4()), "organization_id": org})
            if not forms:
                extra = ", config_scope" if "config_scope" in columns("sso_configs") else ""
                value = ", 'organization'" if extra else ""
                conn.execute(
                    f"INSERT INTO sso_configs (organization_id, sso, enabled{extra}) VALUES (%s, 'form', true{value})",
                    (org,),
                )
        if "organization_id" in columns("app_environments"):
            for (env,) in conn.execute("SELECT id::text FROM app_environments WHERE organization_id = %s", (template,)):
                copy("app_environments", "id", env, {"id": str(uuid.uuid4()), "organization_id": org})
        children = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND column_name = 'granular_permission_id' ORDER BY table_name"
            )
        ]
        groups = conn.execute(
            "SELECT id::text FROM permission_groups WHERE organization_id = %s AND type = 'default' "
            "ORDER BY created_at, id",
            (template,),
        ).fetchall()
        for (group,) in groups:
            new_group = str(uuid.uuid4())
            copy("permission_groups", "id", group, {"id": new_group, "organization_id": org})
            granular = conn.execute(
                "SELECT id::text FROM granular_permissions WHERE group_id = %s ORDER BY id", (group,)
            ).fetchall()
            for (row,) in granular:
                new_row = str(uuid.uuid4())
                copy("granular_permissions", "id", row, {"id": new_row, "group_id": new_group})
                for child in children:
                    for (child_id,) in conn.execute(
                        sql.SQL("SELECT id::text FROM {} WHERE granular_permission_id = %s").format(
                            sql.Identifier(child)
                        ),
                        (row,),
                    ).fetchall():
                        copy(child, "id", child_id, {"id": str(uuid.uuid4()), "granular_permission_id": new_row})
        if creator is not None:
            conn.execute(
                "INSERT INTO organization_users (organization_id, user_id, role, status, source) "
                "SELECT %s, u.id, 'all-users', 'active', 'invite' FROM users u WHERE u.email = %s",
                (org, creator),
            )
            conn.execute(
                "INSERT INTO group_users (user_id, group_id) SELECT u.id, g.id FROM users u, permission_groups g "
                "WHERE u.email = %s AND g.organization_id = %s AND g.type = 'default' AND g.name = 'admin'",
                (creator, org),
            )
    return org


@dataclass
class ToolJetDb:
    url: str
    schema: str
    variant: str
    tmp: Path
    admin_url: str
    _backend: ToolJetBackend | None = field(default=None, repr=False)
    _counter: int = 0

    def backend(self) -> ToolJetBackend:
        if self._backend is None:
            self._backend = ToolJetBackend(self.url)
        return self._backend

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()

    def write(self, config: dict[str, Any]) -> Path:
        self._counter += 1
        path = self.tmp / f"config-{self._counter}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def plan(self, config: dict[str, Any], *, strict_roles: bool = False) -> Planned:
        desired = load_desired(self.write(config), strict_roles=strict_roles)
        planned = make_plan(self.backend(), desired, None)
        self.backend().validate_plan(planned.plan, planned.snapshot)
        return planned

    def plan_text(self, config: dict[str, Any]) -> str:
        return render_text(self.plan(config).plan)

    def apply(self, config: dict[str, Any]) -> tuple[Planned, ApplyResult]:
        planned = self.plan(config)
        result = apply_plan(self.backend(), planned.plan, None, actor="tester", command="apply")
        self.check_tooljet_invariants()
        return planned, result

    def check_tooljet_invariants(self) -> None:
        """What ToolJet itself guarantees, for every membership of every workspace after any apply."""
        broken = self.query(
            "SELECT u.email, o.slug, ou.role, ou.status::text, ou.invitation_token IS NOT NULL, "
            "(SELECT count(*) FROM group_users gu JOIN permission_groups g ON g.id = gu.group_id "
            " WHERE gu.user_id = ou.user_id AND g.organization_id = ou.organization_id AND g.type = 'default') "
            "FROM organization_users ou JOIN users u ON u.id = ou.user_id "
            "JOIN organizations o ON o.id = ou.organization_id"
        )
        for email, slug, role, status, has_token, defaults in broken:
            assert role == "all-users", (email, slug, role)
            assert defaults == 1, f"{email} in {slug} is in {defaults} default groups"
            assert has_token == (status == "invited"), (email, slug, status, has_token)
        per_org = self.query(
            "SELECT o.slug, string_agg(g.name, ',' ORDER BY g.name) FROM permission_groups g "
            "JOIN organizations o ON o.id = g.organization_id WHERE g.type = 'default' GROUP BY o.slug"
        )
        assert all(names == "admin,builder,end-user" for _slug, names in per_org), per_org

    def assert_no_changes(self, config: dict[str, Any]) -> None:
        rendered = self.plan_text(config)
        assert NO_CHANGES in rendered, rendered

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        engine = create_engine(make_url(self.url).set(drivername="postgresql+psycopg"))
        try:
            with engine.begin() as conn:  # committed: tests also use it for out-of-band changes
                return [tuple(row) for row in conn.execute(text(sql), params)]
        finally:
            engine.dispose()

    def one(self, sql: str, **params: Any) -> Any:
        rows = self.query(sql, **params)
        assert len(rows) == 1, rows
        return rows[0] if len(rows[0]) > 1 else rows[0][0]

    def dump(self) -> dict[str, list[str]]:
        """Every row of every table in the schema, as sorted text (to prove nothing changed)."""
        tables = [
            name
            for (name,) in self.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
        ]
        return {t: sorted(str(row) for row in self.query(f'SELECT * FROM "{t}"')) for t in sorted(tables)}

    # --- ToolJet-shaped facts -----------------------------------------------------------------------------

    def role_of(self, email: str, org_id: str = ACME_ID) -> list[str]:
        """Every default group the user is in within the organization (ToolJet requires exactly one)."""
        rows = self.query(
            "SELECT g.name FROM group_users gu JOIN permission_groups g ON g.id = gu.group_id "
            "JOIN users u ON u.id = gu.user_id WHERE u.email = :email AND g.organization_id = :org "
            "AND g.type = 'default' ORDER BY g.name",
            email=email,
            org=org_id,
        )
        return [name for (name,) in rows]

    def groups_of(self, email: str, org_id: str = ACME_ID) -> list[str]:
        rows = self.query(
            "SELECT g.name FROM group_users gu JOIN permission_groups g ON g.id = gu.group_id "
            "JOIN users u ON u.id = gu.user_id WHERE u.email = :email AND g.organization_id = :org "
            "AND g.type = 'custom' ORDER BY g.name",
            email=email,
            org=org_id,
        )
        return [name for (name,) in rows]

    def membership(self, email: str, org_id: str = ACME_ID) -> tuple[Any, ...]:
        """(role column, status, invitation token, source) of the organization_users row."""
        return self.one(
            "SELECT ou.role, ou.status::text, ou.invitation_token, ou.source::text FROM organization_users ou "
            "JOIN users u ON u.id = ou.user_id WHERE u.email = :email AND ou.organization_id = :org",
            email=email,
            org=org_id,
        )
