"""``policies:`` across the whole configuration (issue 18): ids, references, and the check of the desired state.

Stage: config. Input: the policy entries whose form the models accepted (top level, from every file, and per
workspace) and the workspaces built by ``checks.py``. Output: the core :class:`~reconciler.policies.Policy`
objects, where each is written (resolved only for an error, see yamlsource's fast path), and the results on the
desired state: a ``deny`` policy the configuration itself breaks is a problem located at the policy's ``id``, naming
the rule and the members; ``warn`` results travel in the DesiredState.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..desired import DesiredWorkspace
from ..errors import Location, Problem
from ..policies import (
    AdminBounds,
    AllowRule,
    ForbidRule,
    Policy,
    PolicyResult,
    RequireMetadata,
    SeatBudget,
    evaluate,
    with_effective_roles,
)
from ..state import User
from .policy_models import PolicyEntry

Locate = Callable[..., Location]


@dataclass(frozen=True)
class LoadedPolicy:
    model: PolicyEntry
    locate: Locate  # (path inside the entry, key=True) -> Location
    scope: str = ""  # the workspace slug; empty for a top-level policy


def to_policy(entry: LoadedPolicy) -> Policy:
    m = entry.model
    return Policy(
        id=m.id,
        level=m.level,
        message=m.message,
        scope=entry.scope,
        admins=AdminBounds(m.admins.min, m.admins.max) if m.admins else None,
        seats=SeatBudget(m.seats.builders, m.seats.end_users, m.seats.total) if m.seats else None,
        exclusive=tuple(m.exclusive or ()),
        allow=AllowRule(tuple(m.allow.emails), m.allow.role or "", m.allow.group or "", bool(m.allow.builder_level))
        if m.allow
        else None,
        require_metadata=RequireMetadata(
            tuple(m.require_metadata.keys), m.require_metadata.group or "", m.require_metadata.role or ""
        )
        if m.require_metadata
        else None,
        forbid=ForbidRule(
            m.forbid.access,
            tuple(m.forbid.apps or ()),
            tuple(m.forbid.data_sources or ()),
            tuple(m.forbid.except_groups),
        )
        if m.forbid
        else None,
    )


@dataclass(frozen=True)
class _Declared:
    """What a workspace declares, for the references of its policies."""

    groups: frozenset[str]
    apps: frozenset[str]
    data_sources: frozenset[str]
    prune_none: bool  # groups the file does not declare may exist, unmanaged


def build_policies(
    entries: list[LoadedPolicy], declared: Mapping[str, _Declared] | None, problems: list[Problem]
) -> tuple[tuple[Policy, ...], dict[tuple[str, str], Callable[[], Location]]]:
    """The policies and where each is written, keyed by (scope, id); unique ids and known references checked."""
    policies: list[Policy] = []
    places: dict[tuple[str, str], Callable[[], Location]] = {}
    first: dict[tuple[str, str], LoadedPolicy] = {}
    top_ids = {e.model.id: e for e in entries if not e.scope}
    for entry in entries:
        key = (entry.scope, entry.model.id)
        clash = first.get(key) or (top_ids.get(entry.model.id) if entry.scope else None)
        if clash is not None and clash is not entry:
            problems.append(
                Problem(
                    entry.locate(("id",)),
                    f"policy id {entry.model.id!r} is used twice"
                    + ("" if entry.scope == clash.scope else " (a workspace policy and a top-level one)"),
                    f"first declared at {clash.locate(('id',))}",
                )
            )
            continue
        first[key] = entry
        if declared is not None:
            _check_references(entry, declared, problems)
        policies.append(to_policy(entry))
        places[key] = _place(entry)
    return tuple(policies), places


def _place(entry: LoadedPolicy) -> Callable[[], Location]:
    return lambda: entry.locate(("id",))


def declared_names(model: object, prune: str) -> _Declared:
    return _Declared(
        frozenset(g.name for g in model.groups),  # type: ignore[attr-defined]
        frozenset(a.slug for a in model.apps),  # type: ignore[attr-defined]
        frozenset(d.name for d in model.data_sources),  # type: ignore[attr-defined]
        prune == "none",
    )


def _check_references(entry: LoadedPolicy, declared: Mapping[str, _Declared], problems: list[Problem]) -> None:
    """Groups, apps and data sources a policy names must be declared where it applies (a typo would make the
    rule silently true): in its workspace, or, for a top-level policy, in at least one workspace. A group may also
    be unmanaged in a workspace with ``prune: none``."""
    spaces = [declared[entry.scope]] if entry.scope in declared else list(declared.values())
    if entry.scope and entry.scope not in declared:
        return  # the workspace itself had errors (reported)
    m = entry.model
    groups: list[tuple[tuple, str]] = [(("exclusive", k), g) for k, g in enumerate(m.exclusive or ())]
    if m.allow and m.allow.group:
        groups.append((("allow", "group"), m.allow.group))
    if m.require_metadata and m.require_metadata.group:
        groups.append((("require_metadata", "group"), m.require_metadata.group))
    if m.forbid:
        groups += [(("forbid", "except_groups", k), g) for k, g in enumerate(m.forbid.except_groups)]
    where = f"workspace {entry.scope!r}" if entry.scope else "any workspace"
    if not any(ws.prune_none for ws in spaces):
        for path, name in groups:
            if not any(name in ws.groups for ws in spaces):
                problems.append(Problem(entry.locate(path), f"policy names unknown group {name!r}", f"not in {where}"))
    if m.forbid:
        kind, names = ("apps", m.forbid.apps) if m.forbid.apps else ("data_sources", m.forbid.data_sources)
        for k, name in enumerate(names or ()):
            if not any(name in getattr(ws, kind) for ws in spaces):
                what = "app" if kind == "apps" else "data source"
                problems.append(
                    Problem(
                        entry.locate(("forbid", kind, k)),
                        f"policy names unknown {what} {name!r}",
                        f"not registered in {where}",
                    )
                )


def check_desired(
    workspaces: Mapping[str, DesiredWorkspace],
    policies: tuple[Policy, ...],
    places: Mapping[tuple[str, str], Callable[[], Location]],
    problems: list[Problem],
    users: Mapping[str, User] | None = None,
) -> tuple[PolicyResult, ...]:
    """The policies on the desired state (effective roles, after expiry); a broken ``deny`` is a problem."""
    if not policies:
        return ()
    results = evaluate(policies, (with_effective_roles(ws.workspace) for ws in workspaces.values()), users)
    problems += denial_problems(results, places)
    return results


def denial_problems(
    results: tuple[PolicyResult, ...],
    places: Mapping[tuple[str, str], Callable[[], Location]],
    *,
    state: str = "the configuration",
) -> list[Problem]:
    """One located problem per broken ``deny`` result: ``policy "sod" (deny) in lab: <message>: <detail>``."""
    problems = []
    for result in results:
        if result.passed or result.level != "deny":
            continue
        # the policy is the workspace's own, or a top-level one (ids never clash between the two)
        place = places.get((result.workspace, result.policy)) or places.get(("", result.policy))
        location = place() if place is not None else Location("policies", path=result.policy)
        problems.append(
            Problem(
                location,
                f'policy "{result.policy}" (deny) in workspace {result.workspace}: {result.message}: {result.detail}',
                f"{state} breaks this policy; change it, or the policy",
            )
        )
    return problems
