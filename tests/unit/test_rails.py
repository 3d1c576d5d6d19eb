"""The safety rails of SPEC 5 on pure data: a hand-built snapshot and plan in, the refusals out.

``check_rails`` is what apply runs on the fresh snapshot before anything is written; the contract suite shows
that every backend refuses what it returns. Here its thresholds and the last-admin rule are pinned case by case.
"""

from __future__ import annotations

import pytest

from reconciler import ops
from reconciler.rails import check_rails
from reconciler.state import GroupPermissions, Membership, Snapshot, Workspace

SLUG = "acme"


def snapshot(members: dict[str, tuple[str, str]], groups: int = 0) -> Snapshot:
    """``members``: email -> (role, status); ``groups`` custom groups named g0, g1, ..."""
    memberships = {email: Membership(email, role, status) for email, (role, status) in members.items()}  # type: ignore[arg-type]
    custom = {f"g{n}": GroupPermissions() for n in range(groups)}
    return Snapshot({SLUG: Workspace(SLUG, "Acme", groups=custom, memberships=memberships)})


def plan(*changes: ops.Op) -> ops.Plan:
    return ops.Plan(ops=changes, workspaces=(SLUG,))


def archive(email: str) -> ops.ArchiveMembership:
    return ops.ArchiveMembership(workspace=SLUG, email=email, reason="not in configuration")


def set_role(email: str, old: str, new: str) -> ops.UpdateMembership:
    change = ops.RoleChange(workspace=SLUG, email=email, old=old, new=new, cause="declared")  # type: ignore[arg-type]
    return ops.UpdateMembership(workspace=SLUG, email=email, role=change)


def rules(refusals: list) -> list[str]:
    return [r.rule for r in refusals]


# --- last admin (SPEC 1, rule 4) ------------------------------------------------------------------------------


ADMIN_AND_STAFF = {"ann@x.io": ("admin", "active"), "bo@x.io": ("builder", "active"), "cy@x.io": ("admin", "invited")}


@pytest.mark.parametrize(
    "change",
    [set_role("ann@x.io", "admin", "builder"), set_role("ann@x.io", "admin", "end-user"), archive("ann@x.io")],
    ids=["demoted-to-builder", "demoted-to-end-user", "archived"],
)
def test_removing_the_only_active_admin_is_refused_even_with_an_invited_admin(change: ops.Op) -> None:
    (refusal,) = check_rails(plan(change), snapshot(ADMIN_AND_STAFF))
    assert refusal.rule == "last-admin"
    assert "Cannot change role of last present admin" in refusal.message
    assert "acme" in refusal.message


def test_another_active_admin_lets_one_go() -> None:
    members = ADMIN_AND_STAFF | {"di@x.io": ("admin", "active")}
    assert check_rails(plan(archive("ann@x.io"), set_role("cy@x.io", "admin", "builder")), snapshot(members)) == []


def test_a_workspace_without_an_active_admin_has_none_to_lose() -> None:
    invited_only = {"cy@x.io": ("admin", "invited"), "bo@x.io": ("builder", "active")}
    assert check_rails(plan(set_role("cy@x.io", "admin", "end-user")), snapshot(invited_only)) == []


def test_a_promotion_keeps_the_last_admin_where_it_is() -> None:
    assert check_rails(plan(set_role("bo@x.io", "builder", "admin")), snapshot(ADMIN_AND_STAFF)) == []


# --- mass change ------------------------------------------------------------------------------------------------


def staff(active: int, archived: int = 0) -> dict[str, tuple[str, str]]:
    members = {f"u{n:02d}@x.io": ("end-user", "active") for n in range(active)}
    members |= {f"old{n:02d}@x.io": ("end-user", "archived") for n in range(archived)}
    return {"ann@x.io": ("admin", "active"), **members}


@pytest.mark.parametrize(
    ("members", "archived", "refused"),
    [
        (staff(11), 3, False),  # 3 of 12: exactly 25 %, not more
        (staff(11), 4, True),  # 4 of 12
        (staff(8), 5, False),  # 9 members: below the minimum of 10
        (staff(8, archived=5), 4, False),  # archived members do not count: 9 of them
        (staff(9, archived=5), 3, True),  # 3 of 10
    ],
    ids=["a-quarter", "more-than-a-quarter", "below-the-minimum", "archived-not-counted", "ten-members"],
)
def test_archiving_more_than_a_quarter_of_at_least_ten_members(members: dict, archived: int, refused: bool) -> None:
    doomed = [e for e, (_role, status) in members.items() if status == "active" and e != "ann@x.io"][:archived]
    refusals = check_rails(plan(*map(archive, doomed)), snapshot(members))
    assert rules(refusals) == (["mass-change"] if refused else [])
    if refused:
        assert f"{archived} of the {sum(s != 'archived' for _r, s in members.values())}" in refusals[0].message
    assert check_rails(plan(*map(archive, doomed)), snapshot(members), allow_mass_change=True) == []


@pytest.mark.parametrize(("groups", "destroyed", "refused"), [(10, 2, False), (10, 3, True), (9, 9, False)])
def test_destroying_more_than_a_quarter_of_at_least_ten_groups(groups: int, destroyed: int, refused: bool) -> None:
    changes = [ops.DestroyGroup(workspace=SLUG, name=f"g{n}", member_count=0) for n in range(destroyed)]
    refusals = check_rails(plan(*changes), snapshot(ADMIN_AND_STAFF, groups=groups))
    assert rules(refusals) == (["mass-change"] if refused else [])


# --- protected users --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        (archive("bo@x.io"), True),
        (set_role("bo@x.io", "builder", "end-user"), True),
        (set_role("bo@x.io", "builder", "admin"), False),
    ],
    ids=["archived", "demoted", "promoted"],
)
def test_a_protected_user_is_never_archived_or_demoted(change: ops.Op, refused: bool) -> None:
    refusals = check_rails(plan(change), snapshot(ADMIN_AND_STAFF), protected={f"{SLUG}/user/bo@x.io"})
    assert rules(refusals) == (["protected-user"] if refused else [])
    assert check_rails(plan(change), snapshot(ADMIN_AND_STAFF)) == []  # not protected: nothing to say


# --- the state after the plan, from its ops alone (issue 14: hand-edited saved plans) -----------------------------


def test_unarchiving_the_only_active_admin_makes_them_invited_and_is_refused() -> None:
    unarchive = ops.UnarchiveMembership(workspace=SLUG, email="ann@x.io")
    assert rules(check_rails(plan(unarchive), snapshot(ADMIN_AND_STAFF))) == ["last-admin"]


BUILDER_LEVEL = GroupPermissions(flags=frozenset({"apps.create"}))


def role_snapshot() -> Snapshot:
    memberships = {
        "ann@x.io": Membership("ann@x.io", "admin", "active"),
        "eve@x.io": Membership("eve@x.io", "end-user", "active", groups=frozenset({"viewers"})),
        "old@x.io": Membership("old@x.io", "end-user", "archived"),
    }
    groups = {"ops": BUILDER_LEVEL, "viewers": GroupPermissions()}
    return Snapshot({SLUG: Workspace(SLUG, "Acme", groups=groups, memberships=memberships)})


def join(email: str, *groups: str, role: ops.RoleChange | None = None) -> ops.UpdateMembership:
    return ops.UpdateMembership(workspace=SLUG, email=email, role=role, groups_added=groups)


PROMOTE = ops.RoleChange(workspace=SLUG, email="eve@x.io", old="end-user", new="builder", cause="implied")


@pytest.mark.parametrize(
    ("changes", "group"),
    [
        ([join("eve@x.io", "ops")], "ops"),
        (
            [
                ops.UpdateGroup(
                    workspace=SLUG, name="viewers", before=GroupPermissions(), after=BUILDER_LEVEL, changes=()
                )
            ],
            "viewers",
        ),
        ([ops.RenameGroup(workspace=SLUG, old_name="ops", new_name="ops2"), join("eve@x.io", "ops2")], "ops2"),
        ([ops.CreateGroup(workspace=SLUG, name="new", permissions=BUILDER_LEVEL), join("eve@x.io", "new")], "new"),
        (
            [
                ops.CreateMembership(
                    workspace=SLUG, email="neo@x.io", role="end-user", status="invited", groups=("ops",)
                )
            ],
            "ops",
        ),
    ],
    ids=["joins", "group-turns-builder-level", "joins-renamed", "joins-new-group", "new-member"],
)
def test_an_end_user_left_in_a_builder_level_group_is_refused(changes: list[ops.Op], group: str) -> None:
    (refusal,) = check_rails(plan(*changes), role_snapshot())
    assert refusal.rule == "role-rule"
    assert f'in builder-level group "{group}" (apps.create)' in refusal.message
    assert "end-user " in refusal.message and "without promoting them" in refusal.message


@pytest.mark.parametrize(
    "changes",
    [
        [join("eve@x.io", "ops", role=PROMOTE)],
        [join("eve@x.io", "ops"), archive("eve@x.io")],
        [
            ops.UpdateGroup(workspace=SLUG, name="viewers", before=GroupPermissions(), after=BUILDER_LEVEL, changes=()),
            ops.DestroyGroup(workspace=SLUG, name="viewers", member_count=1),
        ],
        [join("old@x.io", "ops")],
        [ops.CreateMembership(workspace=SLUG, email="neo@x.io", role="builder", status="invited", groups=("ops",))],
        [
            ops.UpdateMembership(workspace=SLUG, email="eve@x.io", groups_removed=("viewers",)),
            ops.UpdateGroup(workspace=SLUG, name="viewers", before=GroupPermissions(), after=BUILDER_LEVEL, changes=()),
        ],
    ],
    ids=["promoted", "archived", "group-destroyed", "archived-member", "new-builder", "left-the-group"],
)
def test_rule_one_holds_when_the_plan_promotes_removes_or_archives(changes: list[ops.Op]) -> None:
    assert check_rails(plan(*changes), role_snapshot()) == []
