"""Seat limits (issue 16, H4) through the command line and the library: validation of ``limits:``, the refusal of
``plan`` (exit 1, located, ToolJet's 451 wording, nothing changed), ``users -f`` showing usage against the limits,
and the check again under the apply lock, where the rest of the instance may have changed since the plan.

ToolJet's messages: ``LicenseUserService.validateUser`` (server/src/modules/licensing/services/user.service.ts).
"""

from __future__ import annotations

import json

import pytest
import yaml
from helpers import Harness, config_yaml, workspace_yaml

from reconciler.errors import ReconcilerError

USERS = (
    "- {email: alice@acme.com, first_name: Alice, role: admin}\n"
    "- {email: bob@acme.com, first_name: Bob, role: builder}\n"
    "- {email: carol@acme.com, first_name: Carol, role: end-user}\n"
)


def config(users: str = USERS, *, top: str = "", workspace: str = "") -> str:
    body = config_yaml(workspace_yaml(users=users, extra=f"limits: {workspace}" if workspace else ""))
    return body.replace("version: 1\n", f"version: 1\nlimits: {top}\n" if top else "version: 1\n")


def test_validate_locates_a_limit_that_is_not_a_positive_integer(harness: Harness) -> None:
    path = harness.write(config(top="{total: 0}", workspace="{builders: two}"))
    empty = harness.directory / "empty.yaml"
    empty.write_text(config(top="{}"), encoding="utf-8")

    result = harness.cli("validate", "-f", str(path))
    none_given = harness.cli("validate", "-f", str(empty))

    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert f"Error: {path}:2:10: limits.total: a seat limit is a number of people, 1 or more, got 0" in result.stderr
    assert "workspaces[0].limits.builders: expected an integer, got the string 'two'" in result.stderr
    assert none_given.exit_code == 1
    assert "give total, builders, end_users, or several of them" in none_given.stderr


def test_the_schema_describes_limits(harness: Harness) -> None:
    schema = json.loads(harness.cli("schema").stdout)
    limits = schema["$defs"]["Limits"]
    assert limits["additionalProperties"] is False
    assert {k: limits["properties"]["total"][k] for k in ("type", "minimum")} == {"type": "integer", "minimum": 1}
    assert sorted(limits["properties"]) == ["builders", "end_users", "total"]
    assert schema["properties"]["limits"]["$ref"] == "#/$defs/Limits"


def test_plan_refuses_past_a_limit_with_exit_1_and_changes_nothing(harness: Harness) -> None:
    path = harness.write(config(workspace="{total: 2, builders: 5}"))

    result = harness.cli("plan", "-f", str(path))
    applied = harness.cli("apply", "-f", str(path), "--auto-approve")

    assert result.exit_code == 1 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert line.startswith(f"Error: {path}:11:14: workspaces[0].limits.total: ")
    assert (
        "You have reached your limit for number of users. (ToolJet's HTTP 451): 3 users in workspace 'acme' once "
        "applied (0 now), limit 2 (limits of workspace 'acme': total); added: alice@acme.com, bob@acme.com, "
        "carol@acme.com (the state this plan leads to exceeds a declared seat limit"
    ) in line
    assert applied.exit_code == 1
    assert harness.rows("SELECT email FROM users") == []


def test_drift_refuses_a_configuration_past_its_limit_with_exit_1(harness: Harness) -> None:
    """Seat limits are refusals, not policies: drift does not report "drift" (exit 2) for a configuration no apply
    could carry out, it refuses it as plan does."""
    harness.apply(config(USERS[: USERS.index("- {email: carol")]))
    path = harness.write(config(workspace="{total: 2}"))

    result = harness.cli("drift", "-f", str(path))

    assert result.exit_code == 1, result.output
    assert "You have reached your limit for number of users. (ToolJet's HTTP 451)" in result.stderr
    assert "added: carol@acme.com" in result.stderr


def test_users_shows_usage_against_the_declared_limits(harness: Harness) -> None:
    path = harness.write(config(top="{total: 10, builders: 2, end_users: 7}", workspace="{total: 3}"))
    harness.apply()

    plain = harness.cli("users", "--workspace", "acme")
    limited = harness.cli("users", "--workspace", "acme", "-f", str(path))
    as_json = json.loads(harness.cli("users", "--workspace", "acme", "-f", str(path), "--format", "json").stdout)

    assert plain.exit_code == 0, plain.stderr
    assert plain.stdout.endswith("Total users: 3  Builders: 2\n")
    assert limited.stdout.endswith(
        "Total users: 3  Builders: 2\nSeats: 3 of 10 total, 2 of 2 builders, 1 of 7 end-users\n"
        "Seats in acme: 3 of 3 total\n"
    )
    assert as_json["limits"] == [
        {
            "scope": "instance",
            "total": {"used": 3, "limit": 10},
            "builders": {"used": 2, "limit": 2},
            "end_users": {"used": 1, "limit": 7},
        },
        {"scope": "acme", "total": {"used": 3, "limit": 3}},
    ]
    by_config = harness.cli("users", "-f", str(path))  # without --workspace: the configuration's workspaces
    assert by_config.exit_code == 0, by_config.stderr
    assert by_config.stdout == limited.stdout


def test_apply_checks_a_top_level_limit_again_on_the_instance_under_its_lock(harness: Harness) -> None:
    """The plan covers acme only; another workspace gains a member between plan and apply (not part of the
    plan's fingerprint): the apply's check counts the instance afresh and refuses."""
    ops = "- {email: dave@acme.com, first_name: Dave, role: admin}\n"
    ops += "- {email: erin@acme.com, first_name: Erin, role: %s}\n"
    harness.apply(config_yaml(workspace_yaml(users=ops % "end-user, status: archived", slug="ops", name="Ops")))
    planned = harness.plan(config(top="{total: 4}"))
    assert not planned.plan.empty and planned.plan.seat_warnings == ()
    harness.apply(config_yaml(workspace_yaml(users=ops % "end-user", slug="ops", name="Ops")))  # erin is back

    with pytest.raises(ReconcilerError) as caught:
        harness.apply_plan(planned.plan)

    assert "You have reached your limit for number of users. (ToolJet's HTTP 451): 5 users once applied (2 now)" in (
        str(caught.value)
    )
    assert harness.rows("SELECT email FROM users ORDER BY email") == [("dave@acme.com",), ("erin@acme.com",)]


def test_plan_warns_when_it_leaves_a_limit_exceeded_without_raising_it(harness: Harness) -> None:
    harness.apply(config())
    fewer = USERS.replace("role: end-user}", "role: end-user, status: archived}")
    path = harness.write(config(fewer, workspace="{total: 1}"))

    result = harness.cli("plan", "-f", str(path))
    markdown = harness.cli("plan", "-f", str(path), "--format", "markdown")
    applied = harness.cli("apply", "-f", str(path), "--auto-approve")

    assert result.exit_code == 0, result.stderr
    assert (
        "Warning: seat limit exceeded: 2 users in workspace 'acme' once applied (3 now), limit 1 (limits of "
        "workspace 'acme': total); allowed because this plan reduces the count. ToolJet answers \"You have reached "
        'your limit for number of users." (HTTP 451) to invitations and role changes until it is within the limit'
    ) in result.stderr
    assert "**Seat limits exceeded (not raised by this plan):**" in markdown.stdout
    assert applied.exit_code == 0, applied.stderr
    assert harness.membership("carol@acme.com")["status"] == "archived"
    assert harness.cli("plan", "-f", str(path)).stdout.startswith("No changes.")


def test_export_with_the_configuration_keeps_its_limits(harness: Harness) -> None:
    path = harness.write(config(top="{total: 10, builders: 3}", workspace="{end_users: 5}"))
    harness.apply()
    target = harness.directory / "exported.yaml"

    kept = harness.cli("export", "-f", str(path), "-o", str(target))
    plain = harness.cli("export")

    assert kept.exit_code == 0, kept.stderr
    document = yaml.safe_load(target.read_text(encoding="utf-8"))
    assert document["limits"] == {"total": 10, "builders": 3}
    assert document["workspaces"][0]["limits"] == {"end_users": 5}
    assert "limits" not in plain.stdout
    assert harness.cli("plan", "-f", str(target)).stdout.startswith("No changes.")


def test_a_saved_plan_is_checked_against_its_limits_and_refused_when_the_configuration_changed_them(
    harness: Harness,
) -> None:
    path = harness.write(config(workspace="{total: 3}"))
    plan_file = harness.directory / "plan.json"
    assert harness.cli("plan", "-f", str(path), "--out", str(plan_file)).exit_code == 0
    assert json.loads(plan_file.read_text(encoding="utf-8"))["seat_limits"] == [
        {"scope": "acme", "total": 3, "builders": None, "end_users": None}
    ]

    harness.write(config(workspace="{total: 5}"))
    changed = harness.cli("apply", str(plan_file), "-f", str(path))
    assert changed.exit_code == 1
    assert "Error: the seat limits changed since the plan was made" in changed.stderr
    assert harness.rows("SELECT email FROM users") == []

    applied = harness.cli("apply", str(plan_file))  # without -f: checked against the limits it recorded
    assert applied.exit_code == 0, applied.stderr
    assert len(harness.rows("SELECT email FROM users")) == 3
