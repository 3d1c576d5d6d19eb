"""Declared seat limits (issue 16, H4): ``limits:`` at the top level (the whole instance) and per workspace.

Stage: core (pure). A licensed ToolJet over its seat limit answers HTTP 451 when an invitation is accepted or a
role changes (``LicenseUserService.validateUser``, ``server/src/modules/licensing/services/user.service.ts``), so
an invitation this tool writes past the limit could never be redeemed. The configuration declares the limits of
its licence; plan refuses a plan whose *outcome* (``outcome.py``, the state the plan leads to, with the rest of
the instance as it is) would exceed one, with ToolJet's 451 wording, and apply checks again under its lock.

Seats are counted by the one counter, ``access.py`` (ToolJet's ``count.service.ts`` rules): top-level limits
against the instance-wide figures (super admins included), a workspace's limits against that workspace's
figures (ToolJet's per-organization count). A limit is exceeded when the count is *greater* than it, as in
``validateUser``: exactly at the limit is allowed. A plan that leaves a count over its limit but gives nobody a
seat of that kind (it keeps or reduces the count) is allowed, with a warning; one that adds anyone is refused,
since ToolJet answers 451 to each person it checks while the count is over.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .state import Snapshot

if TYPE_CHECKING:
    from .access import SeatHolders
    from .ops import Plan

LimitKind = Literal["total", "builders", "end_users"]
KINDS: tuple[LimitKind, ...] = ("total", "builders", "end_users")

# ToolJet's 451 messages, word for word (LicenseUserService.validateUser, licensing/services/user.service.ts).
TOOLJET_MESSAGES: dict[LimitKind, str] = {
    "total": "You have reached your limit for number of users.",
    "builders": "You have reached your limit for number of builders.",
    "end_users": "You have reached your limit for number of end users.",
}
_NOUNS: dict[LimitKind, tuple[str, str]] = {
    "total": ("user", "users"),
    "builders": ("builder", "builders"),
    "end_users": ("end-user", "end-users"),
}
_USAGE_NOUNS: dict[LimitKind, str] = {"total": "total", "builders": "builders", "end_users": "end-users"}
MAX_NAMED = 10


@dataclass(frozen=True)
class SeatLimits:
    """One ``limits:`` block: ``scope`` is a workspace slug, or empty for the top level (the whole instance)."""

    scope: str = ""
    total: int | None = None
    builders: int | None = None
    end_users: int | None = None

    def declared(self) -> list[tuple[LimitKind, int]]:
        return [(kind, value) for kind in KINDS if (value := getattr(self, kind)) is not None]

    @property
    def where(self) -> str:
        """``top-level limits`` / ``limits of workspace 'lab'``: where it is declared, without a file."""
        return "top-level limits (instance-wide)" if not self.scope else f"limits of workspace {self.scope!r}"


def applicable(limits: Iterable[SeatLimits], workspaces: Iterable[str]) -> tuple[SeatLimits, ...]:
    """The limits a plan of ``workspaces`` must keep: the top-level ones and those of its workspaces."""
    chosen = set(workspaces)
    return tuple(limit for limit in limits if limit.declared() and (not limit.scope or limit.scope in chosen))


def instance_wide(limits: Iterable[SeatLimits]) -> bool:
    """Whether checking ``limits`` needs the whole instance (every workspace, not only a plan's)."""
    return any(not limit.scope for limit in limits)


@dataclass(frozen=True)
class LimitCheck:
    """A declared limit that the state a plan leads to exceeds (``after > limit``)."""

    scope: str
    kind: LimitKind
    limit: int
    before: int
    after: int
    added: tuple[str, ...] = ()  # who takes a seat of this kind once the plan is applied and did not before

    @property
    def refused(self) -> bool:
        """Over the limit and the plan gives someone a seat of this kind (ToolJet's ``validateUser`` answers 451
        for every user it checks while the count is over, so that person could never accept or use it); a plan
        that only keeps or reduces an over-limit count is allowed, with a warning."""
        return bool(self.added) or self.after > self.before

    @property
    def where(self) -> str:
        return SeatLimits(self.scope).where

    @property
    def tooljet_message(self) -> str:
        return TOOLJET_MESSAGES[self.kind]

    def figures(self) -> str:
        """``11 users once applied (10 now), limit 10 (top-level limits (instance-wide)); added: a@x, b@x``."""
        one, many = _NOUNS[self.kind]
        after = f"{self.after} {one if self.after == 1 else many}"
        scope = "" if not self.scope else f" in workspace {self.scope!r}"
        text = f"{after}{scope} once applied ({self.before} now), limit {self.limit} ({self.where}: {self.kind})"
        if self.added:
            shown = list(self.added[:MAX_NAMED])
            rest = len(self.added) - len(shown)
            text += "; added: " + ", ".join(shown) + (f" and {rest} more" if rest > 0 else "")
        return text

    def refusal(self) -> str:
        """ToolJet's 451 wording, then the figures."""
        return f"{self.tooljet_message} (ToolJet's HTTP 451): {self.figures()}"

    def warning(self) -> str:
        how = "reduces" if self.after < self.before else "adds nobody to"
        return (
            f"seat limit exceeded: {self.figures()}; allowed because this plan {how} the count. ToolJet answers "
            f'"{self.tooljet_message}" (HTTP 451) to invitations and role changes until it is within the limit'
        )


def holders_for(limit: SeatLimits, state: Snapshot, *, whole_instance: bool = True) -> SeatHolders | None:
    """The seat holders a limit is checked against in ``state`` (None: its workspace is not in ``state``)."""
    from .access import instance_seat_holders, workspace_seat_holders  # (access imports the desired state)

    if not limit.scope:
        return instance_seat_holders(state, whole_instance=whole_instance)
    workspace = state.workspaces.get(limit.scope)
    return None if workspace is None else workspace_seat_holders(state, workspace)


def check(limits: Iterable[SeatLimits], before: Snapshot, after: Snapshot) -> tuple[LimitCheck, ...]:
    """Every declared limit that ``after`` (the state a plan leads to) exceeds, with the figures of ``before``
    (the database as it is). Both must hold the whole instance when a limit is top-level."""
    found = []
    for limit in limits:
        now, then = holders_for(limit, before), holders_for(limit, after)
        if then is None:
            continue
        for kind, value in limit.declared():
            held_after = getattr(then, kind)
            if len(held_after) <= value:
                continue
            held_before = getattr(now, kind) if now is not None else frozenset()
            found.append(
                LimitCheck(
                    limit.scope, kind, value, len(held_before), len(held_after), tuple(sorted(held_after - held_before))
                )
            )
    return tuple(found)


def leads_to(snapshot: Snapshot, plan: Plan, rest: Snapshot | None = None) -> Snapshot:
    """The instance once ``plan`` is applied: its workspaces as ``outcome`` builds them from ``snapshot``, the
    workspaces of ``rest`` (the rest of the instance, read for a top-level limit) as they are."""
    from .outcome import outcome

    spaces = dict(rest.workspaces) if rest is not None else {}
    spaces.update(snapshot.workspaces)
    spaces.update(outcome(snapshot, plan))
    return Snapshot(spaces, {**(rest.users if rest is not None else {}), **snapshot.users})


def as_instance(snapshot: Snapshot, rest: Snapshot | None) -> Snapshot:
    """``snapshot`` with the workspaces of ``rest`` beside its own: the instance as it is."""
    if rest is None:
        return snapshot
    return Snapshot({**rest.workspaces, **snapshot.workspaces}, {**rest.users, **snapshot.users})


def plan_checks(plan: Plan, snapshot: Snapshot, rest: Snapshot | None) -> tuple[LimitCheck, ...]:
    """The plan's limits on the state it leads to from ``snapshot`` (and ``rest``, the other workspaces)."""
    return check(plan.seat_limits, as_instance(snapshot, rest), leads_to(snapshot, plan, rest))


def usage(limit: SeatLimits, state: Snapshot, *, whole_instance: bool = True) -> str | None:
    """``Seats: 8 of 10 total, 3 of 3 builders, 5 of 7 end-users`` (the kinds ``limit`` declares), with the
    scope for a workspace's limits; None when its workspace is not in ``state``."""
    holders = holders_for(limit, state, whole_instance=whole_instance)
    if holders is None:
        return None
    parts = [f"{len(getattr(holders, kind))} of {value} {_USAGE_NOUNS[kind]}" for kind, value in limit.declared()]
    over = [kind for kind, value in limit.declared() if len(getattr(holders, kind)) > value]
    head = "Seats" if not limit.scope else f"Seats in {limit.scope}"
    tail = f" (over: {', '.join(_USAGE_NOUNS[k] for k in over)})" if over else ""
    return f"{head}: {', '.join(parts)}{tail}"


def usage_json(limit: SeatLimits, state: Snapshot, *, whole_instance: bool = True) -> dict | None:
    holders = holders_for(limit, state, whole_instance=whole_instance)
    if holders is None:
        return None
    return {
        "scope": limit.scope or "instance",
        **{kind: {"used": len(getattr(holders, kind)), "limit": value} for kind, value in limit.declared()},
    }


def describe_all(checks: Sequence[LimitCheck]) -> list[str]:
    return [c.refusal() if c.refused else c.warning() for c in checks]
