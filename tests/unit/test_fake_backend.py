"""The in-memory backend keeps the Backend contract's promises, so that tests built on it can be trusted:
all or nothing, stale plans refused, one apply at a time, audit runs for history, snapshots that are copies.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from fakes import MemoryBackend, MemoryStore

from reconciler import ops
from reconciler.desired import DesiredState, DesiredWorkspace
from reconciler.errors import ApplyError, LockTimeout, StalePlan
from reconciler.state import AppGrant, GroupPermissions, Membership, Metadata, User, Workspace
from reconciler.workflow import apply_plan, make_plan

VIEWERS = GroupPermissions(app_grants=(AppGrant("view", None),))
MAKERS = GroupPermissions(flags=frozenset({"apps.create"}))


def desired(*members: Membership, slug: str = "acme", groups: dict | None = None) -> DesiredState:
    workspace = Workspace(slug, slug.title(), groups=groups or {}, memberships={m.email: m for m in members})
    users = {m.email: User(m.email, m.email.split("@")[0].title()) for m in members}
    return DesiredState({slug: DesiredWorkspace(workspace)}, users, config_hash="h")


ANN = Membership("ann@x.io", "admin", "active", metadata=Metadata.UNMANAGED)
BO = Membership("bo@x.io", "end-user", "active", frozenset({"viewers"}), Metadata.of({"team": "blue"}))
CY = Membership("cy@x.io", "end-user", "active", metadata=Metadata.UNMANAGED)
START = desired(ANN, BO, groups={"viewers": VIEWERS})


def applied(state: DesiredState, backend: MemoryBackend | None = None, **options: Any) -> MemoryBackend:
    backend = backend or MemoryBackend()
    apply_plan(backend, make_plan(backend, state, None).plan, None, actor="unit", command="apply", **options)
    return backend


def test_the_stored_state_is_what_the_ops_say() -> None:
    backend = applied(START)

    applied(desired(ANN, BO, groups={"viewers": MAKERS}), backend)

    (ws,) = backend.read_snapshot(["acme"]).workspaces.values()
    bo = ws.memberships["bo@x.io"]
    assert (bo.role, bo.status, bo.groups, bo.metadata) == ("builder", "invited", {"viewers"}, BO.metadata)
    assert ws.memberships["ann@x.io"].metadata == Metadata.EMPTY  # unmanaged and never written: none stored
    assert ws.groups == {"viewers": MAKERS}
    assert make_plan(backend, desired(ANN, BO, groups={"viewers": MAKERS}), None).plan.empty


def test_a_failing_step_changes_nothing_and_is_recorded_as_failed() -> None:
    backend = applied(START)
    before = backend.read_snapshot(["acme"])
    plan = make_plan(backend, desired(ANN, replace(BO, role="builder")), None).plan
    broken = replace(plan, ops=(*plan.ops, ops.ArchiveMembership(workspace="acme", email="zed@x.io", reason="gone")))

    with pytest.raises(ApplyError) as caught:
        apply_plan(backend, broken, None, actor="unit", command="apply")

    assert "zed@x.io is not a member" in caught.value.message
    assert backend.read_snapshot(["acme"]) == before  # the earlier steps were not kept either
    assert [(r.result, r.changes) for r in backend.history(1)] == [("failed", ())]


def test_a_plan_made_before_another_apply_is_stale() -> None:
    backend = applied(START)
    stale = make_plan(backend, desired(ANN, replace(BO, role="builder")), None).plan
    applied(desired(ANN, replace(BO, metadata=Metadata.of({"team": "red"})), groups={"viewers": VIEWERS}), backend)
    before = backend.read_snapshot(["acme"])

    with pytest.raises(StalePlan):
        apply_plan(backend, stale, None, actor="unit", command="apply")

    assert backend.read_snapshot(["acme"]) == before
    assert backend.history(1)[0].result == "refused"


def test_the_fingerprint_covers_the_workspaces_read_and_the_users_only() -> None:
    backend = applied(START)
    applied(desired(ANN, slug="other"), backend)
    acme = backend.read_snapshot(["acme"]).fingerprint
    assert backend.read_snapshot(["acme"]).fingerprint == acme  # reading changes nothing

    applied(desired(ANN, CY, slug="other"), backend)
    assert backend.read_snapshot(["acme"]).fingerprint != acme  # a new user: the instance's users are read
    acme = backend.read_snapshot(["acme"]).fingerprint
    applied(desired(ANN, replace(CY, role="builder"), slug="other"), backend)
    assert backend.read_snapshot(["acme"]).fingerprint == acme  # another workspace's members are not


def test_a_second_apply_while_one_is_in_flight_fails_naming_the_holder() -> None:
    backend = applied(START)
    other = make_plan(backend, desired(ANN, slug="other"), None).plan
    refused: list[str] = []

    def meanwhile(step: str, op: ops.Op, store: MemoryStore) -> None:
        if refused:
            return
        with pytest.raises(LockTimeout) as caught:
            apply_plan(backend, other, None, actor="bob", command="apply", lock_timeout=0.05)
        refused.append(caught.value.message)

    backend.observer = meanwhile
    applied(desired(ANN, replace(BO, role="builder"), groups={"viewers": VIEWERS}), backend)

    assert len(refused) == 1
    assert "memory apply by unit" in refused[0]
    assert [r.result for r in backend.history()] == ["applied", "applied"]  # a lock timeout is not a run


def test_history_is_newest_first_with_each_change() -> None:
    backend = applied(START)
    applied(desired(ANN, slug="other"), backend)

    latest, first = backend.history()
    assert (latest.id, first.id) == (2, 1)
    assert latest.changes == (("create", "other"), ("create", "other/user/ann@x.io"))
    assert first.summary["add"] == 6
    assert backend.history(1) == [latest]


def test_a_snapshot_is_a_copy() -> None:
    backend = applied(START)
    snapshot = backend.read_snapshot(["acme"])
    with pytest.raises(TypeError):  # metadata is immutable: nothing to copy
        snapshot.workspaces["acme"].memberships["bo@x.io"].metadata.values["team"] = "changed"  # type: ignore[index]
    snapshot.workspaces["acme"].groups.clear()

    again = backend.read_snapshot(["acme"]).workspaces["acme"]
    assert again.memberships["bo@x.io"].metadata == Metadata.of({"team": "blue"})
    assert again.groups == {"viewers": VIEWERS}


def test_a_role_change_from_a_role_that_is_not_stored_fails() -> None:
    backend = applied(START)
    change = ops.RoleChange(workspace="acme", email="bo@x.io", old="builder", new="admin", cause="declared")
    plan = replace(
        make_plan(backend, START, None).plan,
        ops=(ops.UpdateMembership(workspace="acme", email="bo@x.io", role=change),),
    )

    with pytest.raises(ApplyError) as caught:
        apply_plan(backend, plan, None, actor="unit", command="apply")

    assert "is end-user, not builder" in caught.value.message
