"""Access hygiene (issue 18): invitations nobody accepts, and members who no longer sign in.

Stage: core (pure). A backend says what it records (:class:`Activity`, ``Backend.read_activity``); these functions
turn it into findings for ``report`` and ``drift`` and into the archive ops of ``invites prune``.

Decisions (docs/governance.md): an invitation is pending since it was last issued (an invitation link issued
again, an unarchive, restart the count); only memberships still ``invited`` count. Sign-ins are instance-wide (a
person signs in to the instance, not to one workspace), and only active memberships are checked. The built-in
backend keeps no sign-in record; ToolJet keeps ``user_sessions.last_logged_in`` only while the session lives (its
scheduler deletes expired sessions hourly), so a member without a live session has no sign-in on record and is
reported as such, never with a made-up date.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from . import ops
from .expiry import describe_time
from .ops import HygieneFinding
from .state import Snapshot

FindingKind = Literal["stale-invitation", "not-signed-in", "no-sign-in-on-record"]
DEFAULT_STALE_INVITES = timedelta(days=30)
DEFAULT_NOT_SIGNED_IN = timedelta(days=90)


@dataclass(frozen=True)
class Activity:
    """What a backend records about use, for the workspaces read: when each pending invitation was issued, and
    each user's latest sign-in (``None``: the backend keeps no sign-in record at all)."""

    invited_since: dict[tuple[str, str], datetime] = field(default_factory=dict)  # (slug, email) -> issued at
    last_sign_in: dict[str, datetime] | None = None  # email -> latest sign-in on record
    sign_in_source: str = ""  # where the sign-ins come from, for the report (``user_sessions.last_logged_in``)


def findings(
    snapshot: Snapshot,
    activity: Activity,
    workspaces: Collection[str],
    *,
    now: datetime,
    stale_invites: timedelta | None = DEFAULT_STALE_INVITES,
    not_signed_in: timedelta | None = DEFAULT_NOT_SIGNED_IN,
) -> tuple[HygieneFinding, ...]:
    """Stale invitations (pending longer than ``stale_invites``) and active members who have not signed in for
    ``not_signed_in`` (when the backend records sign-ins); ``None`` turns a check off."""
    found: list[HygieneFinding] = []
    for slug in sorted(workspaces):
        ws = snapshot.workspaces.get(slug)
        if ws is None:
            continue
        for email in sorted(ws.memberships):
            member = ws.memberships[email]
            if member.status == "invited" and stale_invites is not None:
                since = activity.invited_since.get((slug, email))
                if since is not None and now - since > stale_invites:
                    found.append(
                        HygieneFinding(slug, email, "stale-invitation", describe_time(since), _days(now - since))
                    )
            elif member.status == "active" and not_signed_in is not None and activity.last_sign_in is not None:
                last = activity.last_sign_in.get(email)
                if last is None:
                    found.append(HygieneFinding(slug, email, "no-sign-in-on-record", "", 0))
                elif now - last > not_signed_in:
                    found.append(HygieneFinding(slug, email, "not-signed-in", describe_time(last), _days(now - last)))
    return tuple(found)


def _days(age: timedelta) -> int:
    return age.days


def describe_finding(finding: HygieneFinding) -> str:
    """``invitation pending since 2027-01-02 10:00 UTC (95 days)`` and the like."""
    if finding.kind == "stale-invitation":
        return f"invitation pending since {finding.since} ({finding.days} days)"
    if finding.kind == "not-signed-in":
        return f"last signed in {finding.since} ({finding.days} days ago)"
    return "no sign-in on record (no live session)"


PRUNE_REASON = "invitation pending since {since} ({days} days), not in configuration; groups and metadata kept"


def prune_ops(stale: Iterable[HygieneFinding], managed: Collection[tuple[str, str]]) -> list[ops.ArchiveMembership]:
    """``invites prune``: archive each stale invitation the configuration does not declare (``managed``:
    (slug, email) it declares, which a plan would invite again)."""
    return [
        ops.ArchiveMembership(
            workspace=f.workspace, email=f.email, reason=PRUNE_REASON.format(since=f.since, days=f.days)
        )
        for f in stale
        if f.kind == "stale-invitation" and (f.workspace, f.email) not in managed
    ]
