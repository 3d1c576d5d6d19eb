"""The SPEC 5 apply order: the module itself (``reconciler.apply_order``), and every intermediate state of
random plans applied step by step on the in-memory backend (pure data, no database).

SPEC 5 orders the operations of one apply "so that no intermediate state breaks a rule": creations and renames
first, promotions before permission gains and additions, demotions after permission losses and removals, archives
and group destruction last. Every executor follows ``apply_order``; the fake runs its ``(step, op)`` pairs one at a
time and shows its store to an observer after every step, so the rules can be checked between any two steps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from fakes import MemoryStore
from hypothesis import event, given
from workspace_strategies import PROFILE, SLUGS, Drift, desired_states, drifts, starting_state

from reconciler import ops
from reconciler.apply_order import ORDER, STEPS, ordered_steps, step_batches
from reconciler.desired import DesiredState
from reconciler.errors import PlanRefused
from reconciler.roles import active_admins, is_builder_level
from reconciler.state import GroupPermissions, Metadata
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
    placed = {cls for _step, cls, _takes in ORDER}
    assert placed == set(ops.OP_TYPES.values())


# --- the module: which step each op takes part in, and in which order -----------------------------------------

FULL = GroupPermissions(flags=frozenset({"apps.create"}))
SPEC5_STEPS = [  # SPEC 5, section by section
    "create_workspace", "update_workspace", "unarchive_workspace", "create_app", "update_app", "create_data_source",
    "rename_group", "create_group",  # creations (workspace, registry, groups, renames)
    "promote",  # promotions
    "set_permissions", "create_user", "update_user", "create_membership", "unarchive_membership", "join_groups",
    "write_metadata",  # permission gains and membership additions and unarchives, metadata
    "leave_groups", "transfer_apps", "demote", "archive_membership", "archive_workspace",  # losses, removals,
    # demotions (an owner's apps first, as ToolJet's role change), archives
    "destroy_group",  # group destruction
]  # fmt: skip


def member(email: str, **changes: object) -> ops.UpdateMembership:
    return ops.UpdateMembership(workspace="acme", email=email, **changes)  # type: ignore[arg-type]


def role(email: str, old: str, new: str) -> ops.RoleChange:
    return ops.RoleChange("acme", email, old, new, "declared")  # type: ignore[arg-type]


def one_of_each() -> list[ops.Op]:
    """One op per step, listed backwards: the order must come from the module, not from the plan."""
    status = (ops.FieldChange("status", "active", "archived"),)
    renamed = (ops.FieldChange("name", "Acme", "ACME"),)
    return [
        ops.DestroyGroup(workspace="acme", name="old", member_count=1),
        ops.ArchiveWorkspace(workspace="beta"),
        ops.ArchiveMembership(workspace="acme", email="gone@x", reason="not in the configuration"),
        member("down@x", role=role("down@x", "admin", "builder")),
        ops.TransferApps(workspace="acme", email="owner@x", to="admin@x", apps=("CRM",)),
        member("left@x", groups_removed=("ops",)),
        member(
            "meta@x", metadata_changes=(ops.MetadataKeyChange("desk", "add"),), metadata=Metadata.of({"desk": "4F"})
        ),
        member("joined@x", groups_added=("ops",)),
        ops.UnarchiveMembership(workspace="acme", email="back@x"),
        ops.CreateMembership(workspace="acme", email="new@x", role="end-user", status="invited"),
        ops.UpdateUser(workspace="acme", email="new@x", changes=(ops.FieldChange("first_name", "A", "B"),)),
        ops.CreateUser(workspace="acme", email="new@x", first_name="", last_name=""),
        ops.UpdateGroup(workspace="acme", name="ops", before=GroupPermissions(), after=FULL, changes=()),
        member("up@x", role=role("up@x", "end-user", "builder")),
        ops.CreateGroup(workspace="acme", name="ops", permissions=GroupPermissions()),
        ops.RenameGroup(workspace="acme", old_name="sales", new_name="revenue"),
        ops.CreateDataSource(workspace="acme", name="warehouse"),
        ops.UpdateApp(workspace="acme", slug="crm", changes=(ops.FieldChange("name", "CRM", "Crm"),)),
        ops.CreateApp(workspace="acme", slug="wiki", name="Wiki"),
        ops.UnarchiveWorkspace(workspace="gamma"),
        ops.UpdateWorkspace(workspace="delta", changes=status),  # a plan saved before ArchiveWorkspace existed
        ops.UpdateWorkspace(workspace="acme", changes=renamed),
        ops.CreateWorkspace(workspace="acme", name="Acme"),
    ]


def test_the_steps_are_spec5s_sections_in_order() -> None:
    assert list(STEPS) == SPEC5_STEPS
    pairs = ordered_steps(one_of_each())
    assert list(dict.fromkeys(step for step, _op in pairs)) == SPEC5_STEPS  # steps never interleave
    assert len(pairs) == len({id(op) for _step, op in pairs}) == len(one_of_each())  # here, one step per op
    assert [op.workspace for step, op in pairs if step == "archive_workspace"] == ["delta", "beta"]


def test_an_update_membership_takes_part_in_each_of_its_steps_in_order() -> None:
    rising = member(
        "bob@x",
        role=role("bob@x", "end-user", "admin"),
        groups_added=("ops",),
        groups_removed=("sales",),
        metadata_changes=(ops.MetadataKeyChange("desk", "remove"),),
        metadata=Metadata.EMPTY,
    )
    falling = replace(rising, role=role("bob@x", "admin", "end-user"))
    assert [step for step, _ in ordered_steps([rising])] == ["promote", "join_groups", "write_metadata", "leave_groups"]
    assert [step for step, _ in ordered_steps([falling])] == ["join_groups", "write_metadata", "leave_groups", "demote"]
    assert ordered_steps([member("bob@x")]) == []  # changes nothing: takes no step


def test_a_new_membership_joins_its_groups_and_writes_its_metadata_after_every_creation() -> None:
    new = ops.CreateMembership(
        workspace="acme",
        email="new@x",
        role="end-user",
        status="invited",
        groups=("ops",),
        metadata=Metadata.of({"desk": "4F"}),
    )
    group = ops.CreateGroup(workspace="acme", name="ops", permissions=FULL)
    bare = replace(new, email="bare@x", groups=(), metadata=Metadata.UNMANAGED)
    steps = [(step, op.address) for step, op in ordered_steps([new, bare, group])]
    assert steps == [
        ("create_group", "acme/group/ops"),
        ("create_membership", "acme/user/new@x"),
        ("create_membership", "acme/user/bare@x"),
        ("join_groups", "acme/user/new@x"),
        ("write_metadata", "acme/user/new@x"),
    ]


def test_an_old_saved_plans_workspace_update_renames_first_and_archives_last() -> None:
    both = ops.UpdateWorkspace(
        workspace="acme",
        changes=(ops.FieldChange("name", "Acme", "ACME"), ops.FieldChange("status", "active", "archived")),
    )
    leaving = ops.ArchiveMembership(workspace="acme", email="gone@x", reason="not in the configuration")
    assert [step for step, _ in ordered_steps([both, leaving])] == [
        "update_workspace",
        "archive_membership",
        "archive_workspace",
    ]


def test_batches_keep_the_plans_order_within_a_step_and_builder_roles_before_groups() -> None:
    group_b = ops.UpdateGroup(workspace="acme", name="b", before=GroupPermissions(), after=FULL, changes=())
    group_a = replace(group_b, name="a")
    builder = ops.UpdateBuilderRole(workspace="acme", before=GroupPermissions(), after=FULL, changes=())
    joined = [member("z@x", groups_added=("a",)), member("y@x", groups_added=("b",))]
    batches = step_batches(ops.Plan(ops=(group_b, *joined, builder, group_a)))
    assert [step for step, _batch in batches] == SPEC5_STEPS  # every step, with or without ops: one call each
    assert [(step, [op.address for op in batch]) for step, batch in batches if batch] == [
        ("set_permissions", ["acme/role/builder", "acme/group/b", "acme/group/a"]),
        ("join_groups", ["acme/user/z@x", "acme/user/y@x"]),
    ]


def test_an_op_without_a_place_in_the_order_is_refused_not_skipped() -> None:
    @dataclass(frozen=True, kw_only=True)
    class Unknown(ops.Op):
        @property
        def address(self) -> str:
            return "acme/unknown"

    with pytest.raises(ValueError, match=r"Unknown \(acme/unknown\) has no place in the apply order"):
        ordered_steps([Unknown(workspace="acme")])


@PROFILE
@given(first=desired_states(), second=desired_states(), drift=drifts)
def test_every_op_of_a_plan_takes_part_in_a_step(first: DesiredState, second: DesiredState, drift: Drift) -> None:
    plan = make_plan(starting_state(first, drift), second, None).plan
    assert {id(op) for _step, op in ordered_steps(plan)} == {id(op) for op in plan.ops}


# --- every intermediate state, on the fake --------------------------------------------------------------------


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
