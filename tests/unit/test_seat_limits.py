"""Seat limits (issue 16) in the core: a saved plan carries its limits for the check under the apply lock, and the
counting is ToolJet's (``access.py``), quirks included.

ToolJet: LicenseUserService.validateUser (server/src/modules/licensing/services/user.service.ts) refuses when a
count is greater than its limit; LicenseCountsService.fetchTotalViewerEditorCount
(server/src/modules/licensing/services/count.service.ts) returns no viewers while there is no editor.
"""

from __future__ import annotations

from helpers import KEYRING

from reconciler.limits import SeatLimits, applicable, check, usage
from reconciler.ops import Plan
from reconciler.render.jsonplan import dump_saved_plan, load_saved_plan, plan_to_json_dict
from reconciler.state import Membership, Snapshot, User, Workspace


def _state(*members: tuple[str, str], super_admin: str = "") -> Snapshot:
    memberships = {email: Membership(email, role, "active") for email, role in members}  # type: ignore[arg-type]
    users = {email: User(email, email.split("@")[0]) for email, _ in members}
    if super_admin:
        users[super_admin] = User(super_admin, "Root", super_admin=True)
    return Snapshot({"lab": Workspace("lab", "Lab", memberships=memberships)}, users)


def test_a_saved_plan_keeps_its_limits_and_warnings() -> None:
    limits = (SeatLimits("", total=10, builders=2), SeatLimits("lab", end_users=5))
    plan = Plan(ops=(), workspaces=("lab",), plan_id="p1", seat_limits=limits, seat_warnings=("seat limit exceeded",))

    loaded = load_saved_plan(dump_saved_plan(plan, KEYRING), KEYRING)

    assert (loaded.seat_limits, loaded.seat_warnings) == (limits, ("seat limit exceeded",))
    assert plan_to_json_dict(plan)["seat_limits"][0] == {"scope": "", "total": 10, "builders": 2, "end_users": None}


def test_exactly_at_a_limit_passes_and_one_more_is_refused_naming_who_is_added() -> None:
    before = _state(("a@x", "admin"), ("b@x", "end-user"))
    after = _state(("a@x", "admin"), ("b@x", "end-user"), ("c@x", "builder"))
    (limit,) = applicable([SeatLimits("lab", total=3, builders=1), SeatLimits("other", total=1)], ["lab"])

    (found,) = check([limit], before, after)

    assert (found.kind, found.limit, found.before, found.after, found.added) == ("builders", 1, 1, 2, ("c@x",))
    assert found.refused
    assert found.refusal().startswith("You have reached your limit for number of builders. (ToolJet's HTTP 451): ")


def test_no_end_users_are_counted_while_there_is_no_builder_as_tooljet_counts() -> None:
    state = _state(("a@x", "end-user"), ("b@x", "end-user"))

    assert check([SeatLimits("lab", end_users=1)], state, state) == ()
    assert usage(SeatLimits("lab", end_users=1), state) == "Seats in lab: 0 of 1 end-users"


def test_super_admins_count_in_the_instance_total_only() -> None:
    state = _state(("a@x", "admin"), super_admin="root@x")

    assert usage(SeatLimits("", total=1), state) == "Seats: 2 of 1 total (over: total)"
    assert usage(SeatLimits("lab", total=1), state) == "Seats in lab: 1 of 1 total"
