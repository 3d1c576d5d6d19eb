"""What a configuration cedes (issue 17), planned and applied on the in-memory backend: ``settings.manage``,
``settings.ignore``, ``members: external`` and the per-workspace rail thresholds, case by case.

Each case applies a configuration, lets another writer change the stored state (``edit``), then plans again;
every apply ends with an empty plan.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from fakes import MemoryBackend

from reconciler import ops
from reconciler.desired import DesiredState, DesiredWorkspace, Ownership
from reconciler.errors import PlanRefused
from reconciler.state import AppGrant, GroupPermissions, Membership, Metadata, User, Workspace
from reconciler.workflow import apply_plan, make_plan

VIEWERS = GroupPermissions(app_grants=(AppGrant("view", None),))
MAKERS = GroupPermissions(flags=frozenset({"apps.create"}))
ANN = Membership("ann@x.io", "admin", "active")
BO = Membership("bo@x.io", "end-user", "active", frozenset({"viewers"}), Metadata.of({"team": "blue"}))


def desired(*members: Membership, groups: dict | None = None, **ownership: Any) -> DesiredState:
    workspace = Workspace(
        "acme", "Acme", groups=groups or {"viewers": VIEWERS}, memberships={m.email: m for m in members}
    )
    users = {m.email: User(m.email, m.email.split("@")[0].title()) for m in members}
    return DesiredState({"acme": DesiredWorkspace(workspace, ownership=Ownership(**ownership))}, users, "h")


def apply(backend: MemoryBackend, state: DesiredState, **options: Any) -> ops.Plan:
    plan = make_plan(backend, state, None).plan
    apply_plan(backend, plan, None, actor="unit", command="apply", **options)
    assert make_plan(backend, state, None).plan.empty
    return plan


def edit(backend: MemoryBackend, email: str, **changes: Any) -> None:
    """Another writer (the UI, a sync) changes a stored membership, or adds one."""
    members = backend.store.workspaces["acme"].memberships
    members[email] = replace(members[email], **changes) if email in members else Membership(email, **changes)
    backend.store.users.setdefault(email, User(email, email.split("@")[0].title()))


def stored(backend: MemoryBackend, email: str) -> Membership:
    return backend.read_snapshot(["acme"]).workspaces["acme"].memberships[email]


def test_roles_left_to_the_ui_are_kept_but_new_members_get_the_declared_role() -> None:
    backend = MemoryBackend()
    apply(backend, desired(ANN, BO))
    edit(backend, "bo@x.io", role="admin")  # promoted in the UI

    state = desired(ANN, BO, Membership("cy@x.io", "builder", "active"), manage_roles=False)
    plan = apply(backend, state)

    assert [type(op).__name__ for op in plan.ops] == ["CreateUser", "CreateMembership"]
    assert (stored(backend, "bo@x.io").role, stored(backend, "cy@x.io").role) == ("admin", "builder")
    assert [(c.address, c.kind) for c in plan.ceded] == [("acme/user/bo@x.io", "role")]


def test_a_group_that_becomes_builder_level_still_promotes_when_roles_are_not_managed() -> None:
    backend = MemoryBackend()
    apply(backend, desired(ANN, BO, manage_roles=False))

    plan = apply(backend, desired(ANN, BO, groups={"viewers": MAKERS}, manage_roles=False))

    assert [(c.email, c.new) for c in plan.role_changes] == [("bo@x.io", "builder")]


def test_groups_left_to_the_ui_are_kept_and_destroying_a_group_still_removes_it() -> None:
    backend = MemoryBackend()
    both = {"viewers": VIEWERS, "readers": VIEWERS}
    apply(backend, desired(ANN, BO, groups=both))
    edit(backend, "ann@x.io", groups=frozenset({"readers"}))
    edit(backend, "bo@x.io", groups=frozenset())

    new = Membership("cy@x.io", "end-user", "active", frozenset({"viewers"}))
    plan = apply(backend, desired(ANN, BO, new, groups=both, manage_groups=False))

    assert {op.email for op in plan.ops if isinstance(op, ops.CreateMembership)} == {"cy@x.io"}
    assert not any(isinstance(op, ops.UpdateMembership) for op in plan.ops)
    assert (stored(backend, "ann@x.io").groups, stored(backend, "cy@x.io").groups) == ({"readers"}, {"viewers"})

    apply(backend, desired(ANN, BO, new, manage_groups=False))  # "readers" is no longer declared: destroyed

    assert stored(backend, "ann@x.io").groups == frozenset()


def test_metadata_left_alone_is_written_only_for_new_members() -> None:
    backend = MemoryBackend()
    apply(backend, desired(ANN, BO))

    new = Membership("cy@x.io", "end-user", "active", metadata=Metadata.of({"team": "red"}))
    plan = apply(
        backend, desired(ANN, replace(BO, metadata=Metadata.of({"team": "green"})), new, manage_metadata=False)
    )

    assert (stored(backend, "bo@x.io").metadata, stored(backend, "cy@x.io").metadata) == (
        Metadata.of({"team": "blue"}),
        Metadata.of({"team": "red"}),
    )
    assert [(c.address, c.kind) for c in plan.ceded] == [("acme/user/bo@x.io", "metadata")]


def test_ignored_members_are_never_archived_changed_or_counted() -> None:
    backend = MemoryBackend()
    apply(backend, desired(ANN, BO))
    edit(backend, "Bot-1@X.io".lower(), role="end-user", status="active", groups=frozenset({"viewers"}))

    plan = apply(backend, desired(ANN, ignore=("bot-*@x.io",)))  # bo: archived by prune; the bot: left alone

    assert [op.address for op in plan.ops if isinstance(op, ops.ArchiveMembership)] == ["acme/user/bo@x.io"]
    assert stored(backend, "bot-1@x.io").status == "active"
    assert [(c.address, c.kind) for c in plan.ceded] == [("acme/user/bot-1@x.io", "ignored")]

    plan = apply(backend, desired(ANN, groups={"viewers": MAKERS}, ignore=("bot-*@x.io",)))

    assert [(c.email, c.new) for c in plan.role_changes] == [("bot-1@x.io", "builder")]  # rule 1 holds for them


def test_external_members_are_kept_with_prune_none_too() -> None:
    backend = MemoryBackend()
    groups = {"viewers": VIEWERS, "sync": VIEWERS}
    apply(backend, desired(ANN, BO, groups=groups))
    edit(backend, "ann@x.io", groups=frozenset({"sync"}))
    edit(backend, "dee@x.io", role="end-user", status="active", groups=frozenset({"sync", "viewers"}))
    state = desired(ANN, BO, groups=groups, external_groups=frozenset({"sync"}))
    state = replace(
        state,
        workspaces={
            "acme": replace(state.workspaces["acme"], settings=replace(state.workspaces["acme"].settings, prune="none"))
        },
    )

    plan = apply(backend, state)

    assert plan.ops == ()
    assert plan.unmanaged == ("acme/user/dee@x.io",)
    assert [(c.address, c.reason.split(" (")[1]) for c in plan.ceded] == [
        ("acme/group/sync", "2 members, kept as SSO/SCIM sync or the UI set them)")
    ]


@pytest.mark.parametrize(("share", "minimum", "refused"), [(0.25, 10, False), (0.0, 2, True), (0.5, 2, False)])
def test_the_mass_change_thresholds_are_the_workspaces(share: float, minimum: int, refused: bool) -> None:
    backend = MemoryBackend()
    cy = Membership("cy@x.io", "end-user", "active")
    apply(backend, desired(ANN, BO, cy))
    state = desired(ANN, BO, mass_change_share=share, mass_change_min=minimum)  # archives 1 of 3

    plan = make_plan(backend, state, None).plan

    assert [w.rule for w in plan.warnings] == (["mass-change"] if refused else [])
    if refused:
        with pytest.raises(PlanRefused, match=r"archive 1 of the 3 non-archived members .* \(more than 0%\)"):
            apply_plan(backend, plan, None, actor="unit", command="apply")
