"""The library's orchestration: load the configuration, read the database, plan, apply.

Stage: glue between config, backends and planner. The CLI and library users call these; they print nothing.
"""

from __future__ import annotations

import gc
import getpass
import os
import re
import sys
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .backends.base import ApplyResult, AuditInfo, Backend
from .crypto import Keyring
from .desired import DesiredState
from .errors import ConfigError, Location, PlanRefused, Problem, StalePlan, UnknownWorkspace, refused
from .ops import Plan, RailWarning
from .rails import check_rails
from .roles import STRICT_ROLES_MESSAGE, strict_role_conflicts
from .state import Snapshot

FREEZE_SURVIVORS = 200_000  # tracked objects left by a paused block, above which a one-shot process freezes them
_one_shot: ContextVar[bool] = ContextVar("reconciler_one_shot_process", default=False)


@contextmanager
def one_shot_process() -> Iterator[None]:
    """Around the one command a process runs before it exits (the CLI's ``main``, a benchmark worker): inside it,
    :func:`paused_gc` may freeze what large blocks leave behind. Scoped, never a lasting process-wide switch:
    library calls outside it never freeze."""
    token = _one_shot.set(True)
    try:
        yield
    finally:
        _one_shot.reset(token)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large acyclic structures.

    Loading 10,000 users creates millions of objects and no cycles; the collector would traverse them again
    and again (about half of the load time). Garbage with cycles is still collected after the block.

    Inside :func:`one_shot_process`, when more than ``FREEZE_SURVIVORS`` new objects
    outlive the block (a large configuration, its snapshot and plan), everything the collector tracks is
    moved to its permanent generation (``gc.freeze``), so that the collections after the block do not walk
    them again (the ``plan`` command at 100,000 users: 8.0 s -> 7.35 s). Frozen objects are still freed when
    their last reference goes, but frozen garbage cycles (older ones included) never are: harmless for a
    command that is about to exit, a leak for a long-running process, hence not the default.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if _one_shot.get() and gc.get_count()[0] > FREEZE_SURVIVORS:
                gc.freeze()
            gc.enable()


STALE_MESSAGE = "Saved plan is stale: the database changed since the plan was made. Run plan again."


@dataclass(frozen=True)
class Planned:
    desired: DesiredState
    snapshot: Snapshot
    plan: Plan


def load_desired(
    config_path: Path,
    *,
    strict_roles: bool = False,
    workspaces: Collection[str] = (),
    warn: Callable[[str], None] | None = None,
) -> DesiredState:
    """The configuration at ``config_path``, with the secrets of ``workspaces`` (default: all) resolved.

    Warnings about what is not loaded go to ``warn`` (the CLI passes its ``Warning:`` writer); without one, for
    library use, they are printed on stderr as ``Warning: ...``, never dropped.
    """
    from .config.loader import load_config

    with paused_gc():
        desired = load_config(config_path, workspaces=workspaces or None, warn=warn or _print_warning)
    unknown = set(workspaces) - desired.workspaces.keys()
    if unknown:
        raise UnknownWorkspace(unknown, desired.workspaces, str(config_path))
    if strict_roles:
        _check_strict_roles(desired, config_path)
    return desired


def _print_warning(message: str) -> None:
    print(f"Warning: {message}", file=sys.stderr)


def _check_strict_roles(desired: DesiredState, config_path: Path) -> None:
    problems = []
    for slug, ws in sorted(desired.workspaces.items()):
        for email, implied in strict_role_conflicts(ws.workspace):
            groups = ", ".join(r.describe() for r in implied)
            problems.append(
                Problem(
                    Location(str(config_path), path=f"{slug}: {email}"),
                    STRICT_ROLES_MESSAGE,
                    f"an end-user in builder-level {groups}; --strict-roles is on",
                )
            )
    if problems:
        raise ConfigError(problems)


def make_plan(
    backend: Backend,
    desired: DesiredState,
    keyring: Keyring | None,
    *,
    workspaces: Collection[str] = (),
) -> Planned:
    from .planner import build_plan

    slugs = list(workspaces) or sorted(desired.workspaces)
    with paused_gc():
        snapshot = backend.read_snapshot(slugs, keyring)
        plan = build_plan(desired, snapshot, workspaces=slugs)
    backend.validate_plan(plan, snapshot)
    return Planned(desired, snapshot, with_warnings(plan, snapshot))


def with_warnings(plan: Plan, snapshot: Snapshot) -> Plan:
    """The plan with every safety rail it breaks (mass change included), for the JSON and Markdown plans."""
    broken = refusals(plan, snapshot, allow_mass_change=False)
    return replace(plan, warnings=tuple(RailWarning(r.rule, r.message, r.hint or "") for r in broken))


def refusals(
    plan: Plan, snapshot: Snapshot, *, allow_mass_change: bool, allow_removals: bool = False
) -> list[PlanRefused]:
    return check_rails(
        plan,
        snapshot,
        protected=plan.protected,
        allow_mass_change=allow_mass_change,
        allow_removals=allow_removals,
    )


def apply_plan(
    backend: Backend,
    plan: Plan,
    keyring: Keyring | None,
    *,
    actor: str,
    command: str,
    lock_timeout: float = 0.0,
    allow_mass_change: bool = False,
    allow_removals: bool = False,
    progress: Callable[[int, int], None] | None = None,
    stale_message: str = STALE_MESSAGE,
    single_use: bool = False,
) -> ApplyResult:
    """Execute ``plan`` if the database still is what it was planned against and no safety rail objects.

    ``single_use`` (a saved plan): refused when a run that applied the same plan id was recorded before.
    ``allow_removals``: apply the removals of workspaces with ``prune: confirm`` (refused without it).

    ``stale_message`` is what the refusal (and its audit row) says when the database changed since the plan was
    made: the default speaks of a saved plan; a plan made moments ago by the same command needs other words.
    """

    def check(snapshot: Snapshot) -> None:
        if snapshot.fingerprint != plan.state_fingerprint:
            raise StalePlan(stale_message)
        broken = refusals(plan, snapshot, allow_mass_change=allow_mass_change, allow_removals=allow_removals)
        if broken:
            raise refused(broken)

    with paused_gc():
        return backend.apply(
            plan,
            keyring=keyring,
            lock_timeout=lock_timeout,
            check=check,
            audit=AuditInfo(actor=actor, command=command, config_hash=plan.config_hash, single_use=single_use),
            progress=progress,
        )


DEFAULT_PLAN_MAX_AGE = timedelta(hours=24)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90`` (seconds), ``45m``, ``24h``, ``7d``; ValueError for anything else."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration (e.g. 3600, 90m, 24h, 7d)")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def check_plan_age(plan: Plan, max_age: timedelta, now: datetime) -> None:
    """A saved plan expires ``max_age`` after it was made (SPEC 4): refused with its age and the limit."""
    try:
        made = datetime.fromisoformat(plan.created_at)
    except ValueError:
        raise PlanRefused(
            "expired", f"the plan file's created_at {plan.created_at!r} is not a time", hint="make the plan again"
        ) from None
    if made.tzinfo is None:
        made = made.replace(tzinfo=UTC)
    age = now - made
    if age > max_age:
        raise PlanRefused(
            "expired",
            f"the plan was made {_describe(age)} ago ({made.astimezone(UTC):%Y-%m-%d %H:%M UTC}); saved plans "
            f"expire after {_describe(max_age)}",
            hint="make a new plan (reconciler plan --out FILE), or allow older plans with --plan-max-age",
        )


def _describe(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}".replace(".0" + unit, unit)
    return f"{seconds}s"


def default_actor(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """``--actor``, else the CI system's user, else the OS user."""
    if explicit:
        return explicit
    env = os.environ if environ is None else environ
    for var in (
        "RECONCILER_ACTOR",
        "GITHUB_ACTOR",
        "GITLAB_USER_LOGIN",
        "BUILDKITE_BUILD_CREATOR",
        "BUILD_REQUESTEDFOR",
    ):
        if env.get(var):
            return f"{env[var]} (ci)" if var != "RECONCILER_ACTOR" else env[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
