"""Database URLs and engines, for every SQL backend.

Stage: storage. Shared by the built-in backend (SQLite or PostgreSQL) and the ToolJet backend (PostgreSQL).

SQLite transactions
-------------------
Python's ``sqlite3`` (legacy transaction control) emits ``BEGIN`` only before DML, so SELECTs and DDL
would run outside any transaction and a write lock could not be taken up front. Engines from
:func:`create_engine_for` therefore follow SQLAlchemy's pysqlite recipe: every connection gets
``isolation_level = None`` (the driver never emits ``BEGIN`` itself) and a ``begin`` event emits
``BEGIN <mode>`` whenever SQLAlchemy starts a transaction. The mode comes from the :data:`SQLITE_BEGIN`
execution option, ``DEFERRED`` unless set; the lock layer takes the write lock with::

    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin(): ...

(or ``Session(engine.execution_options(sqlite_begin="IMMEDIATE"))``). Connections start with
``busy_timeout = 0``, so a locked database fails at once; whoever wants to wait sets ``PRAGMA busy_timeout``.
Every connection also gets ``PRAGMA foreign_keys = ON``.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ...errors import StateError

SQLITE_BEGIN = "sqlite_begin"  # execution option: DEFERRED (default), IMMEDIATE or EXCLUSIVE
_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})
POSTGRES_CONNECT_TIMEOUT = 10  # seconds, unless the URL says otherwise
POSTGRES_HINT = "pip install 'psycopg[binary]>=3.1' (the postgres extra of access-reconciler)"


def normalize_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` use psycopg 3; every other URL is returned unchanged."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def mask_url(url: str) -> str:
    """The URL as it may be shown to a user: the password, if any, replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def create_engine_for(url: str) -> Engine:
    """An engine for a SQLite or PostgreSQL URL, configured as described in the module docstring."""
    try:
        parsed = make_url(normalize_url(url))
    except ArgumentError as exc:
        raise StateError(
            f"invalid database URL {mask_url(url)!r}", hint="use sqlite:///PATH or postgresql://USER@HOST/DB"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        return _postgres_engine(parsed)
    raise StateError(
        f"unsupported database {parsed.drivername!r}", hint="use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def _sqlite_engine(url: URL) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 0})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN, see _begin
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        mode = str(conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")).upper()
        if mode not in _BEGIN_MODES:
            raise ValueError(f"{SQLITE_BEGIN} must be one of {sorted(_BEGIN_MODES)}, not {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(url: URL) -> Engine:
    connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": POSTGRES_CONNECT_TIMEOUT}
    try:
        return create_engine(url, connect_args=connect_args)
    except ImportError as exc:
        raise StateError("PostgreSQL support is not installed (psycopg is missing)", hint=POSTGRES_HINT) from exc
