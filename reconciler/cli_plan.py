"""Commands that plan and apply: ``plan``, ``apply``, ``drift``, ``history``.

Stage: CLI. Parses options, calls ``workflow``, prints renderings; no business rules here.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .cli import CONFIRM_QUESTION, Runtime, cli, config_option, err, fail
from .errors import Aborted, ReconcilerError, StalePlan
from .workflow import STALE_MESSAGE

FORMATS = click.Choice(["text", "json", "markdown"])
REPLAN_ATTEMPTS = 3
PROGRESS_MINIMUM = 300  # operations
CHANGED_MESSAGE = "the database changed after the plan was made (another apply?); nothing was changed"


def workspace_option() -> Any:
    return click.option(
        "--workspace", "workspaces", multiple=True, metavar="SLUG", help="Only this workspace (repeatable)."
    )


def _plan_from_config(runtime: Runtime, config_path: Path, workspaces: tuple[str, ...], strict_roles: bool) -> Any:
    from .workflow import load_desired, make_plan

    desired = load_desired(config_path, strict_roles=strict_roles, workspaces=workspaces)
    backend = runtime.backend()
    needs_key = desired.needs_key() and backend.uses_keyring
    keyring = runtime.keyring(create=needs_key, required=needs_key)
    return make_plan(backend, desired, keyring, workspaces=workspaces), keyring


def workspace_names(planned: Any) -> dict[str, str]:
    """The display name of every declared workspace, for the ``workspace "slug" (Name)`` headings."""
    return {slug: ws.workspace.name for slug, ws in planned.desired.workspaces.items()}


def _render(plan: Any, fmt: str, color: bool, names: Mapping[str, str] | None = None) -> str:
    if fmt == "json":
        from .render.jsonplan import render_json

        return render_json(plan)
    if fmt == "markdown":
        from .render.markdown import render_markdown

        return render_markdown(plan, workspace_names=names)
    from .render.text import render_text

    return render_text(plan, color=color, workspace_names=names)


def stdin_is_interactive() -> bool:
    """Whether a person can answer the confirmation question (tests replace this)."""
    return sys.stdin.isatty()


def _raise_refusals(planned: Any, *, allow_mass_change: bool) -> None:
    from .workflow import refusals

    broken = refusals(planned.plan, planned.snapshot, allow_mass_change=allow_mass_change)
    if broken:
        for refusal in broken[1:]:
            err(f"Error: {refusal.message}")
        raise broken[0]


@cli.command()
@config_option()
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan for `apply PLANFILE`.",
)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when there are no changes, 2 when there are.")
@workspace_option()
@click.option("--strict-roles", is_flag=True, help="Treat an end-user in a builder-level group as an error.")
@click.pass_obj
def plan(
    runtime: Runtime,
    config_path: Path,
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    workspaces: tuple[str, ...],
    strict_roles: bool,
) -> None:
    """Show what apply would change.

    \b
    Example:
      reconciler plan -f workspace.yaml --out plan.json
      reconciler plan -f workspace.yaml --format markdown --detailed-exitcode
    """
    planned, keyring = _plan_from_config(runtime, config_path, workspaces, strict_roles)
    click.echo(_render(planned.plan, fmt, runtime.color, workspace_names(planned)))
    _raise_refusals(planned, allow_mass_change=True)
    for refusal in _mass_refusals(planned):
        err(f"Warning: {refusal.message}; apply needs --allow-mass-change")
    if out is not None:
        from .render.jsonplan import dump_saved_plan

        out.write_text(dump_saved_plan(planned.plan, keyring), encoding="utf-8")
        err(f"Saved the plan to {out}. Apply it with: reconciler apply {out}")
    if detailed_exitcode and not planned.plan.empty:
        sys.exit(2)


def _mass_refusals(planned: Any) -> list:
    from .workflow import refusals

    return [r for r in refusals(planned.plan, planned.snapshot, allow_mass_change=False) if r.rule == "mass-change"]


@cli.command()
@click.argument("planfile", required=False, type=click.Path(dir_okay=False, path_type=Path))
@config_option(required=False)
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for another apply.",
)
@click.option("--allow-mass-change", is_flag=True, help="Allow archiving/destroying more than 25% of a workspace.")
@click.option("--actor", help="Who is applying, for the audit log (default: CI user or OS user).")
@workspace_option()
@click.option("--strict-roles", is_flag=True, help="Treat an end-user in a builder-level group as an error.")
@click.pass_obj
def apply(
    runtime: Runtime,
    planfile: Path | None,
    config_path: Path | None,
    auto_approve: bool,
    lock_timeout: float,
    allow_mass_change: bool,
    actor: str | None,
    workspaces: tuple[str, ...],
    strict_roles: bool,
) -> None:
    """Apply the configuration (or a saved plan) in one transaction.

    \b
    Example:
      reconciler apply -f workspace.yaml
      reconciler apply -f workspace.yaml --auto-approve --lock-timeout 30
      reconciler apply plan.json
    """
    from .workflow import default_actor

    if (planfile is None) == (config_path is None):
        fail("give either -f CONFIG or a saved PLANFILE", hint="reconciler apply -f workspace.yaml")
    options = _ApplyOptions(default_actor(actor), lock_timeout, allow_mass_change)
    if planfile is not None:
        _apply_saved_plan(runtime, planfile, options)
        return
    assert config_path is not None
    if not auto_approve and not stdin_is_interactive():
        fail(
            "cannot ask for confirmation: standard input is not a terminal",
            hint="pass --auto-approve, or apply a saved plan file (reconciler plan --out FILE)",
        )
    _apply_config(runtime, config_path, workspaces, strict_roles, auto_approve, options)


@dataclass(frozen=True)
class _ApplyOptions:
    actor: str
    lock_timeout: float
    allow_mass_change: bool


def _apply_saved_plan(runtime: Runtime, planfile: Path, options: _ApplyOptions) -> None:
    """The plan file is the approval: no question, no TTY needed; a stale plan is refused."""
    from .render.text import render_text

    plan, keyring = _load_planfile(runtime, planfile)
    click.echo(render_text(plan, color=runtime.color, workspace_names=_names_in_database(runtime, plan, keyring)))
    if not plan.empty:
        _execute(runtime, plan, keyring, "apply PLANFILE", options)


def _apply_config(
    runtime: Runtime,
    config_path: Path,
    workspaces: tuple[str, ...],
    strict_roles: bool,
    auto_approve: bool,
    options: _ApplyOptions,
) -> None:
    """Plan, show, ask, execute. When another apply changed the database while this one waited for the lock,
    an auto-approved apply plans again (the configuration is what was approved); an interactive one stops."""
    from .render.text import render_text

    for attempt in range(1, REPLAN_ATTEMPTS + 1):
        planned, keyring = _plan_from_config(runtime, config_path, workspaces, strict_roles)
        click.echo(render_text(planned.plan, color=runtime.color, workspace_names=workspace_names(planned)))
        if planned.plan.empty:
            return
        _raise_refusals(planned, allow_mass_change=options.allow_mass_change)
        if not auto_approve:
            _confirm()
        try:
            _execute(runtime, planned.plan, keyring, "apply", options, stale_message=CHANGED_MESSAGE)
            return
        except StalePlan:
            if not auto_approve or attempt == REPLAN_ATTEMPTS:
                raise StalePlan(CHANGED_MESSAGE, hint="run apply again to see the new plan") from None
            err("Note: another apply changed the database while this one waited for the lock; planning again.")
            click.echo("")


def _execute(
    runtime: Runtime,
    plan: Any,
    keyring: Any,
    command: str,
    options: _ApplyOptions,
    *,
    stale_message: str = STALE_MESSAGE,
) -> None:
    from .render.text import applied_line
    from .workflow import apply_plan

    needs_key_for = getattr(runtime.backend(), "needs_key_for", None)
    if keyring is None and needs_key_for is not None and needs_key_for(plan):  # invitation emails are encrypted
        keyring = runtime.keyring(create=True)  # SQLite: creates the key file; PostgreSQL: the backend refuses
    progress = _progress(len(plan.ops))
    try:
        result = apply_plan(
            runtime.backend(),
            plan,
            keyring,
            actor=options.actor,
            command=command,
            lock_timeout=options.lock_timeout,
            allow_mass_change=options.allow_mass_change,
            progress=progress,
            stale_message=stale_message,
        )
    finally:
        if progress is not None:
            progress.close()  # also when the apply fails: never leave the terminal in the bar's state
    click.echo("")
    click.echo(applied_line(plan))
    _after_apply(runtime, result, keyring)


def _after_apply(runtime: Runtime, result: Any, keyring: Any) -> None:
    """Deliver the invitation emails queued by the apply (after commit; failures stay pending)."""
    hook = getattr(runtime.backend(), "after_commit", None)
    if hook is not None:
        for line in hook(result, keyring):
            err(line)


def _load_planfile(runtime: Runtime, planfile: Path) -> tuple[Any, Any]:
    from .render.jsonplan import load_saved_plan

    try:
        text = planfile.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReconcilerError(f"cannot read plan file {planfile}: {exc}") from None
    keyring = runtime.keyring(create=False)
    return load_saved_plan(text, keyring), keyring


def _names_in_database(runtime: Runtime, plan: Any, keyring: Any) -> dict[str, str]:
    """A saved plan carries no desired state: the headings name the workspaces as the database does."""
    snapshot = runtime.backend().read_snapshot(plan.workspaces, keyring)
    return {slug: ws.name for slug, ws in snapshot.workspaces.items()}


def _confirm() -> None:
    click.echo("")
    click.echo(CONFIRM_QUESTION)
    click.echo("  Enter a value: ", nl=False)
    answer = sys.stdin.readline().strip()
    if answer != "yes":
        raise Aborted("Apply cancelled: nothing was changed.")


class _ProgressBar:
    """A transient progress bar on stderr, fed by the backend's progress callback."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(transient=True, console=Console(stderr=True))
        self.task = self.bar.add_task("applying", total=total)
        self.bar.start()

    def __call__(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def close(self) -> None:
        self.bar.stop()


def _progress(total: int) -> _ProgressBar | None:
    """A progress bar for long applies (more than a few hundred operations), when stderr is a terminal."""
    if total < PROGRESS_MINIMUM or not sys.stderr.isatty():
        return None
    return _ProgressBar(total)


@cli.command()
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.pass_obj
def history(runtime: Runtime, limit: int) -> None:
    """Show past applies: when, who, config hash, summary, result.

    \b
    Example:
      reconciler history --limit 5
    """
    runs = runtime.backend().history(limit)
    if not runs:
        click.echo("No applies yet.")
        return
    for run in runs:
        counts = ", ".join(f"{v} {k}" for k, v in run.summary.items() if v) or "no changes"
        when = run.started_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
        click.echo(f"#{run.id}  {when}  {run.result:<8} {run.actor}  config {run.config_hash[:12]}  {counts}")
        if run.error:
            click.echo(f"      {run.error}")
