"""``plan``, ``apply`` and ``history`` through the command line: headings, formats, options and output streams."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Harness, config_yaml, workspace_yaml

from reconciler.render.markdown import TITLE
from reconciler.render.text import NO_CHANGES

SECRET = "meta-Quetzal-5150"
USERS = f"""
- {{email: alice@acme.com, first_name: Alice, role: admin, metadata: {{team: {SECRET}}}}}
- {{email: bob@acme.com, first_name: Bob, role: end-user}}
"""
GROUPS = "- {name: makers, permissions: {apps: {create: true}}}\n"


def two_workspaces(bob_groups: str = "[]") -> str:
    users = USERS.replace("role: end-user}", f"role: end-user, groups: {bob_groups}}}")
    return config_yaml(
        workspace_yaml(users=users, groups=GROUPS),
        workspace_yaml(slug="labs", name="Acme Labs", users=USERS),
    )


@pytest.fixture
def harness(database_url: str, tmp_path: Path) -> Iterator[Harness]:
    opened = Harness(database_url, tmp_path)
    opened.apply(two_workspaces())
    opened.write(two_workspaces("[makers]"))  # Bob joins a builder-level group: a membership-only change
    try:
        yield opened
    finally:
        opened.close()


EXPECTED_TEXT = """\
reconciler will perform the following actions:

workspace "acme" (Acme Corp)
  ~ user "bob@acme.com"
      ~ role: end-user -> builder (implied by group "makers" (apps.create))
      + groups: makers

Affected role changes:
  acme  bob@acme.com  end-user -> builder  implied by group "makers" (apps.create)

Plan: 0 to add, 1 to change, 0 to destroy. 1 role change.
"""


def test_plan_names_the_workspace_when_only_memberships_change(harness: Harness) -> None:
    result = harness.cli("plan", "-f", str(harness.config_path))

    assert result.exit_code == 0, result.stderr
    assert result.stdout == EXPECTED_TEXT
    assert result.stderr == ""


def test_apply_prints_the_same_plan_and_a_summary(harness: Harness) -> None:
    result = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve", "--actor", "ci-bot")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == EXPECTED_TEXT + "\nApply complete! 0 added, 1 changed, 0 destroyed. 1 role change.\n"
    history = harness.cli("history")
    latest = history.stdout.splitlines()[0]
    assert "applied" in latest and "ci-bot" in latest and "1 changed, 1 role change" in latest
    assert harness.cli("plan", "-f", str(harness.config_path)).stdout == NO_CHANGES + "\n"


def test_apply_of_a_saved_plan_names_the_workspace_too(harness: Harness) -> None:
    planfile = harness.directory / "plan.json"
    assert harness.cli("plan", "-f", str(harness.config_path), "--out", str(planfile)).exit_code == 0

    result = harness.cli("apply", str(planfile))

    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(EXPECTED_TEXT)


def test_plan_as_json(harness: Harness) -> None:
    result = harness.cli("plan", "-f", str(harness.config_path), "--format", "json")

    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["format_version"] == 1
    assert [(c["address"], c["actions"]) for c in document["changes"]] == [("acme/user/bob@acme.com", ["update"])]
    assert document["changes"][0]["after"] == {"email": "bob@acme.com", "role": "builder", "groups": ["makers"]}
    assert document["role_changes"] == [
        {
            "workspace": "acme",
            "email": "bob@acme.com",
            "from": "end-user",
            "to": "builder",
            "cause": 'implied by group "makers" (apps.create)',
        }
    ]
    assert document["summary"] == {
        "add": 0,
        "change": 1,
        "destroy": 0,
        "rename": 0,
        "archive": 0,
        "unarchive": 0,
        "role_changes": 1,
        "grants": 0,
    }
    assert len(document["state_fingerprint"]) == 64 and document["config_hash"]


def test_plan_as_markdown(harness: Harness) -> None:
    result = harness.cli("plan", "-f", str(harness.config_path), "--format", "markdown")

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == TITLE
    assert "**Plan: 0 to add, 1 to change, 0 to destroy. 1 role change.**" in lines
    assert '| acme | bob@acme.com | end-user | builder | implied by group "makers" (apps.create) |' in lines
    assert 'workspace "acme" (Acme Corp)' in lines  # the full plan, in a diff block, names the workspace
    assert '!     ~ role: end-user -> builder (implied by group "makers" (apps.create))' in lines


def test_metadata_values_appear_in_no_format(harness: Harness) -> None:
    harness.write(two_workspaces("[makers]").replace(SECRET, SECRET + "-rotated"))
    for fmt in ("text", "json", "markdown"):
        result = harness.cli("plan", "-f", str(harness.config_path), "--format", fmt)
        assert result.exit_code == 0, result.stderr
        assert "metadata.team" in result.stdout or '"team": "(sensitive)"' in result.stdout
        assert SECRET not in result.output


def test_plan_limited_to_one_workspace(harness: Harness) -> None:
    harness.write(two_workspaces("[makers]").replace("Acme Labs", "Acme Research"))

    only_labs = harness.cli("plan", "-f", str(harness.config_path), "--workspace", "labs")

    assert only_labs.exit_code == 0, only_labs.stderr
    assert only_labs.stdout.splitlines()[2:5] == [
        'workspace "labs" (Acme Research)',
        '  ~ workspace "labs"',
        '      ~ name: "Acme Labs" -> "Acme Research"',
    ]
    assert "acme" not in only_labs.stdout.replace("Acme", "")

    unknown = harness.cli("plan", "-f", str(harness.config_path), "--workspace", "nope")
    assert unknown.exit_code == 1
    assert unknown.stderr.splitlines() == [  # the wording of an unknown workspace in the database, too
        f"Error: --workspace nope: no such workspace in {harness.config_path}",
        f"Hint: workspaces in {harness.config_path}: acme, labs",
    ]


def test_apply_needs_a_config_or_a_plan_file(harness: Harness) -> None:
    neither = harness.cli("apply", "--auto-approve")
    assert neither.exit_code == 1
    assert neither.stderr.startswith("Error: give either -f CONFIG or a saved PLANFILE")

    missing = harness.cli("apply", str(harness.directory / "missing.json"))
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: cannot read plan file ")

    not_a_plan = harness.directory / "not-a-plan.json"
    not_a_plan.write_text(harness.cli("plan", "-f", str(harness.config_path), "--format", "json").stdout)
    refused = harness.cli("apply", str(not_a_plan))
    assert refused.exit_code == 1 and "the output of plan --format json cannot be applied" in refused.stderr


def test_plan_warns_about_mass_changes(harness: Harness) -> None:
    many = "".join(f"- {{email: u{i}@acme.com, first_name: U{i}, role: end-user}}\n" for i in range(12))
    harness.apply(config_yaml(workspace_yaml(users=USERS + many, groups=GROUPS)))
    harness.write(config_yaml(workspace_yaml(users=USERS, groups=GROUPS)))

    plan = harness.cli("plan", "-f", str(harness.config_path), "--detailed-exitcode")
    assert plan.exit_code == 2
    assert plan.stderr.startswith("Warning: the plan would archive 12 of the 14 non-archived members")

    refused = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve")
    assert refused.exit_code == 1 and "--allow-mass-change" in refused.stderr
    allowed = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve", "--allow-mass-change")
    assert allowed.exit_code == 0, allowed.stderr
    assert harness.cli("plan", "-f", str(harness.config_path)).stdout == NO_CHANGES + "\n"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_long_applies_show_a_progress_bar_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from reconciler.cli import plan as cli_plan

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli_plan._progress(cli_plan.PROGRESS_MINIMUM - 1) is None  # short applies: no bar
    bar = cli_plan._progress(1_000)
    assert bar is not None
    bar(500, 1_000)
    bar(1_000, 1_000)
    bar.close()

    assert "applying" in terminal.getvalue()
    assert capsys.readouterr().out == ""  # stdout keeps only the plan and the summary


def test_unwritable_plan_file_is_an_error_line_not_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "c.yaml"
    config.write_text(
        "version: 1\nworkspaces:\n  - slug: a\n    name: A\n    users:\n"
        "      - {email: a@x.example, first_name: A, role: admin}\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "--database",
            f"sqlite:///{tmp_path}/r.db",
            "plan",
            "-f",
            str(config),
            "--out",
            str(tmp_path / "missing-dir" / "plan.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().endswith(f"Error: {tmp_path}/missing-dir/plan.json: No such file or directory")


def _ctrl_c() -> str:
    raise KeyboardInterrupt


def test_ctrl_c_at_the_prompt_cancels_and_says_nothing_was_changed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: "Interrupted; an apply in progress was rolled back." (none was running), without a newline."""
    monkeypatch.setattr("reconciler.cli.plan.stdin_is_interactive", lambda: True)
    monkeypatch.setattr("reconciler.cli.plan.read_answer", _ctrl_c)
    before = harness.dump()
    result = harness.cli("apply", "-f", str(harness.config_path))
    assert result.exit_code == 1
    assert result.stdout.endswith("  Enter a value: \n")
    assert result.stderr == "Error: Apply cancelled: nothing was changed.\n"
    assert harness.dump() == before


@pytest.mark.parametrize(
    ("no_color", "tty", "expected"),
    [(None, True, True), ("", True, True), ("1", True, False), (None, False, False)],
    ids=["unset", "empty", "set", "no-tty"],
)
def test_no_color_means_a_non_empty_value(
    monkeypatch: pytest.MonkeyPatch, no_color: str | None, tty: bool, expected: bool
) -> None:
    from reconciler.cli.app import use_color

    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    assert use_color(False) is expected
    assert use_color(True) is False


def test_history_words_its_counts(harness: Harness) -> None:
    result = harness.cli("history", "--format", "json")
    runs = json.loads(result.stdout)["runs"]
    assert runs[0]["result"] == "applied" and runs[0]["summary"]["add"] > 1
    text = harness.cli("history").stdout
    assert "role_changes" not in text and " 1 workspaces" not in text
    from reconciler.cli.plan import history_counts

    assert history_counts({"add": 1, "change": 2, "role_changes": 1}) == "1 added, 2 changed, 1 role change"
    assert history_counts({"archive": 0, "role_changes": 3}) == "3 role changes"
    assert history_counts({}) == "no changes"
    assert history_counts({"add": 3, "grants": 1}) == "3 added, 1 new privileged member"


@pytest.mark.postgres
def test_an_apply_that_cannot_keep_its_invitations_is_refused_before_the_question(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL without a master key: the invitation emails could not be queued encrypted, so the apply is
    refused before anyone is asked to approve it (before, the refusal came after the 'yes')."""
    monkeypatch.setattr("reconciler.cli.plan.stdin_is_interactive", lambda: True)
    opened = Harness(postgres_url, tmp_path, keyring=None)
    try:
        opened.write(config_yaml(workspace_yaml(users="- {email: alice@acme.com, first_name: Alice, role: admin}\n")))
        result = opened.cli("apply", "-f", str(opened.config_path), input="yes\n", RECONCILER_MASTER_KEY=None)
        assert result.exit_code == 1
        assert "Do you want to perform these actions?" not in result.stdout
        assert "this apply invites 1 member(s)" in result.stderr and "nothing was changed" in result.stderr
        assert opened.scalar("SELECT count(*) FROM memberships") == 0
    finally:
        opened.close()


@pytest.mark.parametrize(
    "command",
    [
        ["users", "--workspace", "nope"],
        ["explain", "alice@acme.com", "--workspace", "nope"],
        ["invite-url", "alice@acme.com", "--workspace", "nope"],
        ["report", "--workspace", "nope"],
        ["export", "--workspace", "nope"],
    ],
    ids=lambda c: c[0],
)
def test_an_unknown_workspace_is_refused_with_one_wording(harness: Harness, command: list[str]) -> None:
    result = harness.cli(*command)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: --workspace nope: no such workspace in the database",
        "Hint: workspaces in the database: acme, labs",
    ]


@pytest.mark.parametrize("command", ["users", "report"])
def test_workspace_selection_is_refused_with_one_wording(harness: Harness, command: str) -> None:
    both = harness.cli(command, "--workspace", "acme", "--all-workspaces")
    assert both.exit_code == 1
    assert both.stderr.splitlines() == [
        "Error: give either --workspace SLUG (repeatable) or --all-workspaces, not both"
    ]

    neither = harness.cli(command)
    assert neither.exit_code == 1
    choices = (
        "--workspace SLUG (repeatable), --all-workspaces or -f CONFIG"
        if command == "report"
        else ("--workspace SLUG (repeatable) or --all-workspaces")
    )
    assert neither.stderr.splitlines() == [f"Error: give {choices}", "Hint: workspaces in the database: acme, labs"]
