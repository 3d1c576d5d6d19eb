"""Opening the built-in database: URLs, engines, and the schema revision (Alembic, run programmatically).

Engines come from :func:`reconciler.backends.common.create_engine_for` (its docstring says how SQLite
transactions are begun and locked).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from reconciler.errors import DatabaseMissing, StateError

# The engine helpers are shared with the ToolJet backend; they stay importable from here.
from ..common import POSTGRES_HINT as POSTGRES_HINT
from ..common import SQLITE_BEGIN as SQLITE_BEGIN
from ..common import create_engine_for as create_engine_for
from ..common import lock_key
from ..common import mask_url as mask_url
from ..common import normalize_url as normalize_url

if TYPE_CHECKING:
    from alembic.config import Config


MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SCHEMA_CHECK_WAIT = 30.0  # seconds a schema check or creation waits for another writer (SQLite)
UPGRADE_HINT = "run 'reconciler db upgrade'"
CREATE_HINT = (
    "check --database / RECONCILER_DATABASE_URL; only 'reconciler apply' and 'reconciler db upgrade' create a "
    "database or its schema"
)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` built in code; ``migrations/env.py`` runs on ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The schema revision this version of reconciler needs."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations directory has no revision"
    return head


@dataclass(frozen=True)
class _SchemaState:
    revision: str | None
    foreign_tables: bool  # tables other than alembic_version exist


def open_database(url: str, *, initialise: bool = True) -> Engine:
    """An engine on a database whose schema is at the head revision.

    An empty database gets the schema first (unless ``initialise`` is false); anything else that is not at the
    head revision raises :class:`StateError` and the database is left untouched.
    """
    engine = create_engine_for(url)
    if _at_head(engine):
        return engine
    try:
        if not initialise:
            _refuse_missing_sqlite_file(engine.url, url)
        state = _read_schema_state(engine, url)
        if state.revision is None:
            _refuse_foreign(state, url)
            if not initialise:
                raise DatabaseMissing(f"the database {mask_url(url)} has no reconciler schema yet", hint=CREATE_HINT)
            _run_upgrade(engine, url)
        else:
            _check_revision(state.revision, upgradable=False)
    except BaseException:
        engine.dispose()
        raise
    return engine


def newest_revision() -> str:
    """The head revision read from the migration file names (``0001_initial_schema.py``), without importing
    Alembic: revisions are numbered in sequence, and a test checks this agrees with Alembic's own head."""
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))


def _at_head(engine: Engine) -> bool:
    """The common case, answered with one SELECT: the schema is current."""
    if engine.dialect.name == "sqlite" and not Path(engine.url.database or "").is_file():
        return False
    try:
        with engine.connect() as conn, _patient(conn):
            return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()) == [newest_revision()]
    except DBAPIError:
        return False


@contextmanager
def _patient(conn: Connection, seconds: float = SCHEMA_CHECK_WAIT) -> Iterator[None]:
    """On SQLite, wait for a writer that is committing instead of failing at once (then back to 0)."""
    if conn.dialect.name != "sqlite":
        yield
        return
    driver = conn.connection.driver_connection
    driver.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
    try:
        yield
    finally:
        driver.execute("PRAGMA busy_timeout = 0")


def upgrade_database(url: str) -> tuple[str | None, str]:
    """Migrate the schema to the head revision; returns (revision before, revision after). Idempotent."""
    engine = create_engine_for(url)
    try:
        state = _read_schema_state(engine, url)
        head = head_revision()
        if state.revision is None:
            _refuse_foreign(state, url)
        else:
            _check_revision(state.revision, upgradable=True)
        if state.revision != head:
            _run_upgrade(engine, url)
        return state.revision, head
    finally:
        engine.dispose()


def _refuse_missing_sqlite_file(url: URL, shown: str) -> None:
    """Connecting to a SQLite file that does not exist would create it: check first."""
    path = url.database if url.get_backend_name() == "sqlite" else None
    if path and path != ":memory:" and not path.startswith("file:") and not Path(path).is_file():
        raise DatabaseMissing(f"the database {mask_url(shown)} does not exist", hint=CREATE_HINT)


def _read_schema_state(engine: Engine, url: str) -> _SchemaState:
    _check_sqlite_directory(engine.url, url)
    try:
        with engine.connect() as conn, _patient(conn):
            from alembic.runtime.migration import MigrationContext

            heads = MigrationContext.configure(conn).get_current_heads()
            tables = set(inspect(conn).get_table_names())
    except DBAPIError as exc:
        message = _one_line(exc, engine.url)
        if engine.dialect.name == "postgresql" and "does not exist" in message and "database" in message:
            raise DatabaseMissing(f"the database {mask_url(url)} does not exist ({message})", hint=CREATE_HINT) from exc
        raise StateError(f"cannot open the database {mask_url(url)}: {message}") from exc
    if len(heads) > 1:
        raise StateError(f"the database schema has several revisions ({', '.join(sorted(heads))})")
    return _SchemaState(heads[0] if heads else None, bool(tables - {"alembic_version"}))


def _check_sqlite_directory(url: URL, shown: str) -> None:
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    directory = Path(url.database).parent
    if not directory.is_dir():
        raise StateError(f"cannot open the database {mask_url(shown)}: the directory {directory} does not exist")


def _one_line(exc: DBAPIError, url: URL) -> str:
    text = " ".join(line.strip() for line in str(exc.orig).splitlines() if line.strip())
    if url.password:
        text = text.replace(str(url.password), "***")
    return text or type(exc.orig).__name__


def _refuse_foreign(state: _SchemaState, url: str) -> None:
    if state.foreign_tables:
        raise StateError(
            f"the database {mask_url(url)} is not a reconciler database (it has tables but no schema revision)",
            hint="point --database at an empty database or at one created by reconciler",
        )


def _check_revision(revision: str, *, upgradable: bool) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    if revision == head:
        return
    try:
        known = script.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise StateError(
            f"the database schema is at revision {revision}, which this version of reconciler does not know "
            "(it was written by a newer reconciler)",
            hint="upgrade reconciler",
        )
    if not upgradable:
        raise StateError(
            f"the database schema is at revision {revision}; this version of reconciler needs {head}",
            hint=UPGRADE_HINT,
        )


def _run_upgrade(engine: Engine, url: str) -> None:
    """Create or migrate the schema, one process at a time: two commands opening a new database at once
    must not both create it. Under the lock the revision is read again; the loser finds it done."""
    try:
        with engine.connect() as raw, _patient(raw):
            conn = raw.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    schema = str(conn.scalar(text("SELECT current_schema()")))
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key("schema:" + schema)})
                from alembic import command
                from alembic.runtime.migration import MigrationContext

                if MigrationContext.configure(conn).get_current_heads() == (head_revision(),):
                    return
                command.upgrade(alembic_config(conn), "head")
    except DBAPIError as exc:
        # Another process (say an older reconciler, without the lock) created the schema at the same time;
        # its CREATE blocked ours until it committed. If the schema is now current, that is all we wanted.
        if _at_head(engine):
            return
        raise StateError(f"cannot create the schema in {mask_url(url)}: {_one_line(exc, engine.url)}") from exc
