"""Pieces of every backend's apply and read: failures turned into one ``ApplyError``, error one-liners,
progress ticking, and the fingerprint of what a read returned.

Stage: storage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ...errors import ApplyError, LockTimeout, ReconcilerError


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
