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
from typing import Literal

from . import ops
from .backends.base import ApplyResult, AuditInfo, Backend
from .crypto import Keyring
from .desired import DesiredState
from .errors import ConfigError, Location, PlanRefusals, PlanRefused, Problem, StalePlan, UnknownWorkspace, refused
from .expiry import DEFAULT_EXPIRING_WINDOW, current_time, describe_window
from .expiry import expiring_within as expiring
from .hygiene import DEFAULT_NOT_SIGNED_IN, DEFAULT_STALE_INVITES, prune_ops
from .hygiene import findings as hygiene_findings
from .limits import LimitCheck, SeatLimits
from .ops import Plan, RailWarning
from .outcome import outcome
from .policies import Policy, PolicyResult, applicable, denied, describe_result, evaluate
from .policies import digest as policy_digest
from .rails import check_rails
from .roles import STRICT_ROLES_MESSAGE, is_builder_level, strict_role_conflicts
from .state import Snapshot, Workspace

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
    now: datetime | None = None,
) -> DesiredState:
    """The configuration at ``config_path``, with the secrets of ``workspaces`` (default: all) resolved, and its
    ``expires:`` compared with ``now`` (default: :func:`reconciler.expiry.current_time`, the injectable clock).

    Warnings about what is not loaded go to ``warn`` (the CLI passes its ``Warning:`` writer); without one, for
    library use, they are printed on stderr as ``Warning: ...``, never dropped.
    """
    from .config.loader import load_config

    with paused_gc():
        desired = load_config(config_path, workspaces=workspaces or None, warn=warn or _print_warning, now=now)
    unknown = set(workspaces) - desired.workspaces.keys()
    if unknown:
        raise UnknownWorkspace(unknown, desired.workspaces, str(config_path))
    if strict_roles:
        _check_strict_roles(desired, config_path)
        # the plan checks it again against what the database adds (flags stored in ToolJet that make a group
        # builder-level): every workspace then carries the setting
        desired = replace(
            desired,
            workspaces={
                slug: replace(ws, settings=replace(ws.settings, strict_roles=True))
                for slug, ws in desired.workspaces.items()
            },
        )
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
    now: datetime | None = None,
    expiring_within: timedelta = DEFAULT_EXPIRING_WINDOW,
    enforce_policies: bool = True,
) -> Planned:
    """Read the database and plan. ``now`` (default: the injectable clock) and ``expiring_within`` choose what
    the plan lists as expiring soon. The configuration's policies are checked on the state the plan leads to; a
    broken ``deny`` policy is a ConfigError located at the policy, unless ``enforce_policies`` is off (``drift``
    reports instead)."""
    from .planner import build_plan

    slugs = list(workspaces) or sorted(desired.workspaces)
    with paused_gc():
        snapshot = backend.read_snapshot(slugs, keyring)
        plan = build_plan(desired, snapshot, workspaces=slugs)
    problems = creation_refusals(backend, plan, desired) + workspace_refusals(plan, snapshot, desired)
    problems += strict_role_refusals(plan, snapshot, desired)
    try:  # every refusal at once: the workflow's and the backend's own, located where they can be
        backend.validate_plan(plan, snapshot)
    except PlanRefused as exc:
        problems += [_located(r, desired) for r in (exc.refusals if isinstance(exc, PlanRefusals) else [exc])]
    if problems:
        raise refused(problems)
    now = now if now is not None else current_time()
    plan = replace(
        plan, expiring=expiring(desired, slugs, now, expiring_within), expiring_window=describe_window(expiring_within)
    )
    plan = _with_policies(plan, desired, snapshot, enforce=enforce_policies)
    # Seat limits are refusals, not policies: drift too refuses a configuration ToolJet would answer with 451.
    plan = _with_seat_limits(backend, plan, desired, snapshot, enforce=True)
    return Planned(desired, snapshot, with_warnings(plan, snapshot))


def strict_role_refusals(plan: Plan, snapshot: Snapshot, desired: DesiredState) -> list[PlanRefused]:
    """With strict roles, a member declared end-user whom the plan leaves at builder: the configuration's own
    groups are refused when it is loaded, so what is left comes from the database (a group that is builder-level
    through flags the configuration has no key for, or environment access)."""
    after = None
    problems = []
    for slug in plan.workspaces:
        ws = desired.workspaces.get(slug)
        if ws is None or not ws.settings.strict_roles:
            continue
        after = after if after is not None else outcome(snapshot, plan)
        result = after.get(slug)
        for email, declared in sorted(ws.workspace.memberships.items()):
            member = result.memberships.get(email) if result is not None else None
            if declared.role == "end-user" and member is not None and member.role == "builder":
                groups = sorted(g for g in member.groups if g in result.groups and is_builder_level(result.groups[g]))
                if not groups:  # builder for another reason (a role the file cedes, a protected user)
                    continue
                problems.append(
                    PlanRefused(
                        "strict-roles",
                        f"{ws.where_member(email, 'groups')}: workspace {slug!r}: {email}: {STRICT_ROLES_MESSAGE}",
                        hint=f"strict roles are on, and builder-level in ToolJet are the groups {', '.join(groups)} "
                        "(flags or environment access the configuration has no key for; change them in ToolJet)",
                    )
                )
    return problems


def _located(refusal: PlanRefused, desired: DesiredState) -> PlanRefused:
    """A backend's refusal about a member, a group or the builder role, with where the configuration writes it."""
    if refusal.about is None:
        return refusal
    kind, slug, name, field_name = refusal.about
    ws = desired.workspaces.get(slug)
    if ws is None or ws.locate is None:
        return refusal
    if kind == "member":
        where = ws.where_member(name, field_name)
    elif kind == "group":
        where = ws.where_group(name, field_name)
    else:
        where = ws.where("roles", "builder", field_name)
    return PlanRefused(refusal.rule, f"{where}: {refusal.message}", hint=refusal.hint, about=refusal.about)


def rest_of_instance(backend: Backend, plan: Plan) -> Snapshot | None:
    """The workspaces of the instance that ``plan`` does not cover, as they are (a top-level seat limit counts
    the whole instance); None when the plan's limits are all per workspace."""
    from .limits import instance_wide

    if not instance_wide(plan.seat_limits):
        return None
    others = [slug for slug in backend.list_workspaces() if slug not in plan.workspaces]
    return backend.read_without_metadata(others)


def _with_seat_limits(
    backend: Backend, plan: Plan, desired: DesiredState, snapshot: Snapshot, *, enforce: bool
) -> Plan:
    """The plan with the seat limits that apply to it (issue 16), checked on the state it leads to: a limit it
    would exceed and raise is a ConfigError located at the limit, with ToolJet's 451 message; one it leaves
    exceeded without raising it is a warning."""
    from .limits import applicable as applicable_limits
    from .limits import plan_checks

    limits = applicable_limits(desired.limits, plan.workspaces)
    if not limits:
        return plan
    plan = replace(plan, seat_limits=limits)
    checks = plan_checks(plan, snapshot, rest_of_instance(backend, plan))
    refused_checks = [c for c in checks if c.refused]
    if enforce and refused_checks:
        raise ConfigError([_limit_problem(c, desired) for c in refused_checks])
    return replace(plan, seat_warnings=tuple(c.refusal() if c.refused else c.warning() for c in checks))


def _limit_problem(check: LimitCheck, desired: DesiredState) -> Problem:
    place = desired.limit_places.get(check.scope)
    location = place(check.kind) if place is not None else Location("limits", path=check.kind)
    return Problem(
        location,
        check.refusal(),
        "the state this plan leads to exceeds a declared seat limit: ToolJet would refuse the invitations and role "
        "changes past it; remove members or change roles, or raise the limit once the licence allows more",
    )


DEFAULT_WORKSPACE = "Default workspace cannot be archived"  # ToolJet's organizations/service.ts
OWNER_OF_APPS = (  # ToolJet's ERROR_HANDLER.USER_IS_OWNER_OF_APPS (group-permissions/constants/error.ts)
    "The user- {email} cannot be an end-user because they are the owner of the following application(s)- {apps}"
)
OWNER_OF_APPS_HINT = (
    "set settings.transfer_apps_to: EMAIL (an active admin of the workspace) to transfer the apps first, as "
    "ToolJet's Edit user drawer transfers them to the acting admin; or keep the member's role (docs/tooljet.md)"
)


def _at(desired: DesiredState | None, slug: str, *path: str | int) -> str:
    """``file:line:column: path: `` where ``path`` of workspace ``slug`` is written, or nothing."""
    ws = desired.workspaces.get(slug) if desired is not None else None
    return f"{ws.where(*path)}: " if ws is not None and ws.locate is not None else ""


def creation_refusals(backend: Backend, plan: Plan, desired: DesiredState | None = None) -> list[PlanRefused]:
    """Every workspace ``plan`` would create, when ``backend`` does not create workspaces (its declared
    ``SUPPORTS_WORKSPACE_CREATION``), located in the configuration when there is one."""
    if backend.SUPPORTS_WORKSPACE_CREATION:
        return []
    return [
        PlanRefused(
            "workspace-creation",
            f"{_at(desired, op.workspace, 'slug')}workspace {op.workspace!r} does not exist in the database, and "
            f"the {backend.name} backend does not create workspaces",
            hint=backend.ADOPT_WORKSPACE_HINT or None,
        )
        for op in plan.ops
        if isinstance(op, ops.CreateWorkspace)
    ]


def workspace_refusals(plan: Plan, snapshot: Snapshot, desired: DesiredState | None = None) -> list[PlanRefused]:
    """What the database's own server refuses, checked on ``snapshot`` (at plan time, and again under the apply's
    lock): archiving the default workspace; demoting a member who owns apps to end-user, unless the plan
    transfers the apps (``settings.transfer_apps_to``) to a member who is an active admin once it is applied."""
    problems = []
    for op in plan.ops:
        ws = snapshot.workspaces.get(op.workspace)
        archives = isinstance(op, ops.ArchiveWorkspace) or (
            isinstance(op, ops.UpdateWorkspace) and any(c.field == "status" and c.new == "archived" for c in op.changes)
        )
        if archives and ws is not None and ws.is_default:
            where = _at(desired, op.workspace, "status")
            problems.append(
                PlanRefused(
                    "default-workspace",
                    f"{where}workspace {op.workspace!r}: {DEFAULT_WORKSPACE}",
                    hint="keep it active: sign-ups and onboarding use the default workspace "
                    "(organizations.is_default); see docs/tooljet.md",
                )
            )
    return problems + _owner_refusals(plan, snapshot, desired)


def _owner_refusals(plan: Plan, snapshot: Snapshot, desired: DesiredState | None) -> list[PlanRefused]:
    from .planner import demoted_owners

    transfers = {(op.workspace, op.email): op for op in plan.ops if isinstance(op, ops.TransferApps)}
    problems = []
    for slug in plan.workspaces:
        changes = [c for c in plan.role_changes if c.workspace == slug]
        for email, apps in demoted_owners(snapshot.workspaces.get(slug), changes):
            if (slug, email) in transfers:
                continue
            ws = desired.workspaces.get(slug) if desired is not None else None
            where = f"{ws.where_member(email, 'role')}: " if ws is not None and ws.locate is not None else ""
            message = OWNER_OF_APPS.format(email=email, apps=", ".join(apps))
            problems.append(PlanRefused("app-owner", f"{where}workspace {slug!r}: {message}", hint=OWNER_OF_APPS_HINT))
    if transfers:
        after = outcome(snapshot, plan)
        for (slug, email), op in sorted(transfers.items()):
            if not _active_admin(after.get(slug), op.to):
                where = _at(desired, slug, "settings", "transfer_apps_to")
                problems.append(
                    PlanRefused(
                        "app-owner",
                        f"{where}workspace {slug!r}: settings.transfer_apps_to: {op.to} must be an active admin of "
                        f"the workspace once the plan is applied, to receive the apps of {email}",
                        hint=OWNER_OF_APPS_HINT,
                    )
                )
    return problems


def _active_admin(ws: Workspace | None, email: str) -> bool:
    member = ws.memberships.get(email) if ws is not None else None
    return member is not None and member.role == "admin" and member.status == "active"


def _with_policies(plan: Plan, desired: DesiredState, snapshot: Snapshot, *, enforce: bool) -> Plan:
    """The plan with the policies that apply to its workspaces, their digest and their results on the state the
    plan leads to (members and metadata the configuration leaves alone included)."""
    from .config.policy_rules import denial_problems

    policies = applicable(desired.policies, plan.workspaces)
    if not policies:
        return plan
    plan = replace(plan, policies=policies, policy_digest=policy_digest(policies))
    results = policy_results(plan, snapshot)
    if enforce and denied(results):
        raise ConfigError(denial_problems(results, desired.policy_places, state="the state this plan leads to"))
    return replace(plan, policy_results=results)


def policy_results(plan: Plan, snapshot: Snapshot) -> tuple[PolicyResult, ...]:
    """The plan's policies on the state it leads to from ``snapshot``."""
    spaces = outcome(snapshot, plan)
    return evaluate(plan.policies, [spaces[slug] for slug in plan.workspaces if slug in spaces], snapshot.users)


def current_policy_results(policies: Collection[Policy], snapshot: Snapshot) -> tuple[PolicyResult, ...]:
    """``policies`` on the database as it is (``drift``: violations made outside reconciler, e.g. in the UI)."""
    return evaluate(applicable(policies, snapshot.workspaces), snapshot.workspaces.values(), snapshot.users)


def plan_drift(
    backend: Backend,
    desired: DesiredState,
    keyring: Keyring | None,
    *,
    workspaces: Collection[str] = (),
    now: datetime | None = None,
    expiring_within: timedelta = DEFAULT_EXPIRING_WINDOW,
    stale_invites: timedelta | None = DEFAULT_STALE_INVITES,
    not_signed_in: timedelta | None = DEFAULT_NOT_SIGNED_IN,
) -> tuple[Planned, bool]:
    """``drift``: the plan, with the policies checked on the database as it is (not on what apply would make of
    it), and whether anything drifted: a change to make, or a broken ``deny`` policy. Access hygiene findings
    (stale invitations, members who stopped signing in) are listed, and are not drift."""
    now = now if now is not None else current_time()
    planned = make_plan(
        backend,
        desired,
        keyring,
        workspaces=workspaces,
        now=now,
        expiring_within=expiring_within,
        enforce_policies=False,
    )
    if planned.plan.policies:
        results = current_policy_results(planned.plan.policies, planned.snapshot)
        planned = replace(planned, plan=replace(planned.plan, policy_results=results))
    found = hygiene_findings(
        planned.snapshot,
        backend.read_activity(planned.plan.workspaces),
        planned.plan.workspaces,
        now=now,
        stale_invites=stale_invites,
        not_signed_in=not_signed_in,
    )
    planned = replace(planned, plan=replace(planned.plan, hygiene=found))
    return planned, not planned.plan.empty or bool(denied(planned.plan.policy_results))


def plan_invite_prune(
    backend: Backend,
    desired: DesiredState,
    keyring: Keyring | None,
    *,
    older_than: timedelta,
    workspaces: Collection[str] = (),
    now: datetime | None = None,
) -> Planned:
    """``invites prune``: a plan that archives every invitation pending longer than ``older_than`` that the
    configuration does not declare (one it declares would be invited again by the next plan: a note says to
    remove it from the file). Applied like any plan: lock, fingerprint, rails, policies, audit."""
    import uuid

    slugs = sorted(workspaces) or sorted(desired.workspaces)
    now = now if now is not None else current_time()
    snapshot = backend.read_snapshot(slugs, keyring)
    stale = hygiene_findings(
        snapshot, backend.read_activity(slugs), slugs, now=now, stale_invites=older_than, not_signed_in=None
    )
    managed = {(slug, email) for slug in slugs for email in desired.workspaces[slug].workspace.memberships}
    notes = tuple(
        f"{f.workspace}: {f.email}: invitation pending since {f.since} ({f.days} days) is declared in the "
        "configuration: remove its entry (or set status: archived) to revoke it"
        for f in stale
        if (f.workspace, f.email) in managed
    )
    policies = applicable(desired.policies, slugs)
    plan = Plan(
        ops=tuple(prune_ops(stale, managed)),
        workspaces=tuple(slugs),
        config_hash=desired.config_hash,
        state_fingerprint=snapshot.fingerprint,
        created_at=now.isoformat(timespec="seconds"),
        plan_id=uuid.uuid4().hex,
        notes=notes,
        policies=policies,
        policy_digest=policy_digest(policies),
    )
    backend.validate_plan(plan, snapshot)
    return Planned(desired, snapshot, with_warnings(plan, snapshot))


POLICIES_CHANGED = "the policies changed since the plan was made: it was checked against other rules"


def check_policy_digest(plan: Plan, current: Collection[Policy] | None) -> None:
    """A saved plan records the policies it was checked against; refuse it when the configuration's differ, or
    when there is no configuration to compare with (``current`` None) and the plan was checked against any."""
    if current is None:
        if plan.policy_digest:
            raise PlanRefused(
                "policies-unverified",
                "the plan was checked against policies, and apply cannot tell whether they changed without the "
                "configuration",
                hint="give the configuration too: reconciler apply PLANFILE -f CONFIG",
            )
        return
    now = policy_digest(applicable(current, plan.workspaces))
    if now != plan.policy_digest:
        raise PlanRefused(
            "policies-changed",
            POLICIES_CHANGED + f" (plan: {plan.policy_digest[:12] or 'none'}, configuration: {now[:12] or 'none'})",
            hint="make the plan again against the current policies: reconciler plan -f CONFIG --out FILE",
        )


def check_seat_limits(plan: Plan, current: Collection[SeatLimits] | None) -> None:
    """A saved plan records the seat limits it was checked against (and apply checks those again); with the
    configuration at hand (``current``; None: none given), refuse the plan when the configuration's differ."""
    from .limits import applicable as applicable_limits

    if current is None:
        return
    if set(applicable_limits(current, plan.workspaces)) != set(plan.seat_limits):
        raise PlanRefused(
            "seat-limits-changed",
            "the seat limits changed since the plan was made: it was checked against other limits",
            hint="make the plan again against the current limits: reconciler plan -f CONFIG --out FILE",
        )


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
    current_policies: Collection[Policy] | Literal["recorded"] | None = "recorded",
) -> ApplyResult:
    """Execute ``plan`` if the database still is what it was planned against and no safety rail objects.

    ``single_use`` (a saved plan): refused when a run that applied the same plan id was recorded before.
    ``allow_removals``: apply the removals of workspaces with ``prune: confirm`` (refused without it).

    ``stale_message`` is what the refusal (and its audit row) says when the database changed since the plan was
    made: the default speaks of a saved plan; a plan made moments ago by the same command needs other words.

    ``current_policies``: the configuration's policies, compared with those the plan recorded (None: no
    configuration to compare with; ``"recorded"``, the default, suits a plan made moments ago from the
    configuration, whose recorded policies are the configuration's own). Under the lock, the plan's policies are
    checked again on the state it leads to from the fresh snapshot.
    """
    check_policy_digest(plan, plan.policies if current_policies == "recorded" else current_policies)
    cannot = creation_refusals(backend, plan)
    if cannot:
        raise refused(cannot)

    def check(snapshot: Snapshot) -> None:
        if snapshot.fingerprint != plan.state_fingerprint:
            raise StalePlan(stale_message)
        broken = workspace_refusals(plan, snapshot)
        broken += refusals(plan, snapshot, allow_mass_change=allow_mass_change, allow_removals=allow_removals)
        if plan.policies:
            broken += [PlanRefused("policy", describe_result(r)) for r in denied(policy_results(plan, snapshot))]
        if plan.seat_limits:
            from .limits import plan_checks

            checks = plan_checks(plan, snapshot, rest_of_instance(backend, plan))
            broken += [PlanRefused("seat-limit", c.refusal()) for c in checks if c.refused]
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
