"""The SPEC 5 apply order: a plan's ops as ordered ``(step, op)`` pairs, which every executor follows.

Stage: core (pure). SPEC 5 orders the operations of one apply "so that no intermediate state breaks a rule":
creations (workspace, registry, groups, renames), promotions, permission gains and membership additions and
unarchives, metadata, permission losses and membership removals, demotions and archives, group destruction.

``ORDER`` spells that out, one row per (step, op class): an executor has one handler per step, and an op takes
part in every step whose row names its class and whose test it passes. Most ops take part in one step; an
``UpdateMembership`` in up to four (``promote``, ``join_groups``, ``write_metadata``, ``leave_groups``) or
``demote`` instead of ``promote``; an ``UpdateWorkspace`` from a plan saved before ``ArchiveWorkspace`` existed
in ``update_workspace`` and ``archive_workspace``. Within a step the ops keep their order in the plan, the
classes the order of their rows (builder roles before groups in ``set_permissions``).

Batching executors take :func:`step_batches` (one call per step with all its ops, so the number of statements
does not grow with the number of ops); the in-memory backend takes :func:`ordered_steps` one pair at a time.
Steps never interleave: all the pairs of a step come before those of the next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import ops
from .ops import Op, Plan
from .state import ROLE_RANK

__all__ = ["ORDER", "STEPS", "ordered_steps", "step_batches"]


def _always(_op: Op) -> bool:
    return True


def _archives(change: ops.FieldChange) -> bool:
    return change.field == "status" and change.new == "archived"


def _changes_workspace(op: ops.UpdateWorkspace) -> bool:
    """Renames (and, in an old saved plan, unarchiving): before anything else."""
    return any(not _archives(c) for c in op.changes)


def _archives_workspace(op: ops.UpdateWorkspace) -> bool:
    """An old saved plan's ``status: archived`` change: after every membership change."""
    return any(_archives(c) for c in op.changes)


def _promotes(op: ops.UpdateMembership) -> bool:
    return op.role is not None and ROLE_RANK[op.role.new] > ROLE_RANK[op.role.old]


def _repairs_role(op: ops.UpdateMembership) -> bool:
    """Several default groups or none (ToolJet, issue 16) become exactly one, without a change of role."""
    return op.role is None and op.repair_role is not None


def _demotes(op: ops.UpdateMembership) -> bool:
    return op.role is not None and ROLE_RANK[op.role.new] < ROLE_RANK[op.role.old]


def _joins_groups(op: ops.CreateMembership | ops.UpdateMembership) -> bool:
    return bool(op.groups if isinstance(op, ops.CreateMembership) else op.groups_added)


def _leaves_groups(op: ops.UpdateMembership) -> bool:
    return bool(op.groups_removed)


def _writes_metadata(op: ops.CreateMembership | ops.UpdateMembership) -> bool:
    """A new membership with metadata; an existing one whose metadata changes (``{}`` removes it)."""
    if isinstance(op, ops.CreateMembership):
        return op.metadata.has_values
    return bool(op.metadata_changes or op.metadata_unreadable)


Takes = Callable[[Any], bool]  # a test of one op of the row's class

# (step, op class, whether an op of that class takes part in the step), in SPEC 5 order.
ORDER: tuple[tuple[str, type[Op], Takes], ...] = (
    # creations: workspace, registry, groups, renames
    ("create_workspace", ops.CreateWorkspace, _always),
    ("update_workspace", ops.UpdateWorkspace, _changes_workspace),
    ("unarchive_workspace", ops.UnarchiveWorkspace, _always),
    ("create_app", ops.CreateApp, _always),
    ("update_app", ops.UpdateApp, _always),
    ("create_data_source", ops.CreateDataSource, _always),
    ("rename_group", ops.RenameGroup, _always),
    ("create_group", ops.CreateGroup, _always),
    # promotions, permission gains, membership additions and unarchives
    ("promote", ops.UpdateMembership, _promotes),
    ("promote", ops.UpdateMembership, _repairs_role),
    ("set_permissions", ops.UpdateBuilderRole, _always),
    ("set_permissions", ops.UpdateGroup, _always),
    ("create_user", ops.CreateUser, _always),
    ("update_user", ops.UpdateUser, _always),
    ("create_membership", ops.CreateMembership, _always),
    ("unarchive_membership", ops.UnarchiveMembership, _always),
    ("join_groups", ops.CreateMembership, _joins_groups),
    ("join_groups", ops.UpdateMembership, _joins_groups),
    # metadata
    ("write_metadata", ops.CreateMembership, _writes_metadata),
    ("write_metadata", ops.UpdateMembership, _writes_metadata),
    # permission losses and membership removals, demotions and archives
    ("leave_groups", ops.UpdateMembership, _leaves_groups),
    ("transfer_apps", ops.TransferApps, _always),  # before the demotion, as ToolJet's role change does
    ("demote", ops.UpdateMembership, _demotes),
    ("archive_membership", ops.ArchiveMembership, _always),
    ("archive_workspace", ops.UpdateWorkspace, _archives_workspace),
    ("archive_workspace", ops.ArchiveWorkspace, _always),
    # group destruction
    ("destroy_group", ops.DestroyGroup, _always),
)

STEPS: tuple[str, ...] = tuple(dict.fromkeys(step for step, _cls, _takes in ORDER))


def ordered_steps(plan: Plan | Iterable[Op]) -> list[tuple[str, Op]]:
    """Every ``(step, op)`` pair of the plan, in SPEC 5 order.

    An op of a class that has no place in ``ORDER`` raises ``ValueError`` (it would otherwise be skipped in
    silence); an op of a known class that takes part in no step (an ``UpdateMembership`` that changes nothing)
    has no pair.
    """
    by_class: dict[type[Op], list[Op]] = {cls: [] for _step, cls, _takes in ORDER}
    for op in plan.ops if isinstance(plan, Plan) else plan:
        if type(op) not in by_class:
            raise ValueError(f"{type(op).__name__} ({op.address}) has no place in the apply order")
        by_class[type(op)].append(op)
    return [(step, op) for step, cls, takes in ORDER for op in by_class[cls] if takes(op)]


def step_batches(plan: Plan | Iterable[Op]) -> list[tuple[str, list[Op]]]:
    """Every step of ``STEPS`` in order, with the ops of :func:`ordered_steps` that take part in it (none, for
    most steps of most plans): a batching executor calls each step's handler once, as SPEC 5 reads."""
    batches: dict[str, list[Op]] = {step: [] for step in STEPS}
    for step, op in ordered_steps(plan):
        batches[step].append(op)
    return list(batches.items())
