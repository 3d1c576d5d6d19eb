"""The report model (pure): access cells and their grantors, role causes, counts, drift marks, history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from report_samples import GROUPS, MEMBERS, RESTRICTED_BUILDER, acme, audit_runs, member, snapshot

from reconciler import ops
from reconciler.access import Seats, Source
from reconciler.people import seats_of
from reconciler.report.model import build_report
from reconciler.state import Snapshot, User

ROLE = lambda name: Source("role", name)  # noqa: E731 - table-like tests read better
GROUP = lambda name: Source("group", name)  # noqa: E731

# (email, resource type, key) -> (access, granted by)
EXPECTED = {
    ("alice@acme.example", "app", "crm"): ("edit", (ROLE("admin"),)),
    ("alice@acme.example", "app", "invoices"): ("edit", (ROLE("admin"),)),  # finance's view is lower
    ("alice@acme.example", "data_source", "warehouse"): ("configure", (ROLE("admin"),)),
    ("bob@acme.example", "app", "crm"): ("edit", (GROUP("sales-ops"),)),
    ("bob@acme.example", "app", "invoices"): ("view", (ROLE("builder"),)),
    ("bob@acme.example", "app", "status-page"): ("none", ()),  # the builder role here only views invoices
    ("bob@acme.example", "data_source", "stripe"): ("use", (ROLE("builder"), GROUP("sales-ops"))),
    ("bob@acme.example", "data_source", "warehouse"): ("none", ()),
    ("carol@acme.example", "app", "crm"): ("view", (ROLE("end-user"),)),
    ("carol@acme.example", "app", "invoices"): ("view", (ROLE("end-user"), GROUP("finance"))),
    ("carol@acme.example", "data_source", "stripe"): ("none", ()),
    ("erin@acme.example", "app", "invoices"): ("none", ()),  # archived: listed, but no access
    ("hank@acme.example", "app", "status-page"): ("view-hidden", (GROUP("finance-eu"),)),
    ("hank@acme.example", "app", "crm"): ("none", ()),
    ("ivy@acme.example", "data_source", "stripe"): ("configure", (GROUP("ds-admins"),)),  # beats use
    ("ivy@acme.example", "data_source", "warehouse"): ("configure", (GROUP("ds-admins"),)),
}


@pytest.fixture
def report():
    return build_report(snapshot(), runs=audit_runs(), now=datetime(2025, 3, 2, tzinfo=UTC))


@pytest.mark.parametrize(("email", "kind", "key"), list(EXPECTED))
def test_cell_is_the_highest_grant_with_every_source_that_grants_it(report, email, kind, key):
    cell = report.workspaces[0].cell(email, kind, key)
    assert (cell.level, cell.granted_by) == EXPECTED[(email, kind, key)]


def test_archived_members_are_listed_but_grant_nothing(report):
    ws = report.workspaces[0]
    erin = next(m for m in ws.members if m.email == "erin@acme.example")
    assert erin.status == "archived"
    assert {cell.level for cell in ws.access(erin)} == {"none"}


def test_members_of_an_archived_workspace_have_no_access_and_no_seats():
    report = build_report(snapshot(acme(status="archived")))
    ws = report.workspaces[0]
    assert {cell.level for m in ws.members for cell in ws.access(m)} == {"none"}
    assert ws.summary.seats == Seats(0, 0, 0, 0)
    assert report.seats == Seats(0, 0, 0, 0)


def test_members_sharing_role_and_groups_share_one_matrix_row(report):
    ws = report.workspaces[0]
    by_email = {m.email: m for m in ws.members}
    assert by_email["bob@acme.example"].profile == by_email["dave@acme.example"].profile  # active and invited
    assert by_email["bob@acme.example"].profile != by_email["ivy@acme.example"].profile
    assert len(ws.profiles) == len(MEMBERS) - 1


def test_role_cause_without_a_configuration_names_the_builder_level_groups(report):
    causes = {m.email: m.cause for m in report.workspaces[0].members}
    assert causes["alice@acme.example"].text == "declared"
    assert causes["hank@acme.example"].text == "declared"  # finance-eu only views: not builder-level
    assert causes["dave@acme.example"].kind == "implied"
    assert (
        causes["dave@acme.example"].text == 'implied by group "sales-ops" (folders.create, edit on crm, use on stripe)'
    )
    assert [g.group for g in causes["ivy@acme.example"].groups] == ["ds-admins", "sales-ops"]


def test_role_cause_uses_the_declared_role_when_a_configuration_gives_it():
    declared = {"acme": {"bob@acme.example": "builder", "dave@acme.example": "end-user"}}
    causes = {m.email: m.cause for m in build_report(snapshot(), declared=declared).workspaces[0].members}
    assert causes["bob@acme.example"].kind == "declared"
    assert causes["bob@acme.example"].text.startswith('declared (also implied by group "sales-ops"')
    assert causes["dave@acme.example"].kind == "implied"


def test_summary_counts_members_by_status_and_role(report):
    summary = report.workspaces[0].summary
    assert summary.members == 7
    assert summary.by_status == {"invited": 1, "active": 5, "archived": 1}
    assert summary.by_role["builder"] == {"invited": 1, "active": 3, "archived": 0}
    assert summary.by_role["end-user"] == {"invited": 0, "active": 1, "archived": 1}


def test_seats_are_counted_like_tooljet_distinct_users_admins_count_as_builders(report):
    assert report.workspaces[0].summary.seats == Seats(total=6, builders=5, end_users=1, admins=1)
    assert report.workspaces[1].summary.seats == Seats(total=2, builders=1, end_users=1, admins=0)
    # alice is an admin in acme and an end-user in labs: one user, one builder
    assert report.seats == Seats(total=7, builders=6, end_users=1, admins=1)


def test_super_admins_count_only_when_the_report_covers_the_whole_instance():
    base = snapshot()
    root = User("root@acme.example", "Root", super_admin=True)
    snap = Snapshot(base.workspaces, {**base.users, root.email: root})
    assert build_report(snap, whole_instance=True).seats.total == 8  # ToolJet's count.service.ts: super admins too
    assert build_report(snap).seats.total == 7


def test_seats_agree_with_the_users_command():
    snap = snapshot()
    assert seats_of(snap, list(snap.workspaces)) == build_report(snap).seats
    assert seats_of(snap, ["labs"]) == build_report(snap, ["labs"]).seats


def test_groups_list_roles_then_custom_groups_with_flags_grants_and_members(report):
    groups = {g.name: g for g in report.workspaces[0].groups}
    assert [g.name for g in report.workspaces[0].groups] == [
        "admin",
        "builder",
        "end-user",
        *sorted(GROUPS),
    ]
    assert groups["builder"].flags == tuple(sorted(RESTRICTED_BUILDER.flags))
    assert groups["builder"].members == 4
    assert groups["admin"].app_grants == ("edit all",)
    assert groups["end-user"].data_source_grants == ()
    assert groups["finance"].members == 2  # erin is archived
    assert groups["sales-ops"].builder_level == ("folders.create", "edit on crm", "use on stripe")
    assert groups["finance-eu"].app_grants == ("view [status-page] hidden",)
    assert groups["finance"].builder_level == ()


def test_metadata_appears_as_keys_only(report):
    alice = report.workspaces[0].members[0]
    assert alice.metadata_keys == ("department",)
    assert "dept-Wombat-0451" not in repr(report)


def test_applies_come_from_the_audit_history_newest_first(report):
    assert [(a.id, a.actor, a.result) for a in report.applies] == [
        (7, "ci-bot (ci)", "applied"),
        (6, "root", "refused"),
    ]
    assert report.applies[0].workspaces == ("acme",)
    assert report.applies[1].workspaces == ()


def test_unknown_and_unselected_workspaces_are_skipped():
    report = build_report(snapshot(), ["labs", "missing"])
    assert [w.slug for w in report.workspaces] == ["labs"]
    assert report.seats == Seats(total=2, builders=1, end_users=1, admins=0)


def test_drift_marks_the_entries_the_plan_touches():
    plan = ops.Plan(
        ops=(
            ops.UpdateMembership(
                workspace="acme",
                email="bob@acme.example",
                role=ops.RoleChange("acme", "bob@acme.example", "builder", "end-user", "declared"),
            ),
            ops.ArchiveMembership(workspace="acme", email="carol@acme.example", reason="not in configuration"),
            ops.RenameGroup(workspace="acme", old_name="finance", new_name="money"),
            ops.UpdateBuilderRole(workspace="acme", before=RESTRICTED_BUILDER, after=RESTRICTED_BUILDER, changes=()),
            ops.UpdateUser(
                workspace="labs",
                email="alice@acme.example",
                changes=(ops.FieldChange("first_name", "Alice", "Alicia"),),
            ),
        ),
        unmanaged=("acme/user/hank@acme.example",),
        config_hash="c" * 64,
    )
    report = build_report(snapshot(), plan=plan)
    acme_ws, labs_ws = report.workspaces
    marks = {m.email: [d.action for d in m.drift] for m in acme_ws.members}
    assert marks["bob@acme.example"] == ["update"]
    assert marks["carol@acme.example"] == ["archive"]
    assert marks["hank@acme.example"] == ["unmanaged"]
    assert marks["alice@acme.example"] == ["update"]  # the user's name is instance-wide
    assert marks["ivy@acme.example"] == []
    groups = {g.name: [d.action for d in g.drift] for g in acme_ws.groups}
    assert groups["finance"] == ["rename"] and groups["builder"] == ["update"] and groups["sales-ops"] == []
    assert "role: builder -> end-user" in acme_ws.members[1].drift[0].description
    assert len(acme_ws.drift) == 5 and len(labs_ws.drift) == 1
    assert report.drift_checked and report.config_hash == "c" * 64


def test_a_member_without_a_user_row_still_appears():
    ws = acme(members=(member("ghost@acme.example", "admin"),))
    report = build_report(Snapshot({ws.slug: ws}, {}))
    assert report.workspaces[0].members[0].name == ""
