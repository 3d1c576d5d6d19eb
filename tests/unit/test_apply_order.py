"""The SPEC 5 apply order, checked step by step on the in-memory backend (pure data, no database).

SPEC 5 orders the operations of one apply "so that no intermediate state breaks a rule": creations and renames
first, promotions before permission gains and additions, demotions after permission losses and removals, archives
and group destruction last. The fake runs the ops in that order (``fakes.SPEC5_ORDER``) and shows its store to an
observer after every step; these tests check the rules on every intermediate state of random plans.
"""

from __future__ import annotations

from dataclasses import replace

from fakes import SPEC5_ORDER, MemoryStore
from hypothesis import event, given
from workspace_strategies import PROFILE, SLUGS, Drift, desired_states, drifts, starting_state

from reconciler import ops
from reconciler.access import active_admins, is_builder_level
from reconciler.desired import DesiredState
from reconciler.errors import PlanRefused
from reconciler.workflow import apply_plan, make_plan


def _known_departures(plan: ops.Plan) -> set[tuple[str, str]]:
    """(slug, group) and (slug, email) pairs for which SPEC 5's order itself lets rule 1 lapse mid-apply:

    - a group destroyed by the plan keeps its members until the last step, after the demotions: a member demoted
      because the group goes away is, between those steps, an end-user in a builder-level group;
    - a member archived by ``prune`` keeps its groups and its stored role; a group that becomes builder-level in
      the same plan holds it, between the permission gain and the archive, as an end-user.
    """
    departures = set()
    for op in plan.ops:
        if isinstance(op, ops.DestroyGroup):
            departures.add((op.workspace, op.name))
        elif isinstance(op, ops.ArchiveMembership):
            departures.add((op.workspace, op.email))
    return departures


def test_every_op_class_has_its_place_in_the_order() -> None:
    placed = {cls for cls, _step in SPEC5_ORDER}
    assert placed == set(ops.OP_TYPES.values())


@PROFILE
@given(first=desired_states(), second=desired_states(), drift=drifts)
def test_no_intermediate_state_breaks_rule_1_or_loses_the_last_admin(
    first: DesiredState, second: DesiredState, drift: Drift
) -> None:
    # From a consistent state (no stored role edited out of band): what went wrong before the apply is not its fault.
    backend = starting_state(first, replace(drift, edited=None))
    before = backend.read_snapshot(SLUGS)
    had_admins = {slug for slug, ws in before.workspaces.items() if active_admins(ws.memberships.values())}
    plan = make_plan(backend, second, None).plan
    exempt = _known_departures(plan)
    broken: list[str] = []

    def observe(step: str, op: ops.Op, store: MemoryStore) -> None:
        for slug, ws in store.workspaces.items():
            if slug in had_admins and not active_admins(ws.memberships.values()):
                broken.append(f"after {step} {op.address}: {slug} has no active admin")
            for member in ws.memberships.values():
                if member.status == "archived" or member.role != "end-user":
                    continue
                implied = [g for g in member.groups if is_builder_level(ws.groups[g]) and (slug, g) not in exempt]
                if (slug, member.email) in exempt:
                    continue
                if implied:
                    broken.append(f"after {step} {op.address}: end-user {member.email} in {implied}")

    backend.observer = observe
    try:
        apply_plan(backend, plan, None, actor="unit", command="apply", allow_mass_change=True)
    except PlanRefused:
        event("refused")
        return
    event("applied")
    assert broken == []
