"""Expiring access (issue 18): when a membership or a group membership ends, and the clock it is compared with.

Stage: core (pure, apart from :func:`current_time`, which reads the injectable clock). The config layer parses
``expires:`` values with :func:`parse_expires` and marks what has expired (an expired membership is declared
archived, an expired group membership is left out); the planner says why (``expired 2027-03-31``); the workflow
lists what expires soon (:func:`expiring_within`).

Decisions (docs/governance.md):

* ``expires: 2027-03-31`` (a date) ends the access at the start of that day, 00:00 UTC: on 2027-03-31 it has
  expired. A timestamp must carry its zone (``2027-03-31T17:00:00+02:00`` or ``...Z``); one without a zone is an
  error, since the time it names would depend on the machine that reads it.
* Something has expired when the clock is at or past its expiry.
* The clock is the machine's, in UTC, unless ``RECONCILER_NOW`` names another moment (a date or a timestamp with
  zone, read like ``expires:``): tests and rehearsals ("what will the plan of 1 April look like?") set it.
* Every time shown is UTC, with the zone: a date as ``2027-03-31`` (midnight UTC), anything else as
  ``2027-03-31 15:00 UTC``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from . import ops
from .ops import ExpiringAccess

if TYPE_CHECKING:
    from .desired import DesiredState

NOW_VARIABLE = "RECONCILER_NOW"
DEFAULT_EXPIRING_WINDOW = timedelta(days=7)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ExpiryFormatError(ValueError):
    """An ``expires:`` (or ``RECONCILER_NOW``) value that is not a date or a timestamp with zone."""


@dataclass(frozen=True, order=True)
class Expiry:
    """The moment access ends (aware, UTC); ``date_only`` when it was written as a date."""

    at: datetime
    date_only: bool = field(default=False, compare=False)

    def describe(self) -> str:
        """``2027-03-31`` for a date, ``2027-03-31 15:00 UTC`` (seconds when there are any) otherwise."""
        return describe_time(self.at, date_only=self.date_only)

    def expired(self, now: datetime) -> bool:
        return now >= self.at


def describe_time(moment: datetime, *, date_only: bool = False) -> str:
    """A moment as every output shows it: in UTC, with the zone."""
    moment = moment.astimezone(UTC)
    if date_only and moment.time() == time(0):
        return moment.strftime("%Y-%m-%d")
    pattern = "%Y-%m-%d %H:%M:%S UTC" if moment.second else "%Y-%m-%d %H:%M UTC"
    return moment.strftime(pattern)


def parse_expires(value: Any) -> Expiry:
    """A YAML or CSV ``expires`` value: a date (YAML gives ``datetime.date``), a timestamp with zone (YAML gives an
    aware ``datetime``), or the same as text. ExpiryFormatError for anything else."""
    if isinstance(value, datetime):
        return _aware(value, shown=value.isoformat())
    if isinstance(value, date):
        return Expiry(datetime.combine(value, time(0), tzinfo=UTC), date_only=True)
    if not isinstance(value, str):
        raise ExpiryFormatError(f"expected a date (2027-03-31) or a timestamp with zone, got {_kind(value)}")
    text = value.strip()
    if _DATE_RE.match(text):
        try:
            return Expiry(datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC), date_only=True)
        except ValueError:
            raise ExpiryFormatError(f"{text!r} is not a date (no such day)") from None
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        raise ExpiryFormatError(
            f"{text[:60]!r} is not a date (2027-03-31) or a timestamp with zone (2027-03-31T17:00:00+02:00)"
        ) from None
    return _aware(moment, shown=text)


def _aware(moment: datetime, *, shown: str) -> Expiry:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ExpiryFormatError(
            f"the timestamp {shown[:60]!r} has no time zone: write it with one, e.g. {shown[:19]}Z (UTC) or "
            f"{shown[:19]}+02:00, or write a date"
        )
    return Expiry(moment.astimezone(UTC))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return {dict: "a mapping", list: "a list", type(None): "nothing (null)"}.get(type(value), type(value).__name__)


def current_time(environ: Mapping[str, str] | None = None) -> datetime:
    """Now, in UTC: the machine's clock, or ``RECONCILER_NOW`` when it is set (the injectable clock)."""
    env = os.environ if environ is None else environ
    text = env.get(NOW_VARIABLE, "").strip()
    if not text:
        return datetime.now(UTC)
    try:
        return parse_expires(text).at
    except ExpiryFormatError as exc:
        from .errors import ReconcilerError

        raise ReconcilerError(f"{NOW_VARIABLE}: {exc}", hint="unset it to use the machine's clock") from None


@dataclass(frozen=True)
class MemberExpiries:
    """What the configuration says about when a member's access ends, and what of it has ended (at load time)."""

    membership: Expiry | None = None
    membership_expired: bool = False
    groups: dict[str, Expiry] = field(default_factory=dict, hash=False)  # group name -> when it ends
    groups_expired: frozenset[str] = frozenset()

    def expired_groups(self) -> dict[str, Expiry]:
        return {name: self.groups[name] for name in sorted(self.groups_expired)}


def expired_reason(expiry: Expiry) -> str:
    """Why the plan removes access: ``expired 2027-03-31``."""
    return f"expired {expiry.describe()}"


def expiring_within(
    desired: DesiredState, workspaces: Collection[str], now: datetime, window: timedelta
) -> tuple[ExpiringAccess, ...]:
    """The memberships and group memberships of ``workspaces`` that have not expired yet and end within ``window``
    of ``now``, soonest first. Archived memberships are left out (they have no access to lose), and so are the
    group memberships of a membership that ends first."""
    horizon = now + window
    found: list[tuple[Expiry, ExpiringAccess]] = []
    for slug in sorted(workspaces):
        ws = desired.workspaces.get(slug)
        if ws is None:
            continue
        for email, expiries in sorted(ws.expiries.items()):
            member = ws.workspace.memberships.get(email)
            if member is None or member.status == "archived":
                continue
            ends = [("", expiries.membership)] if expiries.membership is not None else []
            ends += [(name, e) for name, e in expiries.groups.items() if name not in expiries.groups_expired]
            for group, expiry in ends:
                if not (now < expiry.at <= horizon):
                    continue
                if group and expiries.membership is not None and expiries.membership.at <= expiry.at:
                    continue
                at = expiry.at.astimezone(UTC).isoformat().replace("+00:00", "Z")
                found.append((expiry, ExpiringAccess(slug, email, group, expiry.describe(), at)))
    found.sort(key=lambda pair: (pair[0].at, pair[1].workspace, pair[1].email, pair[1].group))
    return tuple(access for _, access in found)


def describe_window(window: timedelta) -> str:
    """``7 days``, ``36 hours``, ``90 minutes``: the window as the plan names it."""
    seconds = int(window.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def not_expiries(plan: ops.Plan) -> list[str]:
    """The addresses of the changes of ``plan`` that no expiry causes (``apply --only-expiries`` refuses those):
    an expiry archives a membership or removes group memberships, and may demote the member whose builder-level
    group it removed; nothing else."""
    found = []
    for op in plan.ops:
        if isinstance(op, ops.ArchiveMembership) and op.reason.startswith("expired "):
            continue
        if isinstance(op, ops.UpdateMembership) and _only_expired_groups(op):
            continue
        found.append(op.address)
    return found


def _only_expired_groups(op: ops.UpdateMembership) -> bool:
    expired = {name for name, _ in op.expired_groups}
    demotion = op.role is None or op.role.cause.startswith("no longer implied")
    return (
        bool(expired)
        and set(op.groups_removed) <= expired
        and not op.groups_added
        and not op.metadata_changes
        and demotion
    )
