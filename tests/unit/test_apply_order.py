"""The SPEC 5 apply order, checked step by step on the in-memory backend (pure data, no database).

SPEC 5 orders the operations of one apply "so that no intermediate state breaks a rule": creations and renames
first, promotions before permission gains and additions, demotions after permission losses and removals, archives
and group destruction last. The fake runs the ops in that order (``fakes.SPEC5_ORDER``) and shows its store to an
observer after every step; these tests check the rules on every intermediate state of random plans.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fakes import SPEC5_ORDER, MemoryStore
from hypothesis import event, given
from workspace_strategies import PROFILE, SLUGS, Drift, desired_states, drifts, starting_state

from reconciler import ops
from reconciler.desired import DesiredState
from reconciler.errors import PlanRefused
from reconciler.roles import active_admins, is_builder_level
from reconciler.workflow import apply_plan, make_plan


@dataclass(frozen=True)
class Leaving:
    """Who the plan takes out of which group, by any of the three ways out.

    SPEC 5 puts every loss after every gain: removals from groups, archives and group destruction come after the
    permission gains. So a member on the way out of a group that becomes builder-level in the same plan sits in it,
    for a few steps, as an end-user; and a member demoted because their builder-level group is destroyed is an
    end-user in it until the destruction, the very last step. Rule 1 lapses there by the order itself; nothing
    outside the transaction sees it. Everything else must hold after every step.
    """

    removed: frozenset[tuple[str, str, str]]  # (slug, email, group): groups_removed
    archived: frozenset[tuple[str, str]]  # (slug, email)
    destroyed: frozenset[tuple[str, str]]  # (slug, group)

    @classmethod
    def of(cls, plan: ops.Plan) -> Leaving:
        return cls(
            frozenset(
                (op.workspace, op.email, group)
                for op in plan.ops
                if isinstance(op, ops.UpdateMembership)
                for group in op.groups_removed
            ),
            frozenset((op.workspace, op.email) for op in plan.ops if isinstance(op, ops.ArchiveMembership)),
            frozenset((op.workspace, op.name) for op in plan.ops if isinstance(op, ops.DestroyGroup)),
        )

    def __call__(self, slug: str, email: str, group: str) -> bool:
        return (slug, email, group) in self.removed or (slug, email) in self.archived or (slug, group) in self.destroyed


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
    leaving = Leaving.of(plan)
    broken: list[str] = []

    def observe(step: str, op: ops.Op, store: MemoryStore) -> None:
        for slug, ws in store.workspaces.items():
            if slug in had_admins and not active_admins(ws.memberships.values()):
                broken.append(f"after {step} {op.address}: {slug} has no active admin")
            for member in ws.memberships.values():
                if member.status == "archived" or member.role != "end-user":
                    continue
                implied = [
                    g for g in member.groups if is_builder_level(ws.groups[g]) and not leaving(slug, member.email, g)
                ]
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
