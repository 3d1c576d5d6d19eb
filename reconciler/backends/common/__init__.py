"""What every backend shares, so that no backend imports another (docs/architecture.md, "The backend contract").

Stage: storage. Import from this package, not from its modules: ``from reconciler.backends.common import ...``.
"""

from .apply import audited_failures, fingerprint, one_line, ticker
from .audit import audit_change_rows, audit_run_row, audit_runs, refuse_replay
from .engine import POSTGRES_HINT, SQLITE_BEGIN, create_engine_for, mask_url, normalize_url
from .lock import holder_message, lock_key, take_postgres_lock
from .tables import NAMING_CONVENTION, UtcDateTime, audit_tables, utcnow

__all__ = [
    "NAMING_CONVENTION",
    "POSTGRES_HINT",
    "SQLITE_BEGIN",
    "UtcDateTime",
    "audit_change_rows",
    "audit_run_row",
    "audit_runs",
    "audit_tables",
    "audited_failures",
    "create_engine_for",
    "fingerprint",
    "holder_message",
    "lock_key",
    "mask_url",
    "normalize_url",
    "one_line",
    "refuse_replay",
    "take_postgres_lock",
    "ticker",
    "utcnow",
]
