"""Fresh databases for tests: a PostgreSQL schema per test, a SQLite file per test.

A plain module (not ``conftest``) so that tests may import it without clashing with the conftest.py files
of the test subfolders.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

POSTGRES_ENV = "RECONCILER_TEST_POSTGRES_URL"


@contextmanager
def postgres_schema_url() -> Iterator[str]:
    """A URL whose connections see only a fresh, empty schema; the schema is dropped on exit."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    import psycopg
    from psycopg import sql

    schema = f"t_{secrets.token_hex(6)}"
    admin = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '30s'")  # a leaked transaction fails the test instead of hanging
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def sqlite_file_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'reconciler.db'}"
