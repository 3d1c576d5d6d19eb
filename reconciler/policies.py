"""Declarative access policies (issue 18): the rules, and their evaluation on a workspace.

Stage: core (pure). The config layer turns ``policies:`` entries into :class:`Policy` objects; this module
evaluates them on a :class:`~reconciler.state.Workspace` whose memberships carry *effective* roles: the desired
state (at ``validate`` and ``plan``), the state a plan leads to (``plan`` and, under the lock, ``apply``) or the
database as it is (``drift``). Each (policy, workspace) pair gives one :class:`PolicyResult`.

Decisions (docs/governance.md): only memberships that are not archived, in a workspace that is not archived,
hold anything; ``admins`` counts the admins that are not archived (invited ones included: a policy must be
satisfiable by the apply that invites them); ``exclusive`` is broken by holding two or more of its groups;
``allow`` with ``builder_level: true`` covers every admin and builder; ``seats`` counts with ``access.seat_counts``
(ToolJet's counting, per workspace); ``forbid`` never counts what the admin role
grants (ToolJet gives admins everything, and no configuration can take it away); metadata a backend could not read
is unknown, never a violation.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

from .roles import effective_role
from .state import ROLE_RANK, Membership, Snapshot, User, Workspace

PolicyLevel = Literal["deny", "warn"]
KINDS = ("admins", "seats", "exclusive", "allow", "require_metadata", "forbid")
MAX_NAMED = 10  # members named in a result's detail before the rest are counted


@dataclass(frozen=True)
class AdminBounds:
    min: int | None = None
    max: int | None = None


@dataclass(frozen=True)
class SeatBudget:
    builders: int | None = None
    end_users: int | None = None
    total: int | None = None


@dataclass(frozen=True)
class AllowRule:
    """Who may hold ``role`` (or ``group``, or builder-level access): members whose email matches a glob."""

    emails: tuple[str, ...]
    role: str = ""
    group: str = ""
    builder_level: bool = False

    def describe(self) -> str:
        if self.role:
            return f"role {self.role}"
        if self.group:
            return f'group "{self.group}"'
        return "builder-level access (admin or builder)"


@dataclass(frozen=True)
class RequireMetadata:
    keys: tuple[str, ...]
    group: str = ""
    role: str = ""


@dataclass(frozen=True)
class ForbidRule:
    """Access nobody may get (``edit``/``view`` on ``apps``, ``configure``/``use`` on ``data_sources``) except
    through ``except_groups``."""

    access: str
    apps: tuple[str, ...] = ()
    data_sources: tuple[str, ...] = ()
    except_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    """One rule of a ``policies:`` list; ``scope`` is the workspace slug, or empty for a top-level policy (which
    applies to every workspace). Exactly one of the kind fields is set."""

    id: str
    level: PolicyLevel
    message: str
    scope: str = ""
    admins: AdminBounds | None = None
    seats: SeatBudget | None = None
    exclusive: tuple[str, ...] = ()
    allow: AllowRule | None = None
    require_metadata: RequireMetadata | None = None
    forbid: ForbidRule | None = None

    @property
    def kind(self) -> str:
        if self.exclusive:
            return "exclusive"
        return next(k for k in KINDS if k != "exclusive" and getattr(self, k) is not None)

    def applies_to(self, slug: str) -> bool:
        return self.scope in ("", slug)


@dataclass(frozen=True)
class PolicyResult:
    """A policy checked on one workspace: ``passed``, or what breaks it (``detail``) and who (``members``)."""

    policy: str
    level: PolicyLevel
    kind: str
    workspace: str
    passed: bool
    message: str
    detail: str = ""
    members: tuple[str, ...] = field(default=())


# --- evaluation ----------------------------------------------------------------------------------


def applicable(policies: Iterable[Policy], workspaces: Collection[str]) -> tuple[Policy, ...]:
    """The policies that apply to at least one of ``workspaces``: the top-level ones and theirs."""
    return tuple(p for p in policies if not p.scope or p.scope in workspaces)


def digest(policies: Iterable[Policy]) -> str:
    """A digest of the policies' definitions (order-independent); empty when there are none."""
    encoded = sorted(json.dumps(asdict(p), sort_keys=True, separators=(",", ":")) for p in policies)
    if not encoded:
        return ""
    return hashlib.sha256("\n".join(encoded).encode("utf-8")).hexdigest()


def evaluate(
    policies: Iterable[Policy], workspaces: Iterable[Workspace], users: Mapping[str, User] | None = None
) -> tuple[PolicyResult, ...]:
    """Every policy on every workspace it applies to; memberships must carry effective roles. ``users``: the
    instance's users, for seat counting (a user archived in the instance takes no seat)."""
    results = []
    spaces = list(workspaces)
    known = dict(users or {})
    for policy in policies:
        for workspace in spaces:
            if policy.applies_to(workspace.slug):
                check = _check_seats if policy.kind == "seats" else _CHECKS[policy.kind]
                results.append(check(policy, workspace, known))
    return tuple(results)


def denied(results: Iterable[PolicyResult]) -> list[PolicyResult]:
    return [r for r in results if not r.passed and r.level == "deny"]


def with_effective_roles(workspace: Workspace) -> Workspace:
    """A desired workspace (declared roles) with the effective role of each membership (SPEC 1, rule 1)."""
    from dataclasses import replace

    memberships = {}
    for email, member in workspace.memberships.items():
        role = member.role
        if member.status != "archived":
            role = effective_role(member.role, member.groups, workspace.groups)[0]
        memberships[email] = member if role == member.role else replace(member, role=role)
    return replace(workspace, memberships=memberships)


def _holding(workspace: Workspace) -> list[Membership]:
    """The memberships that hold access: not archived, in a workspace that is not archived."""
    if workspace.status != "active":
        return []
    return sorted((m for m in workspace.memberships.values() if m.status != "archived"), key=lambda m: m.email)


def _result(policy: Policy, workspace: Workspace, detail: str = "", members: Iterable[str] = ()) -> PolicyResult:
    found = tuple(members)
    return PolicyResult(
        policy.id,
        policy.level,
        policy.kind,
        workspace.slug,
        passed=not detail,
        message=policy.message,
        detail=detail,
        members=found,
    )


def named(emails: Collection[str]) -> str:
    """``a@x, b@x`` (at most MAX_NAMED, then ``and 12 more``)."""
    shown = sorted(emails)[:MAX_NAMED]
    rest = len(emails) - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest > 0 else "")


def _check_admins(policy: Policy, workspace: Workspace, users: Mapping[str, User]) -> PolicyResult:
    assert policy.admins is not None
    admins = [m.email for m in _holding(workspace) if m.role == "admin"]
    low, high = policy.admins.min, policy.admins.max
    count = f"{len(admins)} admin{'s' if len(admins) != 1 else ''}" + (f" ({named(admins)})" if admins else "")
    if low is not None and len(admins) < low:
        return _result(policy, workspace, f"{count}; at least {low} required", admins)
    if high is not None and len(admins) > high:
        return _result(policy, workspace, f"{count}; at most {high} allowed", admins)
    return _result(policy, workspace)


def _check_seats(policy: Policy, workspace: Workspace, users: Mapping[str, User]) -> PolicyResult:
    """Seats as ToolJet counts them, per workspace: the one counting function of ``access.seat_counts``."""
    from .access import seat_counts  # (access imports the desired state, which imports these types)

    assert policy.seats is not None
    seats = seat_counts(Snapshot({workspace.slug: workspace}, dict(users)), whole_instance=False).workspaces[
        workspace.slug
    ]
    over = [
        f"{used} {what} (budget {budget})"
        for what, used, budget in (
            ("builders", seats.builders, policy.seats.builders),
            ("end users", seats.end_users, policy.seats.end_users),
            ("seats in total", seats.total, policy.seats.total),
        )
        if budget is not None and used > budget
    ]
    return _result(policy, workspace, "; ".join(over))


def _check_exclusive(policy: Policy, workspace: Workspace, users: Mapping[str, User]) -> PolicyResult:
    groups = set(policy.exclusive)
    offenders = []
    for member in _holding(workspace):
        held = sorted(member.groups & groups)
        if len(held) >= 2:
            offenders.append((member.email, held))
    if not offenders:
        return _result(policy, workspace)
    detail = "; ".join(f"{email} holds {', '.join(held)}" for email, held in offenders[:MAX_NAMED])
    if len(offenders) > MAX_NAMED:
        detail += f"; and {len(offenders) - MAX_NAMED} more"
    return _result(policy, workspace, detail, [email for email, _ in offenders])


def _holds(rule: AllowRule | RequireMetadata, member: Membership, workspace: Workspace) -> bool:
    if rule.role:
        return member.role == rule.role
    if rule.group:
        return rule.group in member.groups
    return ROLE_RANK[member.role] >= ROLE_RANK["builder"]


def _check_allow(policy: Policy, workspace: Workspace, users: Mapping[str, User]) -> PolicyResult:
    rule = policy.allow
    assert rule is not None
    offenders = [
        m.email
        for m in _holding(workspace)
        if _holds(rule, m, workspace) and not any(fnmatch.fnmatchcase(m.email, p.lower()) for p in rule.emails)
    ]
    if not offenders:
        return _result(policy, workspace)
    detail = f"{named(offenders)}: {rule.describe()} is allowed only for {', '.join(rule.emails)}"
    return _result(policy, workspace, detail, offenders)


def _check_require_metadata(policy: Policy, workspace: Workspace, users: Mapping[str, User]) -> PolicyResult:
    rule = policy.require_metadata
    assert rule is not None
    missing: dict[str, list[str]] = {}
    for member in _holding(workspace):
        if not member.metadata.known or not _holds(rule, member, workspace):
            continue  # unmanaged or unreadable metadata is unknown, never a violation
        absent = [key for key in rule.keys if key not in member.metadata.values]
        if absent:
            missing[member.email] = absent
    if not missing:
        return _result(policy, workspace)
    detail = "; ".join(f"{email} lacks {', '.join(keys)}" for email, keys in list(missing.items())[:MAX_NAMED])
    if len(missing) > MAX_NAMED:
        detail += f"; and {len(missing) - MAX_NAMED} more"
    return _result(policy, workspace, detail, missing)


def _grants_access(rule: ForbidRule, level_of: Callable[[str], str]) -> list[str]:
    """The resources of ``rule`` on which a group's permissions reach the forbidden access."""
    if rule.apps:
        reached = ("edit",) if rule.access == "edit" else ("edit", "view", "view-hidden")
        return [app for app in rule.apps if level_of(app) in reached]
    reached = ("configure",) if rule.access == "configure" else ("configure", "use")
    return [name for name in rule.data_sources if level_of(name) in reached]


def _check_forbid(policy: Policy, workspace: Workspace, users: Mapping[str, User]) -> PolicyResult:
    from .access import WorkspaceAccess, app_level, data_source_level, profile_of

    rule = policy.forbid
    assert rule is not None
    exempt = {("group", g) for g in rule.except_groups} | {("role", "admin")}
    level = app_level if rule.apps else data_source_level
    engine = WorkspaceAccess(workspace)
    offenders: dict[str, list[str]] = {}
    for member in _holding(workspace):
        user = users.get(member.email)
        profile = profile_of(workspace, member, archived_in_instance=user is not None and user.archived)
        for source, permissions in engine.sources(profile):
            if (source.kind, source.name) in exempt:
                continue
            reached = _grants_access(rule, lambda name, p=permissions: level(p, name))
            if reached:
                how = f"{rule.access} on {', '.join(reached)} via {source.describe()}"
                offenders.setdefault(member.email, []).append(how)
    if not offenders:
        return _result(policy, workspace)
    shown = list(offenders.items())[:MAX_NAMED]
    detail = "; ".join(f"{email}: {'; '.join(how)}" for email, how in shown)
    if len(offenders) > MAX_NAMED:
        detail += f"; and {len(offenders) - MAX_NAMED} more"
    return _result(policy, workspace, detail, offenders)


_CHECKS: dict[str, Callable[[Policy, Workspace, Mapping[str, User]], PolicyResult]] = {
    "admins": _check_admins,
    "seats": _check_seats,
    "exclusive": _check_exclusive,
    "allow": _check_allow,
    "require_metadata": _check_require_metadata,
    "forbid": _check_forbid,
}


def describe_result(result: PolicyResult) -> str:
    """``policy "sod" (deny) in lab: Payments need two people: bob@x holds a, b``."""
    verdict = "passed" if result.passed else result.detail
    return f'policy "{result.policy}" ({result.level}) in {result.workspace}: {result.message}: {verdict}'
