"""What every backend shares, so that no backend imports another (docs/architecture.md, "The backend contract").

Stage: storage. Import from this package, not from its modules: ``from reconciler.backends.common import ...``.
"""

from .apply import (
    audit_change_rows,
    audit_run_row,
    audit_runs,
    audited_failures,
    fingerprint,
    holder_message,
    lock_key,
    one_line,
    refuse_replay,
    take_postgres_lock,
    ticker,
)
from .engine import SQLITE_BEGIN, create_engine_for, mask_url, normalize_url
from .tables import utcnow

__all__ = [
    "SQLITE_BEGIN",
    "audit_change_rows",
    "audit_run_row",
    "audit_runs",
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
