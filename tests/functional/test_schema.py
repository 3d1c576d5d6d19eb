"""The built-in schema: created on first use, upgraded by Alembic, refused when not ours or not current."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from reconciler.backends.builtin import db, models
from reconciler.errors import DatabaseMissing, StateError

HEAD = "0004"
NEXT = f"{int(HEAD) + 1:04d}"
SCHEMA_TABLES = set(models.metadata.tables) | {"alembic_version"}


def revision_of(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def table_names(url: str) -> set[str]:
    engine = db.create_engine_for(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def execute(url: str, *statements: str) -> None:
    engine = db.create_engine_for(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def test_a_new_database_gets_the_schema_on_first_use(database_url: str) -> None:
    engine = db.open_database(database_url)
    try:
        assert table_names(database_url) == SCHEMA_TABLES
        assert revision_of(engine) == HEAD == db.head_revision()
    finally:
        engine.dispose()


def test_opening_again_at_head_changes_nothing(engine: Engine, database_url: str) -> None:
    db.open_database(database_url).dispose()
    assert revision_of(engine) == HEAD


def test_upgrade_is_idempotent(database_url: str) -> None:
    assert db.upgrade_database(database_url) == (None, HEAD)
    assert db.upgrade_database(database_url) == (HEAD, HEAD)
    assert table_names(database_url) == SCHEMA_TABLES


def test_migrations_produce_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(context, models.metadata) == []


def test_the_comparison_does_see_a_difference(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_memberships_user_id")
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), models.metadata)
    assert [(kind, index.name) for kind, index in diffs] == [("add_index", "ix_memberships_user_id")]


def test_without_initialise_an_empty_database_is_refused_and_left_empty(database_url: str) -> None:
    # (the SQLite file does not exist at all; a PostgreSQL schema exists but is empty)
    with pytest.raises(DatabaseMissing, match=r"has no reconciler schema yet|does not exist") as raised:
        db.open_database(database_url, initialise=False)
    assert raised.value.hint == db.CREATE_HINT
    assert "'reconciler db upgrade' create" in db.CREATE_HINT
    assert table_names(database_url) == set()


@pytest.fixture
def newer_migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Pretend to be a newer reconciler: the shipped migrations plus a harmless next revision."""
    directory = tmp_path / "migrations"
    shutil.copytree(db.MIGRATIONS_DIR, directory, ignore=shutil.ignore_patterns("__pycache__"))
    (directory / "versions" / f"{NEXT}_noop.py").write_text(
        f'revision = "{NEXT}"\ndown_revision = "{HEAD}"\nbranch_labels = None\ndepends_on = None\n\n\n'
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    )
    monkeypatch.setattr(db, "MIGRATIONS_DIR", directory)
    return NEXT


def test_an_older_revision_is_refused_until_upgraded(
    database_url: str, newer_migrations: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as shipped:
        shipped.setattr(db, "MIGRATIONS_DIR", Path(db.__file__).with_name("migrations"))
        db.upgrade_database(database_url)

    with pytest.raises(StateError) as raised:
        db.open_database(database_url)
    assert raised.value.message == (
        f"the database schema is at revision {HEAD}; this version of reconciler needs {NEXT}"
    )
    assert raised.value.hint == "run 'reconciler db upgrade'"

    assert db.upgrade_database(database_url) == (HEAD, NEXT)
    db.open_database(database_url).dispose()


def test_a_revision_from_a_newer_reconciler_is_refused(database_url: str) -> None:
    db.upgrade_database(database_url)
    execute(database_url, "UPDATE alembic_version SET version_num = 'f00dcafe'")

    for attempt in (db.open_database, db.upgrade_database):
        with pytest.raises(StateError) as raised:
            attempt(database_url)
        assert raised.value.message == (
            "the database schema is at revision f00dcafe, which this version of reconciler does not know "
            "(it was written by a newer reconciler)"
        )
        assert raised.value.hint == "upgrade reconciler"


def test_a_database_of_something_else_is_refused_and_left_alone(database_url: str) -> None:
    execute(database_url, "CREATE TABLE customers (id INTEGER PRIMARY KEY)")

    for attempt in (db.open_database, db.upgrade_database):
        with pytest.raises(StateError, match="is not a reconciler database"):
            attempt(database_url)
    assert table_names(database_url) == {"customers"}


def test_a_missing_sqlite_directory_is_a_one_line_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/missing/reconciler.db"
    with pytest.raises(StateError) as raised:
        db.open_database(url)
    assert raised.value.message == (f"cannot open the database {url}: the directory {tmp_path}/missing does not exist")


def test_an_unreachable_server_is_a_one_line_error_without_the_password() -> None:
    with pytest.raises(StateError) as raised:
        db.open_database("postgresql://reconciler:s3cr3t-pw@127.0.0.1:1/reconciler")
    message = raised.value.message
    assert message.startswith("cannot open the database postgresql://reconciler:***@127.0.0.1:1/reconciler: ")
    assert "\n" not in message
    assert "s3cr3t-pw" not in message


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("these are not the tables you are looking for\n" * 100)
    with pytest.raises(StateError, match=r"cannot open the database .*notes\.db: file is not a database"):
        db.open_database(f"sqlite:///{tmp_path}/notes.db")


def test_postgres_needs_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StateError) as raised:
        db.create_engine_for("postgresql://reconciler@db.example/reconciler")
    assert raised.value.hint == "pip install 'psycopg[binary]>=3.1' (the postgres extra of access-reconciler)"


def test_other_databases_are_refused() -> None:
    with pytest.raises(StateError, match="unsupported database 'mysql'"):
        db.create_engine_for("mysql://root@localhost/reconciler")


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql://u@h/d?sslmode=require", "postgresql+psycopg://u@h/d?sslmode=require"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///reconciler.db", "sqlite:///reconciler.db"),
        ("sqlite:////abs/path.db", "sqlite:////abs/path.db"),
    ],
)
def test_normalize_url(url: str, normalized: str) -> None:
    assert db.normalize_url(url) == normalized


def test_mask_url_hides_the_password() -> None:
    assert db.mask_url("postgres://u:pw@h/d") == "postgres://u:***@h/d"
    assert db.mask_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_connections_enforce_foreign_keys_and_do_not_wait(sqlite_url: str) -> None:
    engine = db.open_database(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 0
        with pytest.raises(IntegrityError, match="FOREIGN KEY constraint failed"), engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO apps (workspace_id, slug, name) VALUES ('nope', 'a', 'A')")
    finally:
        engine.dispose()


def test_sqlite_begin_immediate_takes_the_write_lock_at_once(sqlite_url: str) -> None:
    engine = db.open_database(sqlite_url)
    path = sqlite_url.removeprefix("sqlite:///")
    try:
        with engine.connect().execution_options(**{db.SQLITE_BEGIN: "IMMEDIATE"}) as conn, conn.begin():
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
    finally:
        engine.dispose()


def test_sqlite_ddl_is_transactional(sqlite_url: str) -> None:
    engine = db.open_database(sqlite_url)
    try:
        with pytest.raises(RuntimeError), engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE scratch (id INTEGER)")
            raise RuntimeError("roll back")
        assert "scratch" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_datetimes_are_timezone_aware_utc(engine: Engine) -> None:
    created = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    with Session(engine) as session:
        session.add(models.User(email="Ada@Example.com", first_name="Ada", created_at=created))
        session.commit()
    with Session(engine) as session:
        user = session.scalars(select(models.User)).one()
        assert user.email == "ada@example.com"
        assert user.created_at == created
        assert user.created_at.tzinfo is UTC
        assert user.updated_at.tzinfo is UTC
        user.updated_at = datetime(2030, 1, 1)  # naive
        with pytest.raises(StatementError, match="naive datetime"):
            session.flush()


@pytest.mark.postgres
def test_postgres_tables_land_in_the_test_schema(postgres_url: str) -> None:
    db.open_database(postgres_url).dispose()
    engine = create_engine(db.normalize_url(postgres_url))
    try:
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            found = conn.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :schema"),
                {"schema": schema},
            ).scalars()
            assert schema.startswith("t_")
            assert set(found) == SCHEMA_TABLES
    finally:
        engine.dispose()


def test_head_revision_constant_matches_the_migrations() -> None:
    # open_database skips Alembic when alembic_version holds HEAD_REVISION; a new migration must update it.
    assert db.newest_revision() == db.head_revision()


CHECK_NAMES = {
    "ck_app_grants_access",
    "ck_audit_runs_result",
    "ck_data_source_grants_access",
    "ck_groups_kind",
    "ck_memberships_role",
    "ck_memberships_status",
    "ck_outbox_status",
    "ck_users_email_lower_case",
    "ck_workspaces_status",
}


def _check_constraints(url: str) -> set[str]:
    engine = db.create_engine_for(url)
    try:
        with engine.connect() as conn:
            sql = (
                "SELECT conname FROM pg_constraint "
                "WHERE contype = 'c' AND connamespace = current_schema()::regnamespace"
            )
            return set(conn.execute(text(sql)).scalars())
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_check_constraints_have_their_names_once(postgres_url: str) -> None:
    """0001 doubled them (ck_memberships_ck_memberships_role) and error messages showed it."""
    db.upgrade_database(postgres_url)
    assert _check_constraints(postgres_url) == CHECK_NAMES


@pytest.mark.postgres
def test_upgrading_a_database_made_with_the_doubled_names_renames_them(postgres_url: str) -> None:
    from alembic import command

    engine = db.create_engine_for(postgres_url)
    try:
        with engine.begin() as conn:
            command.upgrade(db.alembic_config(conn), "0001")
            for name in CHECK_NAMES:  # as 0001 named them before the fix
                table = next(t for t in models.metadata.tables if name.startswith(f"ck_{t}_"))
                doubled = name.replace(f"ck_{table}_", f"ck_{table}_ck_{table}_", 1)
                conn.exec_driver_sql(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{name}" TO "{doubled}"')
    finally:
        engine.dispose()
    assert all("_ck_" in name for name in _check_constraints(postgres_url))
    assert db.upgrade_database(postgres_url) == ("0001", HEAD)
    assert _check_constraints(postgres_url) == CHECK_NAMES


def test_upgrading_to_0004_gives_the_role_groups_the_optional_flags(database_url: str) -> None:
    """Issue 16: the admin and builder roles of existing workspaces get the new flags true (ToolJet's default
    groups have them, and a configuration that does not mention them keeps what is stored); custom groups false."""
    from alembic import command

    engine = db.create_engine_for(database_url)
    try:
        with engine.begin() as conn:
            command.upgrade(db.alembic_config(conn), "0003")
            conn.exec_driver_sql(
                "INSERT INTO workspaces (id, slug, name, status, created_at, updated_at) "
                "VALUES ('w1', 'acme', 'Acme', 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
            conn.exec_driver_sql(
                "INSERT INTO groups (workspace_id, name, kind) VALUES ('w1', 'admin', 'role'), "
                "('w1', 'builder', 'role'), ('w1', 'end-user', 'role'), ('w1', 'ops', 'custom')"
            )
    finally:
        engine.dispose()
    assert db.upgrade_database(database_url) == ("0003", HEAD)
    engine = db.create_engine_for(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT name, workflow_create, app_promote, tooljet_database_update, module_delete FROM groups "
                "ORDER BY name"
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("admin", True, True, True, True),
        ("builder", True, True, True, True),
        ("end-user", False, False, False, False),
        ("ops", False, False, False, False),
    ]
