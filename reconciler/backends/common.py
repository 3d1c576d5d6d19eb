"""Pieces every SQL backend shares: the PostgreSQL apply lock, error one-liners and progress ticking.

Stage: storage. The lock is a transaction-scoped advisory lock (it dies with its holder, SPEC 5); its key is
derived from the schema that holds the data, so two installations in one database do not block each other.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..errors import LockTimeout

_HOLDER = text(
    "SELECT a.application_name, a.pid, a.xact_start FROM pg_locks l JOIN pg_stat_activity a "
    "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :k"
)


def lock_key(schema: str) -> int:
    return zlib.crc32(("reconciler:" + schema).encode()) & 0x7FFFFFFF


def take_postgres_lock(conn: Connection, engine: Engine, timeout: float, actor: str) -> None:
    """Take the apply lock inside ``conn``'s open transaction, waiting up to ``timeout`` seconds."""
    key = lock_key(str(conn.scalar(text("SELECT current_schema()"))))
    conn.execute(
        text("SELECT set_config('application_name', :name, true)"), {"name": f"reconciler apply by {actor}"[:63]}
    )
    deadline = time.monotonic() + timeout
    while not conn.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}):
        if time.monotonic() >= deadline:
            raise LockTimeout(holder_message(_postgres_holder(engine, key), timeout))
        time.sleep(0.1)


def _postgres_holder(engine: Engine, key: int) -> str | None:
    with engine.connect() as conn:
        row = conn.execute(_HOLDER, {"k": key}).first()
    if row is None:
        return None
    since = row.xact_start.isoformat(timespec="seconds") if row.xact_start else "an unknown time"
    return f"{row.application_name or 'another session'} (pid {row.pid}, since {since})"


def holder_message(holder: str | None, timeout: float) -> str:
    who = holder or "another process"
    return (
        f"another apply holds the lock: {who}; gave up after waiting {timeout:g}s (use --lock-timeout to wait longer)"
    )


def one_line(exc: BaseException) -> str:
    """The database's own message, or ``Type: message`` for anything else that went wrong."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    lines = str(orig).strip().splitlines()
    first = lines[0][:300] if lines else ""
    if isinstance(exc, SQLAlchemyError):
        return first or type(orig).__name__
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def fingerprint(rows: Any) -> str:
    """sha256 over every row a reader read (a dataclass of row lists plus ``slugs``), canonically sorted.

    The ``metadata`` table's last column is a ciphertext and counts as its sha256, never as plaintext. The
    repr of plain tuples (ints, strings, booleans, None) is canonical and much cheaper than JSON per row.
    """
    digest = hashlib.sha256(json.dumps(rows.slugs).encode())
    for name in (f.name for f in fields(rows) if f.name != "slugs"):
        table = getattr(rows, name)
        if name == "metadata":
            table = [(*row[:-1], hashlib.sha256(row[-1].encode()).hexdigest()) for row in table]
        digest.update(f"\n[{name}]\n".encode())
        digest.update("\n".join(sorted(map(repr, table))).encode())
    return digest.hexdigest()


def ticker(total: int, progress: Callable[[int, int], None] | None) -> Callable[[int], None]:
    """Turns "N more operations done" into ``progress(done, total)`` calls."""
    done = [0]

    def tick(count: int) -> None:
        done[0] += count
        if progress is not None:
            progress(min(done[0], total), total)

    return tick
