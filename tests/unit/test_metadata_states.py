"""The three states of a membership's metadata (issue 15): unmanaged, unread, known values (possibly none).

``None`` once meant each of them; these tests pin down that no stage can take one for another.
"""

from __future__ import annotations

import pickle

import pytest

from reconciler import ops
from reconciler.desired import DesiredState, DesiredWorkspace
from reconciler.planner import build_plan
from reconciler.state import Membership, Metadata, Snapshot, User, Workspace

ADA = Membership("ada@x.io", "admin", "active", metadata=Metadata.UNMANAGED)


def plan_for(want: Metadata, have: Metadata) -> tuple[ops.Op, ...]:
    bo_want = Membership("bo@x.io", "end-user", "active", metadata=want)
    bo_have = Membership("bo@x.io", "end-user", "active", metadata=have)
    users = {e: User(e, "X") for e in ("ada@x.io", "bo@x.io")}
    desired = DesiredState(
        {"acme": DesiredWorkspace(Workspace("acme", "Acme", memberships={"ada@x.io": ADA, "bo@x.io": bo_want}))},
        users,
        config_hash="h",
    )
    ada_have = Membership("ada@x.io", "admin", "active")  # a snapshot's default: no metadata stored
    stored = Workspace("acme", "Acme", memberships={"ada@x.io": ada_have, "bo@x.io": bo_have})
    return build_plan(desired, Snapshot({"acme": stored}, users)).ops


def test_unmanaged_leaves_any_stored_metadata_alone() -> None:
    assert plan_for(Metadata.UNMANAGED, Metadata.of({"team": "blue"})) == ()
    assert plan_for(Metadata.UNMANAGED, Metadata.UNREAD) == ()  # nothing to compare: no values needed


def test_empty_removes_every_stored_key() -> None:
    [update] = plan_for(Metadata.EMPTY, Metadata.of({"team": "blue"}))
    assert isinstance(update, ops.UpdateMembership)
    assert [(c.key, c.kind) for c in update.metadata_changes] == [("team", "remove")]
    assert update.metadata == Metadata.EMPTY
    assert plan_for(Metadata.EMPTY, Metadata.EMPTY) == ()


def test_values_replace_the_stored_ones() -> None:
    [update] = plan_for(Metadata.of({"team": "red", "tier": "1"}), Metadata.of({"team": "blue", "old": "x"}))
    assert [(c.key, c.kind) for c in update.metadata_changes] == [
        ("old", "remove"),
        ("team", "change"),
        ("tier", "add"),
    ]
    assert update.metadata.values == {"team": "red", "tier": "1"}


def test_planning_managed_metadata_against_values_that_were_not_read_raises() -> None:
    """A snapshot read without decrypting (the apply's check) must never be planned as if it held no metadata."""
    with pytest.raises(ValueError, match="unread"):
        plan_for(Metadata.of({"team": "red"}), Metadata.UNREAD)


def test_a_new_membership_writes_only_values() -> None:
    users = {"ada@x.io": User("ada@x.io", "Ada")}
    for declared, written in (
        (Metadata.UNMANAGED, Metadata.UNMANAGED),
        (Metadata.EMPTY, Metadata.UNMANAGED),
        (Metadata.of({"team": "red"}), Metadata.of({"team": "red"})),
    ):
        member = Membership("ada@x.io", "admin", "active", metadata=declared)
        desired = DesiredState(
            {"acme": DesiredWorkspace(Workspace("acme", "Acme", memberships={"ada@x.io": member}))}, users, "h"
        )
        [create] = [op for op in build_plan(desired, Snapshot()).ops if isinstance(op, ops.CreateMembership)]
        assert create.metadata == written
        assert create.metadata_keys == (("team",) if written.known else ())


def test_unknown_states_have_no_values_and_no_truth_value() -> None:
    for state in (Metadata.UNMANAGED, Metadata.UNREAD):
        with pytest.raises(ValueError, match=state.state):
            state.values  # noqa: B018
        assert not state.known and not state.has_values
    with pytest.raises(TypeError):
        bool(Metadata.EMPTY)  # "if member.metadata:" cannot mean "has values" again
    assert Metadata.EMPTY.known and not Metadata.EMPTY.has_values and Metadata.EMPTY.keys() == ()
    assert Metadata.of({}) == Metadata.EMPTY != Metadata.UNMANAGED != Metadata.UNREAD


def test_values_are_read_only_and_never_in_repr() -> None:
    metadata = Metadata.of({"api_key": "s3cret-canary"})
    with pytest.raises(TypeError):
        metadata.values["api_key"] = "x"  # type: ignore[index]
    member = Membership("ada@x.io", "admin", "active", metadata=metadata)
    assert "s3cret-canary" not in repr(metadata) + repr(member) + str(member)
    assert repr(metadata) == "Metadata(1 key)" and repr(Metadata.UNREAD) == "Metadata.UNREAD"
    assert pickle.loads(pickle.dumps(metadata)) == metadata
