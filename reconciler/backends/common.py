"""Pieces every SQL backend shares: the PostgreSQL apply lock, error one-liners and progress ticking.

Stage: storage. The lock is a transaction-scoped advisory lock (it dies with its holder, SPEC 5); its key is
derived from the schema that holds the data, so two installations in one database do not block each other.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..errors import ApplyError, LockTimeout, PlanRefused, ReconcilerError

_HOLDER = text(
    "SELECT a.application_name, a.pid, a.xact_start FROM pg_locks l JOIN pg_stat_activity a "
    "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :k"
)


@contextmanager
def audited_failures(record: Callable[[ReconcilerError, str], None]) -> Iterator[None]:
    """Around an apply's transaction: record a refused or failed run (after the rollback) and turn any
    unexpected exception into one ``ApplyError`` saying nothing was changed. A lock timeout is not a run."""
    try:
        yield
    except LockTimeout:
        raise
    except ReconcilerError as exc:
        record(exc, "failed" if isinstance(exc, ApplyError) else "refused")
        raise
    except Exception as exc:  # the transaction was rolled back: say so, and record the failed run
        error = ApplyError(f"apply failed and was rolled back; nothing was changed ({one_line(exc)})")
        record(error, "failed")
        raise error from exc


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


def audit_run_row(plan: Any, audit: Any, started: datetime, result: str, error: str | None) -> dict[str, Any]:
    """The ``audit_runs`` row of an apply (both backends keep the same audit tables)."""
    return {
        "started_at": started,
        "finished_at": datetime.now(UTC),
        "actor": audit.actor[:255],
        "command": audit.command,
        "config_hash": audit.config_hash,
        "summary": json.dumps(plan.summary),
        "result": result,
        "error": error,
        "plan_id": (plan.plan_id or None) if result == "applied" else None,
    }


def refuse_replay(conn: Connection, runs: Any, plan: Any, audit: Any) -> None:
    """Under the apply lock: a saved plan (``audit.single_use``) whose id an earlier applied run recorded is
    refused, so that a plan cannot undo what came after it once the state returns to the same fingerprint."""
    if not audit.single_use:
        return
    if not plan.plan_id:
        raise PlanRefused(
            "single-use",
            "this plan file has no plan id (it was made by an older version of reconciler), so nothing shows it "
            "was not applied before",
            hint="make the plan again: reconciler plan -f CONFIG --out FILE",
        )
    row = conn.execute(select(runs.c.id, runs.c.started_at).where(runs.c.plan_id == plan.plan_id)).first()
    if row is not None:
        when = row.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        raise PlanRefused(
            "single-use",
            f"this plan was already applied at {when} (run #{row.id}); a saved plan is applied at most once",
            hint="make a new plan: reconciler plan -f CONFIG --out FILE",
        )


def audit_change_rows(run_id: int, plan: Any) -> list[dict[str, Any]]:
    """One ``audit_changes`` row per op: the op's masked JSON (never a metadata value), serialised once."""
    from ..changes import change_to_json_dict

    rows = []
    for seq, op in enumerate(plan.ops):
        change = change_to_json_dict(op)
        rows.append(
            {
                "run_id": run_id,
                "seq": seq,
                "address": change["address"][:500],
                "action": ",".join(change["actions"]),
                "detail": orjson.dumps(change, option=orjson.OPT_SORT_KEYS).decode(),
            }
        )
    return rows


def audit_runs(rows: Iterable[Any]) -> list[Any]:
    """``audit_runs`` rows as the Backend.history() result."""
    from ..audit import AuditRun

    return [
        AuditRun(
            r.id,
            r.started_at,
            r.finished_at,
            r.actor,
            r.command,
            r.config_hash,
            json.loads(r.summary),
            r.result,
            r.error,
        )
        for r in rows
    ]
