"""The apply lock on PostgreSQL, and what a refused wait says.

Stage: storage. The lock is a transaction-scoped advisory lock (it dies with its holder, SPEC 5); its key is
derived from the schema that holds the data, so two installations in one database do not block each other.
"""

from __future__ import annotations

import time
import zlib

from sqlalchemy import Connection, Engine, text

from ...errors import LockTimeout

_HOLDER = text(
    "SELECT a.application_name, a.pid, a.xact_start FROM pg_locks l JOIN pg_stat_activity a "
    "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :k"
)


def lock_key(schema: str) -> int:
    return zlib.crc32(("reconciler:" + schema).encode()) & 0x7FFFFFFF


def take_postgres_lock(conn: Connection, engine: Engine, timeout: float, actor: str, command: str = "apply") -> None:
    """Take the apply lock inside ``conn``'s open transaction, waiting up to ``timeout`` seconds."""
    key = lock_key(str(conn.scalar(text("SELECT current_schema()"))))
    conn.execute(
        text("SELECT set_config('application_name', :name, true)"), {"name": f"reconciler {command} by {actor}"[:63]}
    )
    deadline = time.monotonic() + timeout
    unnamed = 0
    while not conn.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}):
        if time.monotonic() >= deadline:
            holder = _postgres_holder(engine, key)
            # No holder any more: it committed between our try and the look-up, so the lock is free; try again
            # rather than refuse naming nobody (a busy machine makes that window wide).
            if holder is None and unnamed < 3:
                unnamed += 1
                continue
            raise LockTimeout(holder_message(holder, timeout))
        time.sleep(0.1)


def _postgres_holder(engine: Engine, key: int) -> str | None:
    with engine.connect() as conn:
        row = conn.execute(_HOLDER, {"k": key}).first()
    if row is None:
        return None
    since = row.xact_start.isoformat(timespec="seconds") if row.xact_start else "an unknown time"
    # The server's process for that session: what pg_terminate_backend() takes, not a pid on the client's machine.
    return f"{row.application_name or 'another session'} (PostgreSQL backend pid {row.pid}, since {since})"


def holder_message(holder: str | None, timeout: float) -> str:
    who = holder or "another process"
    return (
        f"another apply holds the lock: {who}; gave up after waiting {timeout:g}s (use --lock-timeout to wait longer)"
    )
