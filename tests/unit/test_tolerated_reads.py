"""The planner on states a backend read tolerantly (issue 16; the ToolJet backend produces them): a member in
several default groups or none, metadata that could not be read, apps no configuration can name. Pure: no
database (the ToolJet suite checks the rows, tests/tooljet/test_tooljet_edge_reads.py)."""

from __future__ import annotations

from dataclasses import replace

from reconciler import ops
from reconciler.desired import DesiredState, DesiredWorkspace
from reconciler.planner import build_plan, keep_unnamed_apps
from reconciler.render.text import render_text
from reconciler.state import AppGrant, GroupPermissions, Membership, Metadata, Snapshot, User, Workspace

ADA = Membership("ada@x.io", "admin", "active")
BO = Membership("bo@x.io", "end-user", "active", metadata=Metadata.UNMANAGED)
USERS = {e: User(e, "X") for e in ("ada@x.io", "bo@x.io")}


def plan(stored: Workspace, want: Membership = BO, *, prune: bool = True) -> ops.Plan:
    wanted = Workspace("acme", "Acme", memberships={"ada@x.io": ADA, "bo@x.io": want})
    desired = DesiredWorkspace(wanted)
    if not prune:
        desired = replace(desired, settings=replace(desired.settings, prune="none"))
        wanted.memberships.pop("bo@x.io")
    return build_plan(DesiredState({"acme": desired}, USERS, config_hash="h"), Snapshot({"acme": stored}, USERS))


def stored(**extra: object) -> Workspace:
    members = {"ada@x.io": ADA, "bo@x.io": Membership("bo@x.io", "end-user", "active")}
    return Workspace("acme", "Acme", memberships=members, **extra)  # type: ignore[arg-type]


def test_a_member_in_several_default_groups_is_repaired_without_a_role_change() -> None:
    result = plan(stored(default_groups_found={"bo@x.io": ("builder", "end-user")}))
    [update] = result.ops
    assert isinstance(update, ops.UpdateMembership) and update.role is None
    assert (update.default_groups_found, update.repair_role) == (("builder", "end-user"), "end-user")
    assert result.role_changes == ()
    assert "default groups: builder, end-user -> end-user" in render_text(result)


def test_a_declared_role_change_carries_the_groups_found_and_writes_the_one_new_group() -> None:
    result = plan(stored(default_groups_found={"bo@x.io": ()}), replace(BO, role="builder"))
    [update] = result.ops
    assert update.role is not None and update.role.new == "builder" and update.repair_role == "builder"
    assert "default groups: none -> builder" in render_text(result)


def test_an_unmanaged_member_is_repaired_too() -> None:
    [update] = plan(stored(default_groups_found={"bo@x.io": ("admin", "admin")}), prune=False).ops
    assert update.repair_role == "end-user"  # the role read: their first default group by ToolJet's precedence


def test_unreadable_metadata_is_left_alone_unless_managed_then_replaced() -> None:
    problems = {"bo@x.io": "it decrypts to a JSON number, not a JSON object of strings"}
    have = stored(metadata_problems=problems)
    have.memberships["bo@x.io"] = Membership("bo@x.io", "end-user", "active", metadata=Metadata.UNREAD)
    left = plan(have)
    assert left.ops == ()
    assert left.notes == (
        "acme: the stored metadata of bo@x.io cannot be read: it decrypts to a JSON number, not a JSON object of "
        "strings; left alone (not managed here)",
    )
    replaced = plan(have, replace(BO, metadata=Metadata.EMPTY))
    [update] = replaced.ops
    assert update.metadata_unreadable == problems["bo@x.io"] and update.metadata == Metadata.EMPTY
    assert "replaces the stored value, which cannot be read" in render_text(replaced)
    assert "the plan replaces it" in replaced.notes[0]


def test_apps_without_slug_stay_in_a_grant_rewritten_at_the_same_level_and_leave_otherwise() -> None:
    before = GroupPermissions(app_grants=(AppGrant("view", ("crm",), unnamed=("app 1 (no slug)",)),))
    same_level = keep_unnamed_apps(before, GroupPermissions(app_grants=(AppGrant("view", ("crm", "hr")),)))
    assert same_level.app_grants[0].unnamed == ("app 1 (no slug)",)
    assert same_level.app_grants[0].describe() == "view [crm, hr, app 1 (no slug)]"
    for other in (AppGrant("edit", ("crm",)), AppGrant("view", None)):
        assert keep_unnamed_apps(before, GroupPermissions(app_grants=(other,))).app_grants[0].unnamed == ()
    assert before == GroupPermissions(app_grants=(AppGrant("view", ("crm",)),))  # no comparison sees them


def test_an_archived_member_waits_for_the_unarchive() -> None:
    # ToolJet refuses group and role changes for archived members ("User archived in this workspace")
    have = stored(default_groups_found={"bo@x.io": ("admin", "builder")})
    have.memberships["bo@x.io"] = Membership("bo@x.io", "admin", "archived")
    assert plan(have, replace(BO, role="admin", status="archived")).ops == ()
    assert plan(have, prune=False).ops == ()
    unarchive = plan(have, replace(BO, role="admin"))
    [back, repair] = unarchive.ops
    assert isinstance(back, ops.UnarchiveMembership)
    assert isinstance(repair, ops.UpdateMembership) and repair.repair_role == "admin"
