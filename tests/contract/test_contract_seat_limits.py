"""Declared seat limits on every backend (issue 16, H4): ``limits:`` at the top level (the whole instance) and per
workspace, counted as ToolJet counts seats and checked on the state the plan leads to.

A licensed ToolJet over its limit answers HTTP 451 with these messages when an invitation is accepted or a role
changes (``LicenseUserService.validateUser``, server/src/modules/licensing/services/user.service.ts; the counts
are ``LicenseCountsService``'s, server/src/modules/licensing/services/count.service.ts). Instance-wide figures
start from what the backend's seed already holds (the ToolJet fixtures have other workspaces and users).
"""

from __future__ import annotations

from typing import Any

import pytest
from contract_support import Scenario, config, email, person

from reconciler.access import Seats, seat_counts
from reconciler.errors import ConfigError

TOTAL = "You have reached your limit for number of users."
BUILDERS = "You have reached your limit for number of builders."
END_USERS = "You have reached your limit for number of end users."
TEAM = [person("alice", "admin"), person("bob", "builder"), person("carol", "end-user")]  # 3 seats, 2 builders


def instance_seats(scenario: Scenario) -> Seats:
    """What the whole instance holds now, counted by the one counter (for the top-level limits' baselines)."""
    backend = scenario.backend
    return seat_counts(backend.read_without_metadata(backend.list_workspaces())).instance


def with_limits(document: dict[str, Any], scope: str, **limits: int) -> dict[str, Any]:
    """``limits:`` in the workspace (scope ``workspace``) or at the top level (``top``)."""
    if scope == "workspace":
        document["workspaces"][0]["limits"] = limits
    else:
        document["limits"] = limits
    return document


def limit_path(scope: str, kind: str) -> str:
    return f"workspaces[0].limits.{kind}" if scope == "workspace" else f"limits.{kind}"


SCOPES = ["workspace", "top"]


@pytest.mark.parametrize("scope", SCOPES)
def test_over_the_total_limit_the_plan_is_refused_with_tooljets_message(scenario: Scenario, scope: str) -> None:
    base = 0 if scope == "workspace" else instance_seats(scenario).total
    document = with_limits(config(TEAM), scope, total=base + 2)
    scenario.adopt(document)  # on ToolJet, the workspace is created in ToolJet's way first
    before = scenario.snapshot()

    with pytest.raises(ConfigError) as caught:
        scenario.plan(document)

    (problem,) = caught.value.problems
    assert problem.location.path == limit_path(scope, "total") and problem.location.line is not None
    assert problem.message.startswith(TOTAL + " (ToolJet's HTTP 451): ")
    where = " in workspace 'lab'" if scope == "workspace" else ""
    assert f"{base + 3} users{where} once applied ({base} now), limit {base + 2}" in problem.message
    assert problem.message.endswith(f"added: {email('alice')}, {email('bob')}, {email('carol')}")
    assert scenario.snapshot() == before


@pytest.mark.parametrize("scope", SCOPES)
def test_exactly_at_the_limit_is_allowed_and_a_fresh_plan_is_empty(scenario: Scenario, scope: str) -> None:
    seats = Seats() if scope == "workspace" else instance_seats(scenario)
    builders = seats.builders + 2
    document = with_limits(config(TEAM), scope, total=seats.total + 3, builders=builders)

    plan, _ = scenario.apply(document)  # (asserts that a fresh plan prints No changes.)

    assert plan.seat_warnings == ()
    assert {m.email for m in scenario.snapshot().workspaces["lab"].memberships.values()} == {
        email("alice"),
        email("bob"),
        email("carol"),
    }


@pytest.mark.parametrize("scope", SCOPES)
def test_the_builders_limit_counts_a_promotion(scenario: Scenario, scope: str) -> None:
    scenario.apply(config(TEAM))
    builders = 2 if scope == "workspace" else instance_seats(scenario).builders
    promoted = config([*TEAM[:2], person("carol", "builder")])

    with pytest.raises(ConfigError) as caught:
        scenario.plan(with_limits(promoted, scope, builders=builders))

    (problem,) = caught.value.problems
    assert problem.location.path == limit_path(scope, "builders")
    assert problem.message.startswith(BUILDERS)
    assert f"{builders + 1} builders" in problem.message and f"({builders} now), limit {builders}" in problem.message
    assert problem.message.endswith(f"added: {email('carol')}")
    assert scenario.member("carol").role == "end-user"


@pytest.mark.parametrize("scope", SCOPES)
def test_the_end_user_limit(scenario: Scenario, scope: str) -> None:
    end_users = 0 if scope == "workspace" else instance_seats(scenario).end_users
    more = config([*TEAM, person("dana", "end-user")])

    with pytest.raises(ConfigError) as caught:
        scenario.plan(with_limits(more, scope, end_users=end_users + 1))

    (problem,) = caught.value.problems
    assert problem.location.path == limit_path(scope, "end_users")
    assert problem.message.startswith(END_USERS)
    assert f"{end_users + 2} end-users" in problem.message
    scenario.apply(with_limits(config(TEAM), scope, end_users=end_users + 1))  # one end-user: at the limit


def test_a_plan_that_reduces_an_exceeded_count_is_allowed_with_a_warning(scenario: Scenario) -> None:
    scenario.apply(config([*TEAM, person("dana", "end-user")]))
    fewer = config([*TEAM, person("dana", "end-user", status="archived")])

    plan, _ = scenario.apply(with_limits(fewer, "workspace", total=2))

    (warning,) = plan.seat_warnings
    assert warning.startswith("seat limit exceeded: 3 users in workspace 'lab' once applied (4 now), limit 2")
    assert "allowed because this plan reduces the count" in warning and TOTAL in warning
    assert scenario.member("dana").status == "archived"


def test_a_plan_that_keeps_an_exceeded_count_is_allowed_with_a_warning(scenario: Scenario) -> None:
    scenario.apply(config(TEAM))
    renamed = config([*TEAM[:2], person("carol", "end-user") | {"first_name": "Caroline"}])

    plan = scenario.plan(with_limits(renamed, "workspace", total=2)).plan

    assert not plan.empty
    (warning,) = plan.seat_warnings
    assert "3 users in workspace 'lab' once applied (3 now), limit 2" in warning
    assert "allowed because this plan adds nobody to the count" in warning


def test_a_replacement_while_over_the_limit_is_refused(scenario: Scenario) -> None:
    """ToolJet's validateUser (licensing/services/user.service.ts) answers 451 for every user it checks while the
    count is over its limit: swapping one member for another keeps the count, but the newcomer could never accept."""
    scenario.apply(config(TEAM))
    swapped = with_limits(config([*TEAM[:2], person("dana", "end-user")]), "workspace", total=2)

    with pytest.raises(ConfigError) as caught:
        scenario.plan(swapped)

    (problem,) = caught.value.problems
    assert problem.message.startswith(TOTAL + " (ToolJet's HTTP 451): ")
    assert "3 users in workspace 'lab' once applied (3 now), limit 2" in problem.message
    assert problem.message.endswith(f"added: {email('dana')}")
