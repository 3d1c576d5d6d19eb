"""The storage interface (SPEC 8): what the workflow needs from a database, whatever its schema.

Stage: storage. A backend reads a snapshot of the declared workspaces, takes the apply lock, and executes a
plan's operations in one transaction. The planner, the role rules and the renderers never see a backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from ..crypto import Keyring
from ..ops import Plan
from ..state import Snapshot


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


PreconditionCheck = Callable[[Snapshot], None]


class Backend(ABC):
    """One database. Implementations must never leave a half-applied plan behind."""

    name: str
    # Whether metadata is encrypted with reconciler's own master key (the ToolJet backend uses ToolJet's).
    uses_keyring: bool = True

    @abstractmethod
    def read_snapshot(self, slugs: Collection[str], keyring: Keyring | None) -> Snapshot:
        """A consistent snapshot of ``slugs`` (one transaction; an apply in flight is never half-visible)."""

    @abstractmethod
    def list_workspaces(self) -> list[str]:
        """Slugs of every workspace in the database (for ``export`` and reports)."""

    @abstractmethod
    def apply(
        self,
        plan: Plan,
        *,
        keyring: Keyring | None,
        lock_timeout: float,
        check: PreconditionCheck,
        audit: AuditInfo,
        progress: Callable[[int, int], None] | None = None,
    ) -> ApplyResult:
        """Take the lock, re-read the snapshot, run ``check`` on it, execute ``plan`` in one transaction."""

    def validate_plan(self, plan: Plan, snapshot: Snapshot) -> None:  # noqa: B027 - optional hook
        """Raise a ReconcilerError for changes this backend cannot make (called right after planning)."""

    @abstractmethod
    def history(self, limit: int = 20) -> list[AuditRun]:
        """The latest apply runs, newest first."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
