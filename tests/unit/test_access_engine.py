"""The access engine (``reconciler.access``), case by case and without a database: access with its grantors,
the role cause, and seats counted as ToolJet counts them.

Seat rules: ToolJet ``server/src/modules/licensing/services/count.service.ts`` (``getUserIdWithEditPermission``,
``fetchTotalViewerEditorCount``, ``getUsersCount``, ``fetchTotalSuperadminCount``), as summarised in
``../shared/reference/tooljet-access-model.md`` section 7. The instance-wide figures are ToolJet's self-hosted
ones (``ORGANIZATION_INSTANCE_KEY``); the per-workspace figures are its per-organization (cloud) ones.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from workspace_strategies import APPS, BUILDER_LEVEL, BUILDERS, DATA_SOURCES, GROUP_NAMES, NOT_BUILDER_LEVEL, PROFILE

from reconciler.access import (
    Access,
    Seats,
    Source,
    WorkspaceAccess,
    declared_roles,
    member_access,
    role_cause,
    seat_counts,
)
from reconciler.desired import DesiredState, DesiredWorkspace
from reconciler.people import explain_data, seats_of
from reconciler.report import build_report, report_to_dict
from reconciler.state import (
    FLAG_NAMES,
    ROLES,
    AppGrant,
    DataSourceGrant,
    GroupPermissions,
    Membership,
    Snapshot,
    User,
    Workspace,
)

ROLE = lambda name: Source("role", name)  # noqa: E731 - table-like tests read better
GROUP = lambda name: Source("group", name)  # noqa: E731

BUILDER = GroupPermissions(
    flags=frozenset({"apps.create"}),
    app_grants=(AppGrant("view", ("crm",)),),
    data_source_grants=(DataSourceGrant("use", ("pg",)),),
)
GROUPS = {
    "editors": GroupPermissions(app_grants=(AppGrant("edit", ("crm",)),)),  # builder-level
    "viewers": GroupPermissions(app_grants=(AppGrant("view", ("crm", "wiki")),)),
    "hidden": GroupPermissions(app_grants=(AppGrant("view", ("wiki",), hide_from_dashboard=True),)),
    "ds": GroupPermissions(
        flags=frozenset({"folders.create"}), data_source_grants=(DataSourceGrant("configure", None),)
    ),
}


def member(email: str, role: str = "end-user", status: str = "active", groups: tuple[str, ...] = ()) -> Membership:
    return Membership(email, role, status, frozenset(groups))  # type: ignore[arg-type]


def workspace(*members: Membership, slug: str = "acme", status: str = "active") -> Workspace:
    return Workspace(
        slug,
        slug.title(),
        status,  # type: ignore[arg-type]
        apps={"crm": "CRM", "wiki": "Wiki"},
        data_sources=frozenset({"pg", "stripe"}),
        builder=BUILDER,
        groups=dict(GROUPS),
        memberships={m.email: m for m in members},
    )


def state(*workspaces: Workspace, users: tuple[User, ...] = ()) -> Snapshot:
    emails = {e for ws in workspaces for e in ws.memberships}
    known = {u.email: u for u in users}
    return Snapshot(
        {ws.slug: ws for ws in workspaces},
        {e: known.get(e, User(e, e[0].upper())) for e in sorted(emails | known.keys())},
    )


# --- access -------------------------------------------------------------------------------------------------


def test_admin_edits_every_app_configures_every_data_source_and_has_every_flag() -> None:
    access = member_access(workspace(), member("a@x", "admin"))
    assert set(access.apps.values()) == {Access("edit", (ROLE("admin"),))}
    assert set(access.data_sources.values()) == {Access("configure", (ROLE("admin"),))}
    assert access.flags == dict.fromkeys(FLAG_NAMES, (ROLE("admin"),))


def test_end_user_views_every_app_and_nothing_else() -> None:
    access = member_access(workspace(), member("e@x"))
    assert access.apps == {"crm": Access("view", (ROLE("end-user"),)), "wiki": Access("view", (ROLE("end-user"),))}
    assert access.data_sources == {"pg": Access("none"), "stripe": Access("none")}
    assert access.flags == {}


def test_builder_has_the_workspace_builder_permissions() -> None:
    access = member_access(workspace(), member("b@x", "builder"))
    assert access.apps == {"crm": Access("view", (ROLE("builder"),)), "wiki": Access("none")}
    assert access.data_sources["pg"] == Access("use", (ROLE("builder"),))
    assert access.flags == {"apps.create": (ROLE("builder"),)}


def test_highest_level_wins_and_every_source_granting_it_is_named() -> None:
    access = member_access(workspace(), member("b@x", "builder", groups=("viewers", "editors", "ds")))
    assert access.apps["crm"] == Access("edit", (GROUP("editors"),))  # the role's and viewers' view are lower
    assert access.apps["wiki"] == Access("view", (GROUP("viewers"),))
    assert access.data_sources == {
        "pg": Access("configure", (GROUP("ds"),)),
        "stripe": Access("configure", (GROUP("ds"),)),
    }
    tied = member_access(workspace(), member("e@x", groups=("viewers",)))
    assert tied.apps["crm"] == Access("view", (ROLE("end-user"), GROUP("viewers")))  # role first, then groups


def test_a_plain_view_outranks_a_hidden_one() -> None:
    ws = workspace()
    assert member_access(ws, member("b@x", "builder", groups=("hidden",))).apps["wiki"] == Access(
        "view-hidden", (GROUP("hidden"),)
    )
    assert member_access(ws, member("e@x", groups=("hidden",))).apps["wiki"] == Access("view", (ROLE("end-user"),))


@pytest.mark.parametrize(
    ("ws_status", "status"), [("active", "archived"), ("archived", "active"), ("archived", "invited")]
)
def test_archived_memberships_and_archived_workspaces_grant_nothing(ws_status: str, status: str) -> None:
    access = member_access(workspace(status=ws_status), member("a@x", "admin", status, groups=("ds",)))
    assert access.flags == {}
    assert {a.level for a in (*access.apps.values(), *access.data_sources.values())} == {"none"}


def test_invited_members_have_their_access_already() -> None:
    assert member_access(workspace(), member("a@x", "admin", "invited")).apps["crm"].level == "edit"


def test_a_group_the_workspace_does_not_define_grants_nothing() -> None:
    assert member_access(workspace(), member("e@x", groups=("gone",))) == member_access(workspace(), member("e@x"))


def test_members_sharing_role_groups_and_standing_share_one_answer() -> None:
    bob = member("bob@x", "builder", groups=("editors",))
    dave = member("dave@x", "builder", "invited", groups=("editors",))
    erin, olga = member("erin@x", "admin", "archived"), member("olga@x", "builder", "archived", groups=("ds",))
    engine = WorkspaceAccess(workspace(bob, dave, erin, olga))
    assert engine.of(bob) is engine.of(dave)
    assert engine.of(erin) is engine.of(olga)  # no access is one answer
    assert engine.of(bob) is not engine.of(erin)


# --- the role cause -----------------------------------------------------------------------------------------


def test_role_cause_without_a_configuration() -> None:
    assert role_cause(member("a@x", "admin", groups=("editors",)), GROUPS).text == "declared"
    assert role_cause(member("b@x", "builder", groups=("viewers",)), GROUPS).text == "declared"
    cause = role_cause(member("b@x", "builder", groups=("editors", "ds")), GROUPS)
    assert (cause.kind, [g.group for g in cause.groups]) == ("implied", ["ds", "editors"])
    assert (
        cause.text
        == 'implied by group "ds" (folders.create, configure on all data sources), group "editors" (edit on crm)'
    )


def test_role_cause_with_the_declared_role() -> None:
    held = member("b@x", "builder", groups=("editors",))
    assert role_cause(held, GROUPS, "builder").text == 'declared (also implied by group "editors" (edit on crm))'
    assert role_cause(held, GROUPS, "builder").kind == "declared"
    assert role_cause(held, GROUPS, "end-user").text == 'implied by group "editors" (edit on crm)'


def test_declared_roles_are_read_from_the_desired_state() -> None:
    desired = DesiredState({"acme": DesiredWorkspace(workspace(member("b@x", "builder"), member("e@x")))})
    assert declared_roles(desired) == {"acme": {"b@x": "builder", "e@x": "end-user"}}
    assert declared_roles(None) == {}


# --- seats --------------------------------------------------------------------------------------------------


def test_invited_and_active_memberships_hold_seats_archived_ones_do_not() -> None:
    ws = workspace(member("a@x", "admin"), member("i@x", "builder", "invited"), member("z@x", "admin", "archived"))
    counts = seat_counts(state(ws))
    assert counts.workspaces["acme"] == Seats(total=2, builders=2, end_users=0, admins=1)
    assert counts.instance == Seats(total=2, builders=2, end_users=0, admins=1)


def test_an_archived_workspace_holds_no_seats() -> None:
    counts = seat_counts(state(workspace(member("a@x", "admin"), member("e@x"), status="archived")))
    assert counts.workspaces["acme"] == Seats() and counts.instance == Seats()


def test_a_person_counts_once_across_workspaces_admins_count_as_builders() -> None:
    one = workspace(member("a@x", "admin"), member("b@x", "builder"), member("e@x"), slug="one")
    two = workspace(member("a@x", "end-user"), member("e@x"), member("f@x"), slug="two")
    counts = seat_counts(state(one, two))
    assert counts.instance == Seats(total=4, builders=2, end_users=2, admins=1)
    assert counts.workspaces == {
        "one": Seats(total=3, builders=2, end_users=1, admins=1),
        "two": Seats(total=3, builders=0, end_users=0, admins=0),  # no builder here: ToolJet counts no end-user
    }


def test_the_builder_role_counts_from_any_workspace_instance_wide() -> None:
    """ToolJet joins a user's memberships and role groups independently: a counted end-user who holds the builder
    role in a membership that is archived, or in an archived workspace, is an instance builder."""
    here = workspace(member("a@x", "admin"), member("e@x"), member("f@x"), slug="here")
    gone = workspace(member("e@x", "builder", "archived"), slug="gone")
    shut = workspace(member("f@x", "admin"), slug="shut", status="archived")
    counts = seat_counts(state(here, gone, shut))
    assert counts.instance == Seats(total=3, builders=3, end_users=0, admins=1)
    assert counts.workspaces["here"] == Seats(total=3, builders=1, end_users=2, admins=1)  # per workspace: its roles


def test_a_person_archived_in_the_instance_holds_no_seat() -> None:
    ws = workspace(member("a@x", "admin"), member("gone@x", "builder"), member("e@x"))
    counts = seat_counts(state(ws, users=(User("gone@x", "G", archived=True),)))
    assert counts.instance == Seats(total=2, builders=1, end_users=1, admins=1)
    assert counts.workspaces["acme"] == counts.instance


def test_super_admins_count_in_the_instance_total_only() -> None:
    ws = workspace(member("a@x", "admin"), member("e@x"))
    root, old = User("root@x", "R", super_admin=True), User("old@x", "O", super_admin=True, archived=True)
    counts = seat_counts(state(ws, users=(root, old)))
    assert counts.instance == Seats(total=3, builders=1, end_users=1, admins=1)
    assert counts.workspaces["acme"] == Seats(total=2, builders=1, end_users=1, admins=1)
    selection = seat_counts(state(ws, users=(root, old)), whole_instance=False)  # e.g. users --workspace acme
    assert selection.instance == counts.workspaces["acme"]
    member_root = seat_counts(state(replace(ws, memberships={"root@x": member("root@x")}), users=(root,)))
    assert member_root.instance.total == 1  # counted once, as a member and as a super admin


def test_without_builders_tooljet_counts_no_end_users() -> None:
    counts = seat_counts(state(workspace(member("e@x"), member("f@x", "end-user", "invited"))))
    assert counts.instance == Seats(total=2, builders=0, end_users=0, admins=0)


# --- explain and report agree on every state ------------------------------------------------------------------

PEOPLE_SUBSETS = tuple(tuple(f"p{i}@unit.example" for i in range(5) if mask >> i & 1) for mask in range(32))
GROUP_CHOICES = (*GROUP_NAMES, "undefined")
# One draw per member (generation is most of a case's cost): role, status and which groups, by bit mask.
MEMBER_SHAPES = st.sampled_from(
    tuple(
        (role, status, frozenset(n for bit, n in enumerate(GROUP_CHOICES) if mask >> bit & 1))
        for role in ROLES
        for status in ("invited", "active", "archived")
        for mask in range(16)
    )
)
GROUP_SETS = st.sampled_from(
    tuple(tuple(n for bit, n in enumerate(GROUP_NAMES) if mask >> bit & 1) for mask in range(8))
)
ANY_GROUP = st.sampled_from(NOT_BUILDER_LEVEL + BUILDER_LEVEL)
WORKSPACE_SHAPES = st.tuples(
    st.sampled_from(("active", "active", "archived")),
    st.sampled_from(BUILDERS),
    GROUP_SETS,
    st.sampled_from(PEOPLE_SUBSETS),
)


@st.composite
def stored_workspaces(draw: st.DrawFn, slug: str) -> Workspace:
    """Any state a database may hold: any role, status and groups (undefined ones too), either workspace status."""
    status, builder, names, people = draw(WORKSPACE_SHAPES)
    members = {}
    for email in people:
        role, member_status, groups = draw(MEMBER_SHAPES)
        members[email] = Membership(email, role, member_status, groups)  # type: ignore[arg-type]
    return Workspace(
        slug,
        slug.upper(),
        status,  # type: ignore[arg-type]
        apps=dict(APPS),
        data_sources=DATA_SOURCES,
        builder=builder,
        groups={name: draw(ANY_GROUP) for name in names},
        memberships=members,
    )


DECLARED = st.sampled_from((None, *(dict.fromkeys(p, r) for p in PEOPLE_SUBSETS[1::5] for r in ROLES)))


@PROFILE
@given(stored_workspaces("ws-a"), stored_workspaces("ws-b"), DECLARED)
def test_explain_and_report_give_the_same_answers(a: Workspace, b: Workspace, declared: dict | None) -> None:
    snapshot = state(a, b)
    for roles in (None, {"ws-a": declared or {}, "ws-b": declared or {}}):
        report = report_to_dict(build_report(snapshot, declared=roles))
        for ws in report["workspaces"]:
            workspace_ = snapshot.workspaces[ws["slug"]]
            for entry in ws["members"]:
                email = entry["email"]
                said = explain_data(
                    workspace_,
                    snapshot.users[email],
                    workspace_.memberships[email],
                    reveal=False,
                    declared=(roles or {}).get(ws["slug"], {}).get(email),
                )
                assert said["role"] == {"name": entry["role"], "cause": entry["role_cause"]["text"]}
                for kind in ("apps", "data_sources"):
                    assert {k: (v["access"], v["granted_by"]) for k, v in said[kind].items()} == {
                        k: (v["access"], [_explain_spelling(g) for g in v["granted_by"]])
                        for k, v in entry["access"][kind].items()
                    }
    for slugs in (["ws-a"], ["ws-b"], ["ws-a", "ws-b"]):
        assert seats_of(snapshot, slugs) == build_report(snapshot, slugs).seats  # users' footer and the report


def _explain_spelling(label: str) -> str:
    kind, name = label.split(":", 1)
    return f'{kind} "{name}"'
