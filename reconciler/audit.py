"""What an apply records and returns: the audit types every backend, the workflow and the report share.

Stage: core types (no I/O). They live below the backends so that the report, which lists past applies, never
imports storage; ``backends.base`` re-exports them for the backend contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class AuditInfo:
    actor: str
    command: str
    config_hash: str
    # A saved plan: refused under the lock when a run with the same plan id was applied before (SPEC 4).
    single_use: bool = False


@dataclass(frozen=True)
class ApplyResult:
    run_id: int | None
    changes: int
    invitations: tuple[str, ...] = ()  # emails of the members who were invited
    queued: int = 0  # invitation emails written to the outbox


@dataclass(frozen=True)
class AuditRun:
    id: int
    started_at: datetime
    finished_at: datetime | None
    actor: str
    command: str
    config_hash: str
    summary: dict[str, int]
    result: str
    error: str | None
    changes: tuple[tuple[str, str], ...] = field(default=())  # (action, address)
