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

__all__ = [
    "audit_change_rows",
    "audit_run_row",
    "audit_runs",
    "audited_failures",
    "fingerprint",
    "holder_message",
    "lock_key",
    "one_line",
    "refuse_replay",
    "take_postgres_lock",
    "ticker",
]
