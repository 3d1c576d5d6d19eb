"""Issue 18 through the command line: the injected clock (RECONCILER_NOW), ``--expiring-within``, ``apply
--only-expiries``, policies at ``validate``, ``drift`` exiting 2 on a broken policy, and ``apply PLANFILE -f``."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import Harness, config_yaml, workspace_yaml

GROUPS = "- {name: pay-create}\n- {name: pay-approve}\n"
SOD = """\
policies:
  - id: sod
    message: Payments need two people
    exclusive: [pay-create, pay-approve]
"""


def config(bob: str = "", *, policies: str = SOD, settings: str = "") -> str:
    """alice (admin) and bob (end-user, ``bob``: more keys of his entry) in acme, under ``policies``."""
    users = (
        "- {email: alice@acme.com, first_name: Alice, role: admin}\n"
        f"- {{email: bob@acme.com, first_name: Bob, role: end-user{bob}}}\n"
    )
    workspaces = config_yaml(workspace_yaml(users=users, groups=GROUPS, settings=settings))
    return "version: 1\n" + policies + workspaces.removeprefix("version: 1\n")


def test_plan_lists_what_expires_within_the_window_and_the_clock_is_injectable(harness: Harness) -> None:
    harness.write(config(", expires: 2027-04-10, groups: [{name: pay-create, expires: 2027-04-02T09:00:00Z}]"))
    now = {"RECONCILER_NOW": "2027-03-30T12:00:00Z"}

    week = harness.cli("plan", "-f", str(harness.config_path), **now)
    fortnight = harness.cli("plan", "-f", str(harness.config_path), "--expiring-within", "14d", **now)
    as_json = json.loads(harness.cli("plan", "-f", str(harness.config_path), "--format", "json", **now).stdout)

    assert week.exit_code == 0, week.stderr
    assert week.stdout.endswith("Expiring within 7 days: 1\n  acme  bob@acme.com  pay-create  2027-04-02 09:00 UTC\n")
    assert fortnight.stdout.endswith(
        "Expiring within 14 days: 2\n"
        "  acme  bob@acme.com  pay-create    2027-04-02 09:00 UTC\n"
        "  acme  bob@acme.com  (membership)  2027-04-10\n"
    )
    assert as_json["expiring"] == [
        {
            "workspace": "acme",
            "email": "bob@acme.com",
            "group": "pay-create",
            "expires": "2027-04-02 09:00 UTC",
            "at": "2027-04-02T09:00:00Z",
        }
    ]
    bad = harness.cli("plan", "-f", str(harness.config_path), RECONCILER_NOW="next tuesday")
    assert bad.exit_code == 1 and "Error: RECONCILER_NOW: 'next tuesday' is not a date" in bad.stderr


def test_only_expiries_applies_an_expiry_and_refuses_anything_else(harness: Harness) -> None:
    harness.apply(config(", groups: [pay-create]"))
    harness.write(config(", groups: [{name: pay-create, expires: 2027-04-01}]"))
    later = {"RECONCILER_NOW": "2027-04-01"}

    mixed = config(", groups: [{name: pay-create, expires: 2027-04-01}]").replace(
        "role: admin}", "role: admin}\n      - {email: carol@acme.com, first_name: Carol, role: end-user}"
    )
    harness.write(mixed)
    refused = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve", "--only-expiries", **later)
    assert refused.exit_code == 1
    assert "--only-expiries: the plan holds 2 change(s) that no expiry causes" in refused.stderr
    assert harness.groups_of("bob@acme.com") == ["pay-create"]

    harness.write(config(", groups: [{name: pay-create, expires: 2027-04-01}]"))
    applied = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve", "--only-expiries", **later)
    assert applied.exit_code == 0, applied.stderr
    assert "- groups: pay-create (expired 2027-04-01)" in applied.stdout
    assert harness.groups_of("bob@acme.com") == []


def test_validate_refuses_a_broken_deny_policy_and_warns_for_a_warn_policy(harness: Harness) -> None:
    harness.write(config(", groups: [pay-create, pay-approve]"))
    denied = harness.cli("validate", "-f", str(harness.config_path))
    assert denied.exit_code == 1
    assert denied.stderr.startswith(f'Error: {harness.config_path}:3:5: policies[0].id: policy "sod" (deny)')
    assert "bob@acme.com holds pay-approve, pay-create" in denied.stderr

    harness.write(
        config(", groups: [pay-create, pay-approve]", policies=SOD.replace("message:", "level: warn\n    message:"))
    )
    warned = harness.cli("validate", "-f", str(harness.config_path))
    assert warned.exit_code == 0
    assert (
        "Warning: WARN sod (acme): Payments need two people: bob@acme.com holds pay-approve, pay-create"
        in warned.stderr
    )


def test_drift_exits_2_when_the_database_breaks_a_deny_policy(harness: Harness) -> None:
    harness.apply(config(", groups: [pay-create]", settings="prune: none\n"))
    assert harness.cli("drift", "-f", str(harness.config_path)).exit_code == 0
    harness.write(
        config(settings="prune: none\n").replace("      - {email: bob@acme.com, first_name: Bob, role: end-user}\n", "")
    )
    harness.execute(
        "INSERT INTO group_members (group_id, membership_id) SELECT g.id, m.id FROM groups g, memberships m "
        "JOIN users u ON u.id = m.user_id WHERE g.name = 'pay-approve' AND u.email = 'bob@acme.com'"
    )

    result = harness.cli("drift", "-f", str(harness.config_path), "--format", "markdown")

    assert result.exit_code == 2, result.stderr
    assert "**Drift detected**: the database breaks a deny policy" in result.stdout
    assert "bob@acme.com holds pay-approve, pay-create" in result.stdout


def test_a_saved_plan_checked_against_policies_needs_the_configuration_and_the_same_policies(
    harness: Harness, tmp_path: Path
) -> None:
    harness.write(config())
    plan_file = tmp_path / "plan.json"
    assert harness.cli("plan", "-f", str(harness.config_path), "--out", str(plan_file)).exit_code == 0

    without = harness.cli("apply", str(plan_file))
    assert without.exit_code == 1 and "apply cannot tell whether they changed" in without.stderr
    assert "Hint: give the configuration too: reconciler apply PLANFILE -f CONFIG" in without.stderr

    harness.write(config(policies=SOD.replace("pay-approve]", "pay-approve]\n    level: warn")))
    changed = harness.cli("apply", str(plan_file), "-f", str(harness.config_path))
    assert changed.exit_code == 1
    assert "Error: the policies changed since the plan was made" in changed.stderr
    assert harness.scalar("SELECT count(*) FROM memberships") == 0

    harness.write(config())
    applied = harness.cli("apply", str(plan_file), "-f", str(harness.config_path))
    assert applied.exit_code == 0, applied.stderr
    assert harness.scalar("SELECT count(*) FROM memberships") == 2


def test_stale_invitations_are_flagged_and_pruned_through_a_normal_apply(harness: Harness) -> None:
    harness.apply(config(", groups: [pay-create]", settings="prune: none\n"))
    # bob leaves the file (prune: none: unmanaged), carol is declared; both invitations were issued long ago
    without_bob = config(settings="prune: none\n").replace(
        "- {email: bob@acme.com, first_name: Bob, role: end-user}",
        "- {email: carol@acme.com, first_name: Carol, role: end-user}",
    )
    harness.apply(without_bob)
    harness.execute("UPDATE memberships SET invitation_expires_at = '2027-01-08 10:00:00' WHERE status = 'invited'")
    later = {"RECONCILER_NOW": "2027-03-30T12:00:00Z"}

    drift = harness.cli("drift", "-f", str(harness.config_path), **later)
    assert drift.exit_code == 0, drift.stderr  # hygiene is not drift
    assert "Access hygiene (not drift): 3" in drift.stdout
    assert "acme  bob@acme.com  invitation pending since 2027-01-01 10:00 UTC (88 days)" in drift.stdout
    report = json.loads(harness.cli("report", "-f", str(harness.config_path), "--format", "json", **later).stdout)
    assert {f["email"] for f in report["workspaces"][0]["hygiene"]} == {
        "alice@acme.com",
        "bob@acme.com",
        "carol@acme.com",
    }

    pruned = harness.cli(
        "invites", "prune", "-f", str(harness.config_path), "--older-than", "30d", "--auto-approve", **later
    )

    assert pruned.exit_code == 0, pruned.stderr
    assert '* user "bob@acme.com": archive (invitation pending since 2027-01-01 10:00 UTC (88 days)' in pruned.stdout
    assert "Note: acme: carol@acme.com: invitation pending since" in pruned.stderr  # declared: the file decides
    assert harness.membership("bob@acme.com")["status"] == "archived"
    assert harness.membership("carol@acme.com")["status"] == "invited"
    assert harness.cli("history", "--format", "json").stdout.count('"command": "invites prune"') == 1
    harness.assert_in_sync(harness.desired())
