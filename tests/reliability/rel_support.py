"""Helpers of the reliability suite: real ``reconciler`` subprocesses (with their peak memory), canonical dumps
of every table of a database, and throw-away PostgreSQL databases copied from a template.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy import Table as SaTable
from sqlalchemy.engine import make_url

from reconciler.backends.builtin.db import create_engine_for

RECONCILER = Path(sys.executable).with_name("reconciler")
MASTER_KEY_HEX = "5e" * 32
POSTGRES_ENV = "RECONCILER_TEST_POSTGRES_URL"
MAX_RSS_MB = 300


def subprocess_env(directory: Path, **overrides: str | None) -> dict[str, str]:
    """The environment of a ``reconciler`` subprocess: no inherited RECONCILER_ variables, a fixed master key,
    an outbox directory inside the test's, no colour."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    env |= {
        "RECONCILER_MASTER_KEY": MASTER_KEY_HEX,
        "RECONCILER_OUTBOX_DIR": str(directory / "outbox"),
        "NO_COLOR": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass(frozen=True)
class Finished:
    """A finished subprocess: exit code, output, wall time and peak resident memory (from ``wait4``)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


# A small launcher runs the command and reports its peak RSS: a child forked straight from the (large) test
# process would inherit the test's high-water mark, which ``ru_maxrss`` keeps across exec.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


def run_reconciler(
    args: list[str], *, env: Mapping[str, str], directory: Path, timeout: float = 120, stdin: bytes | None = None
) -> Finished:
    """``reconciler ARGS`` in a real process, with its wall time and its own peak RSS."""
    tag = secrets.token_hex(4)
    out, err, rss = (directory / f"{name}-{tag}" for name in ("out", "err", "rss"))
    started = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(rss), str(RECONCILER), *args],
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env=dict(env),
            start_new_session=True,
        )
        try:
            process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
            pytest.fail(f"reconciler {args} did not finish within {timeout} s")
    seconds = time.monotonic() - started
    code = process.returncode
    finished = Finished(
        code - 256 if code > 128 else code,
        out.read_text(encoding="utf-8", errors="replace"),
        err.read_text(encoding="utf-8", errors="replace"),
        seconds,
        int(rss.read_text()) / 1024,  # KiB on Linux
    )
    for path in (out, err, rss):
        path.unlink()
    return finished


# --- dumps ------------------------------------------------------------------------------------------------


def full_dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in the database (alembic_version and audit tables included), sorted."""
    dump: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        inspector = inspect(conn)
        for name in sorted(inspector.get_table_names()):
            table = SaTable(name, _metadata(), autoload_with=conn)
            rows = conn.execute(select(table)).all()
            dump[name] = sorted((tuple(row) for row in rows), key=repr)
    return dump


def _metadata() -> Any:
    from sqlalchemy import MetaData

    return MetaData()


def dump_of(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine_for(url)
    try:
        return full_dump(engine)
    finally:
        engine.dispose()


def dump_text(url: str) -> str:
    """The dump as one text (for grepping for secrets)."""
    return repr(dump_of(url))


# --- PostgreSQL databases ---------------------------------------------------------------------------------


def postgres_base_url() -> str:
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    return make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin_connect() -> Any:
    import psycopg

    return psycopg.connect(postgres_base_url(), autocommit=True)


def database_url(name: str) -> str:
    return make_url(postgres_base_url()).set(database=name).render_as_string(hide_password=False)


def create_database(name: str, *, template: str | None = None) -> str:
    from psycopg import sql

    with _admin_connect() as conn:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(statement)
    return database_url(name)


def drop_database(name: str) -> None:
    from psycopg import sql

    with _admin_connect() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def scratch_databases(prefix: str) -> Iterator[list[str]]:
    """Names created through the yielded list are dropped on exit."""
    created: list[str] = []
    try:
        yield created
    finally:
        for name in created:
            drop_database(name)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def other_backends(url: str) -> int:
    """Sessions on the database of ``url`` other than this one's (the killed process's, until it is gone)."""
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
            )
    finally:
        engine.dispose()
