"""Planner, role rules and rails on pure data: random small workspaces planned and applied to the in-memory backend.

No database and no YAML: hypothesis draws desired states directly in the snapshot types. Each case applies
a first desired state to an empty ``MemoryBackend``, lets some members accept their invitation, optionally drifts
the store out of band (a stored role changed, as someone would in ToolJet's UI), then plans and applies a second
desired state through ``reconciler.workflow`` and checks:

- the plan reaches the desired state: planning again against the result is empty (SPEC 4);
- a declared, non-archived membership's stored role is its effective role, never below the declared one
  (SPEC 1, rule 1);
- every change of role of a membership that exists and is not archived before and after has its RoleChange,
  and every RoleChange says the roles that were really stored before and after (SPEC 1, rule 2; SPEC 4);
- a workspace with an active admin never ends with none; a refusal is the last-admin rule's, and changes nothing
  (so the role-rule rail, which apply runs on every plan, never fires for a plan the planner made).

The strategies are in ``workspace_strategies.py``; ``RECONCILER_UNIT_EXAMPLES`` sets the number of cases.
"""

from __future__ import annotations

from dataclasses import dataclass

from fakes import MemoryBackend
from hypothesis import event, given
from workspace_strategies import PROFILE, SLUGS, Drift, apply, desired_states, drifts, starting_state

from reconciler.desired import DesiredState
from reconciler.errors import PlanRefused
from reconciler.ops import Plan
from reconciler.planner import build_plan
from reconciler.roles import active_admins, effective_role, is_builder_level
from reconciler.state import ROLE_RANK, Snapshot
from reconciler.workflow import make_plan

# --- one case ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    desired: DesiredState
    before: Snapshot
    plan: Plan
    after: Snapshot
    refused: PlanRefused | None
    backend: MemoryBackend


def run(first: DesiredState, second: DesiredState, drift: Drift) -> Outcome:
    backend = starting_state(first, drift)
    before = backend.read_snapshot(SLUGS)
    refused = None
    try:
        plan = apply(backend, second)
    except PlanRefused as exc:
        plan, refused = make_plan(backend, second, None).plan, exc
    event("refused" if refused else "applied")
    return Outcome(second, before, plan, backend.read_snapshot(SLUGS), refused, backend)


# --- properties ------------------------------------------------------------------------------------------------


def _reaches_the_desired_state(outcome: Outcome) -> None:
    """After an apply, planning the same desired state against the result is empty (SPEC 4)."""
    if outcome.refused is None:
        again = build_plan(outcome.desired, outcome.after)
        assert again.empty, again.ops


def _stored_role_is_the_effective_role(outcome: Outcome) -> None:
    """A declared membership is stored with its effective role: the declared one, or builder when a group it is
    in (declared, or kept because the file does not manage it) is builder-level; never below the declared one.
    Archived memberships are left out: what their stored role should be is being settled (issue 13)."""
    if outcome.refused is not None:
        return
    for slug, desired in outcome.desired.workspaces.items():
        stored = outcome.after.workspaces[slug]
        for email, declared in desired.workspace.memberships.items():
            member = stored.memberships[email]
            if member.status == "archived":
                continue
            expected, _ = effective_role(declared.role, member.groups, stored.groups)
            assert member.role == expected, (slug, email, declared.role, sorted(member.groups))
            assert ROLE_RANK[member.role] >= ROLE_RANK[declared.role]


def _no_end_user_in_a_builder_level_group(outcome: Outcome) -> None:
    """Rule 1 for every membership that is not archived, declared or not (``prune: none`` keeps the others)."""
    if outcome.refused is not None:
        return
    for slug in outcome.desired.workspaces:
        ws = outcome.after.workspaces[slug]
        for member in ws.memberships.values():
            if member.status != "archived" and any(is_builder_level(ws.groups[g]) for g in member.groups):
                assert member.role != "end-user", (slug, member.email, sorted(member.groups))


def _every_role_change_is_listed_truthfully(outcome: Outcome) -> None:
    """A membership that exists and is not archived before and after, and whose stored role changed, has a
    RoleChange with those roles; every RoleChange names the roles really stored before and after."""
    if outcome.refused is not None:
        return
    listed = {(c.workspace, c.email): c for c in outcome.plan.role_changes}
    assert len(listed) == len(outcome.plan.role_changes), "one RoleChange per membership"
    for slug, ws in outcome.before.workspaces.items():
        after = outcome.after.workspaces.get(slug)
        if after is None:
            continue
        for email, old in ws.memberships.items():
            new = after.memberships[email]
            change = listed.get((slug, email))
            if change is not None:
                assert (change.old, change.new) == (old.role, new.role), (slug, email)
            elif old.role != new.role:
                assert "archived" in (old.status, new.status), f"{slug} {email}: {old.role} -> {new.role} not listed"


def _the_last_active_admin_is_never_lost(outcome: Outcome) -> None:
    """A workspace with an active admin keeps one; a refused plan is refused by that rule and changes nothing."""
    if outcome.refused is not None:
        assert outcome.refused.rule == "last-admin"
        assert outcome.after == outcome.before
        assert outcome.backend.history(1)[0].result == "refused"
        return
    for slug, ws in outcome.before.workspaces.items():
        if active_admins(ws.memberships.values()) and slug in outcome.desired.workspaces:
            assert active_admins(outcome.after.workspaces[slug].memberships.values()), slug


INVARIANTS = (
    _reaches_the_desired_state,
    _stored_role_is_the_effective_role,
    _no_end_user_in_a_builder_level_group,
    _every_role_change_is_listed_truthfully,
    _the_last_active_admin_is_never_lost,
)


@PROFILE
@given(first=desired_states(), second=desired_states(), drift=drifts)
def test_random_plans_keep_every_invariant(first: DesiredState, second: DesiredState, drift: Drift) -> None:
    """Each case is checked against every invariant above (one generated case serves them all)."""
    outcome = run(first, second, drift)
    for invariant in INVARIANTS:
        invariant(outcome)
