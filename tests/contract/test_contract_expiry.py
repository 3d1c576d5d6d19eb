"""Expiring access on every backend (issue 18): the injected clock moves between two plans, and what expired is
revoked, with the reason in the plan."""

from __future__ import annotations

from datetime import UTC, datetime

from contract_support import SLUG, VIEW_ALL, Scenario, config, email, group, person

from reconciler import ops
from reconciler.render.jsonplan import plan_to_json_dict
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text

BEFORE = datetime(2027, 3, 28, 12, 0, tzinfo=UTC)
AFTER = datetime(2027, 3, 31, 0, 0, tzinfo=UTC)  # the first moment of the day `expires: 2027-03-31` names


def test_a_membership_expires_between_two_plans_and_is_archived_with_the_reason(scenario: Scenario) -> None:
    scenario.now = BEFORE
    members = [person("alice", "admin"), person("bob", "builder", "viewers", expires="2027-03-31")]
    document = config(members, [group("viewers", VIEW_ALL)])
    first, _ = scenario.apply(document)
    scenario.activate("alice", "bob")

    assert [(a.email, a.group, a.expires) for a in first.expiring] == [(email("bob"), "", "2027-03-31")]
    assert "Expiring within 7 days: 1" in render_text(first)
    assert scenario.member("bob").status == "active"

    scenario.now = AFTER
    plan, _ = scenario.apply(document)

    assert plan.ops == (
        ops.ArchiveMembership(
            workspace=SLUG, email=email("bob"), reason="expired 2027-03-31; groups and metadata kept"
        ),
    )
    assert f'* user "{email("bob")}": archive (expired 2027-03-31; groups and metadata kept)' in render_text(plan)
    assert plan_to_json_dict(plan)["changes"][0]["reasons"] == ["expired 2027-03-31; groups and metadata kept"]
    gone = scenario.member("bob")
    assert (gone.status, gone.groups) == ("archived", {"viewers"})
    assert plan.expiring == ()


def test_a_group_membership_expires_while_the_membership_stays(scenario: Scenario) -> None:
    scenario.now = BEFORE
    carol = person("carol", "end-user") | {
        "groups": ["viewers", {"name": "finance", "expires": "2027-03-30T15:30:00+02:00"}]  # the list form mixes
    }
    document = config([person("alice", "admin"), carol], [group("viewers", VIEW_ALL), group("finance", VIEW_ALL)])
    first, _ = scenario.apply(document)
    scenario.activate("alice", "carol")

    assert [(a.group, a.expires) for a in first.expiring] == [("finance", "2027-03-30 13:30 UTC")]
    assert "| lab | carol@lab.example | finance | 2027-03-30 13:30 UTC |" in render_markdown(first)
    assert scenario.member("carol").groups == {"viewers", "finance"}

    scenario.now = AFTER
    plan, _ = scenario.apply(document)

    (update,) = plan.ops
    assert isinstance(update, ops.UpdateMembership)
    assert (update.groups_removed, update.expired_groups) == (("finance",), (("finance", "2027-03-30 13:30 UTC"),))
    assert "- groups: finance (expired 2027-03-30 13:30 UTC)" in render_text(plan)
    assert plan_to_json_dict(plan)["changes"][0]["reasons"] == ["group finance expired 2027-03-30 13:30 UTC"]
    stays = scenario.member("carol")
    assert (stays.status, stays.groups) == ("active", {"viewers"})


def test_a_csv_expiry_archives_the_row_s_membership(scenario: Scenario) -> None:
    scenario.directory.mkdir(parents=True, exist_ok=True)
    (scenario.directory / "people.csv").write_text(
        "Full Name,Email,Role,Groups,Expires\n"
        f"Dana Lab,{email('dana')},End User,viewers,2027-03-31\n"
        f"Erin Lab,{email('erin')},End User,,\n",
        encoding="utf-8",
    )
    document = config([person("alice", "admin")], [group("viewers", VIEW_ALL)])
    document["workspaces"][0]["users_csv"] = ["people.csv"]
    scenario.now = BEFORE
    first, _ = scenario.apply(document)
    assert [(a.email, a.expires) for a in first.expiring] == [(email("dana"), "2027-03-31")]

    scenario.now = AFTER
    plan, _ = scenario.apply(document)

    assert [(type(op), op.address) for op in plan.ops] == [(ops.ArchiveMembership, f"{SLUG}/user/{email('dana')}")]
    assert scenario.member("dana").status == "archived"
    assert scenario.member("erin").status == "invited"


def test_access_that_expired_before_it_was_ever_applied_is_never_created(scenario: Scenario) -> None:
    scenario.now = AFTER
    members = [person("alice", "admin"), person("bob", "builder", expires="2027-03-01")]
    plan, _ = scenario.apply(config(members))

    assert email("bob") not in scenario.snapshot().workspaces[SLUG].memberships
    assert email("bob") not in {getattr(op, "email", None) for op in plan.ops}
