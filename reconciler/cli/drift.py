"""``drift``: a read-only plan for CI, with an exit code (SPEC 3).

Stage: CLI. Drift never writes: it opens the database without creating it or its schema (a missing or empty
database is an error, exit 1: in CI it almost always means a wrong ``RECONCILER_DATABASE_URL``), never creates
a key file, and reads one consistent snapshot (the backend's ``read_snapshot``: one REPEATABLE READ
transaction on PostgreSQL, one read transaction on SQLite), so an apply in progress is never seen half done.
Members and groups left alone by ``prune: none`` are listed but are not drift.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import ReconcilerError
from ..policies import denied
from .options import config_option, expiring_option, hygiene_options, workspace_option
from .output import inform, warning
from .runtime import Runtime

if TYPE_CHECKING:
    from ..ops import Plan
    from ..workflow import Planned

DRIFT_TITLE = "### reconciler drift report"
DRIFT_DETECTED = "Drift detected: the database differs from the configuration. Apply would make these changes:"
IN_SYNC = "No drift: the database matches the configuration."
POLICY_DRIFT = "the database breaks a deny policy of the configuration (see Policies below)."


@click.command()
@config_option()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "junit"]),
    default="text",
    show_default=True,
    help="junit: one test case per managed entity, a failure per drifted one.",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report to this file.")
@workspace_option()
@expiring_option()
@hygiene_options()
@click.pass_obj
def drift(
    runtime: Runtime,
    config_path: Path,
    fmt: str,
    output: Path | None,
    workspaces: tuple[str, ...],
    expiring_within: Any,
    stale_invites: Any,
    not_signed_in: Any,
) -> None:
    """Report whether the database differs from the configuration (read-only, for CI).

    Exit codes: 0 in sync, 2 drift, 1 error. Unmanaged members and groups (prune: none) are listed but are
    not drift. The configuration's policies are checked on the database as it is: a broken deny policy (e.g.
    made in the UI) is drift too. Access that expired but is still there is drift (apply revokes it). Stale
    invitations and members who stopped signing in are listed (access hygiene), and are not drift.

    \b
    Example:
      reconciler drift -f workspace.yaml
      reconciler drift -f workspace.yaml --format junit --output drift.xml
    """
    from ..workflow import load_desired, plan_drift

    desired = load_desired(config_path, workspaces=workspaces, warn=warning)
    backend = runtime.backend()  # never created (SPEC 3): a missing or empty database is an error
    planned, drifted = plan_drift(
        backend,
        desired,
        runtime.keyring(create=False),
        workspaces=workspaces,
        expiring_within=expiring_within,
        stale_invites=stale_invites,
        not_signed_in=not_signed_in,
    )
    report = render_report(planned, fmt, color=runtime.color and output is None)
    if output is None:
        click.echo(report.rstrip("\n"))
    else:
        _write(output, report)
        click.echo(f"Drift detected. {_summary(planned.plan)}" if drifted else IN_SYNC)
        inform(f"Wrote the drift report to {output}.")
    sys.exit(2 if drifted else 0)


def render_report(planned: Planned, fmt: str, *, color: bool = False) -> str:
    """The drift report in ``fmt``: text, json, markdown or junit."""
    names = {slug: ws.workspace.name for slug, ws in planned.desired.workspaces.items()}
    if fmt == "junit":
        from ..render.junit import render_junit

        return render_junit(planned.plan, planned.desired, planned.snapshot)
    if fmt == "markdown":
        return drift_markdown(planned.plan, names)
    if fmt == "json":
        from ..render.jsonplan import render_json

        return render_json(planned.plan)
    return drift_text(planned.plan, names, color=color)


def drift_text(plan: Plan, names: dict[str, str], *, color: bool = False) -> str:
    """The text plan, introduced by a line that says whether there is drift."""
    from ..render.text import render_text

    body = render_text(plan, color=color, workspace_names=names)
    if plan.empty and denied(plan.policy_results):
        return f"{POLICY_DRIFT}\n\n{body}"
    return body if plan.empty else f"{DRIFT_DETECTED}\n\n{body}"


def drift_markdown(plan: Plan, names: dict[str, str]) -> str:
    """The Markdown plan (role changes first, at most 60,000 characters) under a drift title."""
    from ..render.markdown import DEFAULT_LIMIT, TITLE, render_markdown

    status = IN_SYNC if plan.empty else "**Drift detected**: the database differs from the configuration."
    if plan.empty and denied(plan.policy_results):
        status = f"**Drift detected**: {POLICY_DRIFT}"
    head = f"{DRIFT_TITLE}\n\n{status}"
    governance = any(not r.passed for r in plan.policy_results) or plan.expiring or plan.hygiene
    if plan.empty and not plan.unmanaged and not plan.ceded and not governance:
        return head
    limit = DEFAULT_LIMIT - (len(head) - len(TITLE))
    return head + render_markdown(plan, limit=limit, workspace_names=names).removeprefix(TITLE)


def _summary(plan: Plan) -> str:
    from ..render.text import summary_line

    return summary_line(plan)


def _write(path: Path, report: str) -> None:
    try:
        path.write_text(report if report.endswith("\n") else report + "\n", encoding="utf-8")
    except OSError as exc:
        raise ReconcilerError(f"cannot write the drift report to {path}: {exc.strerror or exc}") from None
