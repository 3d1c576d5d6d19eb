"""Commands that plan and apply: ``plan``, ``apply``, ``show``, ``history``.

Stage: CLI. Parses options, calls ``workflow``, prints renderings; no business rules here.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import Aborted, PlanRefused, ReconcilerError, StalePlan, refused
from ..safetext import escape
from ..workflow import STALE_MESSAGE
from .options import config_option, duration_option, expiring_option, lock_timeout_option, workspace_option
from .output import fail, inform, note, warning
from .runtime import Runtime

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from ..audit import ApplyResult, AuditRun
    from ..crypto import Keyring
    from ..ops import Plan
    from ..workflow import Planned

CONFIRM_QUESTION = "Do you want to perform these actions? Only 'yes' will be accepted to approve."
FORMATS = click.Choice(["text", "json", "markdown"])
REPLAN_ATTEMPTS = 3
PROGRESS_MINIMUM = 300  # operations
CHANGED_MESSAGE = "the database changed after the plan was made (another apply?); nothing was changed"


def _plan_from_config(
    runtime: Runtime,
    config_path: Path,
    workspaces: tuple[str, ...],
    strict_roles: bool,
    *,
    for_apply: bool = False,
    sign: bool = False,
    expiring_within: timedelta | None = None,
) -> tuple[Planned, Keyring | None]:
    """Load, read, plan. ``plan`` (not ``for_apply``) never creates the database: against one that does not
    exist yet it plans from an empty state and says so. ``sign``: the plan will be saved, and a SQLite
    database may get its key file for the signature (SPEC 4)."""
    from ..workflow import load_desired, make_plan

    desired = load_desired(config_path, strict_roles=strict_roles, workspaces=workspaces, warn=warning)
    if for_apply:
        backend, absent = runtime.backend(create=True), None
    else:
        backend, absent = runtime.backend_or_absent()
    if absent:
        note(absent)
    needs_key = desired.needs_key() and backend.uses_keyring and (absent is None or sign)
    keyring = runtime.keyring(create=needs_key or sign, required=needs_key)
    window = {} if expiring_within is None else {"expiring_within": expiring_within}
    return make_plan(backend, desired, keyring, workspaces=workspaces, **window), keyring


def workspace_names(planned: Planned) -> dict[str, str]:
    """The display name of every declared workspace, for the ``workspace "slug" (Name)`` headings."""
    return {slug: ws.workspace.name for slug, ws in planned.desired.workspaces.items()}


def _render(plan: Plan, fmt: str, color: bool, names: Mapping[str, str] | None = None) -> str:
    if fmt == "json":
        from ..render.jsonplan import render_json

        return render_json(plan)
    if fmt == "markdown":
        from ..render.markdown import render_markdown

        return render_markdown(plan, workspace_names=names)
    from ..render.text import render_text

    return render_text(plan, color=color, workspace_names=names)


def stdin_is_interactive() -> bool:
    """Whether a person can answer the confirmation question (tests replace this)."""
    return sys.stdin.isatty()


def _broken_rails(planned: Planned, *, allow_mass_change: bool, allow_removals: bool = False) -> list[PlanRefused]:
    """The rails the plan breaks, as ``make_plan`` found them (``Plan.warnings``): not computed a second time."""
    allowed = {"mass-change"} if allow_mass_change else set()
    allowed |= {"removals"} if allow_removals else set()
    return [PlanRefused(w.rule, w.message, hint=w.hint or None) for w in planned.plan.warnings if w.rule not in allowed]


def _raise_refusals(planned: Planned, *, allow_mass_change: bool, allow_removals: bool = False) -> None:
    broken = _broken_rails(planned, allow_mass_change=allow_mass_change, allow_removals=allow_removals)
    if broken:
        raise refused(broken)


@click.command()
@config_option()
@click.option(
    "-o",
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan (signed) for `apply PLANFILE`.",
)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when there are no changes, 2 when there are.")
@workspace_option()
@click.option("--strict-roles", is_flag=True, help="Treat an end-user in a builder-level group as an error.")
@expiring_option()
@click.pass_obj
def plan(
    runtime: Runtime,
    config_path: Path,
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    workspaces: tuple[str, ...],
    strict_roles: bool,
    expiring_within: timedelta,
) -> None:
    """Show what apply would change.

    \b
    Example:
      reconciler plan -f workspace.yaml --out plan.json
      reconciler plan -f workspace.yaml --format markdown --detailed-exitcode
    """
    planned, keyring = _plan_from_config(
        runtime, config_path, workspaces, strict_roles, sign=out is not None, expiring_within=expiring_within
    )
    click.echo(_render(planned.plan, fmt, runtime.color, workspace_names(planned)))
    for line in planned.plan.notes:
        note(line)
    for line in planned.plan.seat_warnings:  # seat limits exceeded, not raised by this plan (issue 16)
        warning(escape(line))  # (names members: user data)
    _raise_refusals(planned, allow_mass_change=True, allow_removals=True)
    for refusal in _mass_refusals(planned):
        warning(f"{refusal.message}; apply needs --allow-mass-change")
    for refusal in _broken_rails(planned, allow_mass_change=False):
        if refusal.rule == "removals":  # prune: confirm (issue 17)
            warning(f"{refusal.message}; apply needs --allow-removals")
    if out is not None:
        _save_plan(planned.plan, keyring, out)
    if detailed_exitcode and not planned.plan.empty:
        sys.exit(2)


def _save_plan(plan: Plan, keyring: Keyring | None, out: Path) -> None:
    """Write the saved plan, signed; say loudly when it cannot be signed (apply will refuse it)."""
    from ..render.jsonplan import dump_saved_plan

    out.write_text(dump_saved_plan(plan, keyring), encoding="utf-8")
    if keyring is None:
        warning(
            f"the plan saved to {out} is NOT signed: no master key is configured. "
            "'reconciler apply' refuses an unsigned plan unless --allow-unsigned is given; set "
            "RECONCILER_MASTER_KEY (or --master-key-file) to sign it."
        )
    inform(f"Saved the plan to {out}. Apply it with: reconciler apply {out}")


def _mass_refusals(planned: Planned) -> list[PlanRefused]:
    return [r for r in _broken_rails(planned, allow_mass_change=False) if r.rule == "mass-change"]


@click.command()
@click.argument("planfile", required=False, type=click.Path(dir_okay=False, path_type=Path))
@config_option(required=False)
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@lock_timeout_option()
@click.option(
    "--allow-mass-change", is_flag=True, help="Allow archiving, re-roling or destroying more than 25% of a workspace."
)
@click.option(
    "--allow-removals",
    is_flag=True,
    help="Apply the archives and group destructions of workspaces with prune: confirm.",
)
@click.option("--actor", help="Who is applying, for the audit log (default: CI user or OS user).")
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="Apply a saved plan that is unsigned or cannot be verified (no key here). Never one whose signature fails.",
)
@click.option(
    "--plan-max-age",
    envvar="RECONCILER_PLAN_MAX_AGE",
    default="24h",
    show_default=True,
    metavar="DURATION",
    help="A saved plan older than this is refused (3600, 90m, 24h, 7d; also RECONCILER_PLAN_MAX_AGE).",
)
@workspace_option()
@click.option("--strict-roles", is_flag=True, help="Treat an end-user in a builder-level group as an error.")
@click.option(
    "--only-expiries",
    is_flag=True,
    help="Refuse (nothing changed) unless every change revokes expired access (for a scheduled expiry job).",
)
@click.pass_obj
def apply(
    runtime: Runtime,
    planfile: Path | None,
    config_path: Path | None,
    auto_approve: bool,
    lock_timeout: float,
    allow_mass_change: bool,
    allow_removals: bool,
    actor: str | None,
    allow_unsigned: bool,
    plan_max_age: str,
    workspaces: tuple[str, ...],
    strict_roles: bool,
    only_expiries: bool,
) -> None:
    """Apply the configuration (or a saved plan) in one transaction.

    With a saved plan, -f CONFIG gives the policies the plan must still match: a plan checked against policies
    is refused when they changed, and without -f (docs/governance.md).

    \b
    Example:
      reconciler apply -f workspace.yaml
      reconciler apply -f workspace.yaml --auto-approve --lock-timeout 30
      reconciler apply plan.json
      reconciler apply plan.json -f workspace.yaml
    """
    from ..workflow import default_actor

    if planfile is None and config_path is None:
        fail("give either -f CONFIG or a saved PLANFILE", hint="reconciler apply -f workspace.yaml")
    options = _ApplyOptions(default_actor(actor), lock_timeout, allow_mass_change, allow_removals, only_expiries)
    if planfile is not None:
        _refuse_planning_options(workspace=bool(workspaces), strict_roles=strict_roles)
        current = _current_config(config_path)
        policies = current.policies if current is not None else None
        _apply_saved_plan(
            runtime,
            planfile,
            options,
            allow_unsigned=allow_unsigned,
            max_age=_duration(plan_max_age),
            policies=policies,
            limits=current.limits if current is not None else None,
        )
        return
    if allow_unsigned:
        fail("--allow-unsigned is for a saved PLANFILE; apply -f plans afresh and needs no signature")
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
    allow_removals: bool = False
    only_expiries: bool = False


def _current_config(config_path: Path | None) -> Any:
    """With a saved plan, ``-f CONFIG`` gives the policies (issue 18) and the seat limits (issue 16) the plan must
    still match; None without."""
    if config_path is None:
        return None
    from ..config.loader import load_config

    return load_config(config_path, resolve_secrets=False, warn=warning)


def _refuse_planning_options(**given: bool) -> None:
    """A saved plan already fixes what is applied: options that change the planning would be ignored."""
    names = [f"--{name.replace('_', '-')}" for name, on in given.items() if on]
    if names:
        fail(
            f"{', '.join(names)} cannot be used with a saved PLANFILE: the plan file already fixes what is applied",
            hint="make the plan again with these options: reconciler plan -f CONFIG ... --out FILE",
        )


def _duration(text: str) -> timedelta:
    from ..workflow import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--plan-max-age' / RECONCILER_PLAN_MAX_AGE") from None


def utcnow() -> datetime:
    """Now, in UTC (tests replace this to age a saved plan)."""
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _apply_saved_plan(
    runtime: Runtime,
    planfile: Path,
    options: _ApplyOptions,
    *,
    allow_unsigned: bool,
    max_age: timedelta,
    policies: Any,
    limits: Any = None,
) -> None:
    """The plan file is the approval: no question, no TTY needed; a stale, expired or used plan is refused, and
    so is one whose policies or seat limits differ from the configuration's (``policies``, ``limits``: None
    without ``-f``)."""
    from ..render.text import render_text
    from ..workflow import check_plan_age, check_policy_digest, check_seat_limits

    plan, keyring = _load_planfile(runtime, planfile, allow_unsigned=allow_unsigned)
    check_plan_age(plan, max_age, utcnow())
    check_policy_digest(plan, policies)
    check_seat_limits(plan, limits)
    runtime.backend(create=True)  # a plan made before the database existed creates it, as apply -f would
    click.echo(render_text(plan, color=runtime.color, workspace_names=_names_in_database(runtime, plan, keyring)))
    if not plan.empty:
        _execute(runtime, plan, keyring, "apply PLANFILE", options, current_policies=policies)


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
    from ..render.text import render_text

    for attempt in range(1, REPLAN_ATTEMPTS + 1):
        planned, keyring = _plan_from_config(runtime, config_path, workspaces, strict_roles, for_apply=True)
        click.echo(render_text(planned.plan, color=runtime.color, workspace_names=workspace_names(planned)))
        if planned.plan.empty:
            return
        for line in planned.plan.seat_warnings:  # seat limits exceeded, not raised by this plan (issue 16)
            warning(escape(line))
        _raise_refusals(planned, allow_mass_change=options.allow_mass_change, allow_removals=options.allow_removals)
        if options.only_expiries:
            _refuse_unless_expiries(planned.plan)  # before the question
        keyring = _keyring_for_invitations(runtime, planned.plan, keyring)  # refused before the question
        if not auto_approve:
            _confirm()
        try:
            _execute(runtime, planned.plan, keyring, "apply", options, stale_message=CHANGED_MESSAGE)
            return
        except StalePlan:
            if not auto_approve or attempt == REPLAN_ATTEMPTS:
                raise StalePlan(CHANGED_MESSAGE, hint="run apply again to see the new plan") from None
            note("another apply changed the database while this one waited for the lock; planning again.")
            click.echo("")


def _keyring_for_invitations(runtime: Runtime, plan: Plan, keyring: Keyring | None) -> Keyring | None:
    """Invitation emails are queued encrypted: on SQLite the key file is created for them; without any key (on
    PostgreSQL) the apply is refused before anything is asked or written."""
    if keyring is None and runtime.backend().needs_key_for(plan):
        keyring = runtime.keyring(create=True)
        if keyring is None:
            raise runtime.backend().no_key_refusal(plan)
    return keyring


def _execute(
    runtime: Runtime,
    plan: Plan,
    keyring: Keyring | None,
    command: str,
    options: _ApplyOptions,
    *,
    stale_message: str = STALE_MESSAGE,
    current_policies: Any = "recorded",
) -> None:
    from ..render.text import applied_line
    from ..workflow import apply_plan

    if options.only_expiries:
        _refuse_unless_expiries(plan)
    keyring = _keyring_for_invitations(runtime, plan, keyring)
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
            allow_removals=options.allow_removals,
            progress=progress,
            stale_message=stale_message,
            single_use=command == "apply PLANFILE",
            current_policies=current_policies,
        )
    finally:
        if progress is not None:
            progress.close()  # also when the apply fails: never leave the terminal in the bar's state
    click.echo("")
    click.echo(applied_line(plan))
    _after_apply(runtime, result, keyring)


def _refuse_unless_expiries(plan: Plan) -> None:
    from ..expiry import not_expiries

    others = not_expiries(plan)
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise PlanRefused(
            "only-expiries",
            f"--only-expiries: the plan holds {len(others)} change(s) that no expiry causes ({shown}); "
            "nothing was changed",
            hint="review them with reconciler plan, and apply them through the reviewed path",
        )


def _after_apply(runtime: Runtime, result: ApplyResult, keyring: Keyring | None) -> None:
    """Deliver the invitation emails queued by the apply (after commit; failures stay pending)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        lines = runtime.backend().after_commit(result, keyring)
    except (SQLAlchemyError, OSError) as exc:  # the apply is committed: a warning, never an error (exit 0)
        from ..backends.common import one_line

        warning(
            f"the apply committed (run #{result.run_id}), but delivering its invitation emails failed "
            f"({one_line(exc)}); they stay pending. Deliver them with 'reconciler invites send'."
        )
        return
    for line in lines:  # worded by the backend, prefix included
        inform(line)


def _load_planfile(runtime: Runtime, planfile: Path, *, allow_unsigned: bool) -> tuple[Plan, Keyring | None]:
    """The saved plan, verified (SPEC 4): unsigned or unverifiable plans only with ``allow_unsigned``."""
    from ..render.jsonplan import read_saved_plan

    keyring = runtime.keyring(create=False)
    plan, unverified = read_saved_plan(_read_planfile(planfile), keyring, allow_unsigned=allow_unsigned)
    if unverified:
        warning(f"{planfile} is applied without a verified signature (--allow-unsigned): {unverified}.")
    return plan, keyring


@click.command()
@click.argument("planfile", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_obj
def show(runtime: Runtime, planfile: Path, fmt: str) -> None:
    """Print a saved plan without applying it (no database needed).

    The signature is verified when a master key is configured; metadata values are never shown.

    \b
    Example:
      reconciler show plan.json
      reconciler show plan.json --format markdown > comment.md
    """
    from ..render.jsonplan import read_saved_plan

    keyring = runtime.keyring(create=False)
    plan, unverified = read_saved_plan(_read_planfile(planfile), keyring, allow_unsigned=True, metadata=False)
    if unverified:
        note(f"the signature of {planfile} was not verified: {unverified}.")
    click.echo(_render(plan, fmt, runtime.color))


def _read_planfile(planfile: Path) -> str:
    try:
        return planfile.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReconcilerError(f"cannot read plan file {planfile}: {exc}") from None


def _names_in_database(runtime: Runtime, plan: Plan, keyring: Keyring | None) -> dict[str, str]:
    """A saved plan carries no desired state: the headings name the workspaces as the database does."""
    snapshot = runtime.backend().read_snapshot(plan.workspaces, keyring)
    return {slug: ws.name for slug, ws in snapshot.workspaces.items()}


def read_answer() -> str:
    """One line from the person at the terminal (tests replace this)."""
    return sys.stdin.readline()


def _confirm() -> None:
    click.echo("")
    click.echo(CONFIRM_QUESTION)
    click.echo("  Enter a value: ", nl=False)
    try:
        answer = read_answer().strip()
    except KeyboardInterrupt:
        click.echo("")
        raise Aborted("Apply cancelled: nothing was changed.") from None
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


_COUNTED_NOUNS = {"role_changes": "role change", "grants": "new privileged member"}


def history_counts(summary: Mapping[str, int]) -> str:
    """``3 added, 1 role change`` from an audit summary; unknown keys keep their own name."""
    from ..render.text import PAST

    parts = []
    for key, count in summary.items():
        if not count:
            continue
        if key in _COUNTED_NOUNS:
            parts.append(f"{count} {_COUNTED_NOUNS[key]}{'' if count == 1 else 's'}")
        else:
            parts.append(f"{count} {PAST.get(key, key)}")
    return ", ".join(parts) or "no changes"


@click.command()
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_obj
def history(runtime: Runtime, limit: int, fmt: str) -> None:
    """Show past applies: when, who, config hash, summary, result.

    \b
    Example:
      reconciler history --limit 5
      reconciler history --format json
    """
    runs = runtime.backend().history(limit)
    if fmt == "json":
        import json

        from ..render.text import escape_json

        click.echo(escape_json(json.dumps({"runs": [_run_json(run) for run in runs]}, indent=2, ensure_ascii=False)))
        return
    from ..render.text import escape_control

    if not runs:
        click.echo("No applies yet.")
        return
    for run in runs:
        counts = history_counts(run.summary)
        when = run.started_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
        actor = escape_control(run.actor)  # the actor and the error are user data
        click.echo(f"#{run.id}  {when}  {run.result:<8} {actor}  config {run.config_hash[:12]}  {counts}")
        if run.error:
            click.echo(f"      {escape_control(run.error)}")


def _run_json(run: AuditRun) -> dict[str, Any]:
    def when(value: datetime | None) -> str | None:
        return value.isoformat(timespec="seconds") if value is not None else None

    return {
        "id": run.id,
        "started_at": when(run.started_at),
        "finished_at": when(run.finished_at),
        "actor": run.actor,
        "command": run.command,
        "config_hash": run.config_hash,
        "summary": run.summary,
        "result": run.result,
        "error": run.error,
    }


@click.command("prune")
@config_option()
@duration_option("--older-than", "30d", "Archive invitations pending longer than this (3600, 90m, 24h, 30d).")
@workspace_option()
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--actor", help="Who is applying, for the audit log (default: CI user or OS user).")
@lock_timeout_option()
@click.pass_obj
def invites_prune(
    runtime: Runtime,
    config_path: Path,
    older_than: timedelta,
    workspaces: tuple[str, ...],
    auto_approve: bool,
    actor: str | None,
    lock_timeout: float,
) -> None:
    """Archive stale invitations through a normal plan and apply.

    Invitations pending longer than --older-than that the configuration does not declare are archived (groups
    and metadata kept), with the plan shown and confirmed like apply's, under the apply lock, the safety rails
    and the policies, and recorded in the audit log. Stale invitations the configuration declares are named:
    remove them from the file, or the next plan would invite them again.

    \b
    Example:
      reconciler invites prune -f access/ --older-than 30d
      reconciler invites prune -f access/ --older-than 45d --auto-approve
    """
    from ..render.text import render_text
    from ..workflow import default_actor, load_desired, plan_invite_prune

    desired = load_desired(config_path, workspaces=workspaces, warn=warning)
    keyring = runtime.keyring(create=False)
    planned = plan_invite_prune(runtime.backend(), desired, keyring, older_than=older_than, workspaces=workspaces)
    for line in planned.plan.notes:
        note(line)
    if planned.plan.empty:
        click.echo("No stale invitations to archive.")
        return
    click.echo(render_text(planned.plan, color=runtime.color))
    _raise_refusals(planned, allow_mass_change=False)
    if not auto_approve:
        if not stdin_is_interactive():
            fail("cannot ask for confirmation: standard input is not a terminal", hint="pass --auto-approve")
        _confirm()
    options = _ApplyOptions(default_actor(actor), lock_timeout, allow_mass_change=False)
    _execute(runtime, planned.plan, keyring, "invites prune", options, stale_message=CHANGED_MESSAGE)
