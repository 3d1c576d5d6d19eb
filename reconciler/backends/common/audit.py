"""The rows of the audit tables (``tables.py``): a run, its masked changes, and ``history``'s view of them.

Stage: storage. Both SQL backends write the same rows; a saved plan's id recorded on an applied run is what
makes a saved plan single-use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select

from ...errors import PlanRefused


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
    from ...changes import change_to_json_dict

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
    from ...audit import AuditRun

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
