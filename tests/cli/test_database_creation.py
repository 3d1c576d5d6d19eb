"""Only ``apply`` and ``db upgrade`` create a database or its schema (SPEC 3, issue 13).

Before, every command opened the database through the same path as ``apply``: ``users`` at a mistyped URL
created a 16-table schema there, after which ``drift`` reported everything as drift. Now every other command
says the database does not exist (exit 1) and leaves nothing behind, and ``plan`` prints the plan from an empty
state with a note (the natural first step), creating nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import MASTER_KEY_HEX, config_yaml, run_cli, workspace_yaml
from sqlalchemy import create_engine, inspect

from reconciler.backends.builtin.db import normalize_url

USERS = """
- {email: alice@acme.com, first_name: Alice, role: admin}
- {email: bob@acme.com, first_name: Bob, role: end-user}
"""

READ_COMMANDS = [
    ["users", "--all-workspaces"],
    ["history"],
    ["report", "--all-workspaces"],
    ["explain", "alice@acme.com", "--workspace", "acme"],
    ["accept-invite", "some-token"],
    ["invite-url", "bob@acme.com", "--workspace", "acme"],
    ["invites", "send", "--retries", "0"],
    ["keys", "rotate"],
    ["drift", "-f", "{config}"],
    ["export"],
]


def _tables(url: str) -> set[str]:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _run(url: str, tmp_path: Path, *args: str) -> object:
    config = tmp_path / "workspace.yaml"
    if not config.exists():
        config.write_text(config_yaml(workspace_yaml(users=USERS)), encoding="utf-8")
    words = [a.replace("{config}", str(config)) for a in args]
    env = {"RECONCILER_OUTBOX_DIR": str(tmp_path / "outbox"), "RECONCILER_MASTER_KEY": MASTER_KEY_HEX}
    return run_cli(["--database", url, *words], env=env)


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_read_commands_never_create_a_sqlite_database(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "mistyped.db"
    result = _run(f"sqlite:///{path}", tmp_path, *command)
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[0] == f"Error: the database sqlite:///{path} does not exist"
    assert "only 'reconciler apply' and 'reconciler db upgrade' create a database" in result.stderr
    assert not path.exists()
    assert not Path(f"{path}.key").exists()


@pytest.mark.postgres
@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_read_commands_never_create_the_schema(postgres_url: str, tmp_path: Path, command: list[str]) -> None:
    result = _run(postgres_url, tmp_path, *command)
    assert result.exit_code == 1, result.output
    assert "has no reconciler schema yet" in result.stderr.splitlines()[0]
    assert _tables(postgres_url) == set()


def test_plan_on_a_missing_database_plans_from_empty_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    url = f"sqlite:///{path}"
    result = _run(url, tmp_path, "plan", "-f", "{config}", "--detailed-exitcode", "-o", str(tmp_path / "plan.json"))
    assert result.exit_code == 2, result.output
    assert "Plan: 8 to add, 0 to change, 0 to destroy. 0 role changes, 1 new privileged member." in result.stdout
    assert f"Note: the database {url} does not exist; this plan starts from an empty state" in result.stderr
    assert not path.exists()

    applied = _run(url, tmp_path, "apply", str(tmp_path / "plan.json"))  # the saved plan creates it
    assert applied.exit_code == 0, applied.output
    assert "Apply complete! 8 added" in applied.stdout
    again = _run(url, tmp_path, "plan", "-f", "{config}", "--detailed-exitcode")
    assert again.exit_code == 0 and again.stdout.strip() == "No changes. The database matches the configuration."


@pytest.mark.postgres
def test_plan_on_an_empty_postgres_schema_creates_nothing(postgres_url: str, tmp_path: Path) -> None:
    result = _run(postgres_url, tmp_path, "plan", "-f", "{config}", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["add"] == 8
    assert "has no reconciler schema yet; this plan starts from an empty state" in result.stderr
    assert _tables(postgres_url) == set()

    applied = _run(postgres_url, tmp_path, "apply", "-f", "{config}", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "alembic_version" in _tables(postgres_url)
    again = _run(postgres_url, tmp_path, "plan", "-f", "{config}")
    assert again.stdout.strip() == "No changes. The database matches the configuration."


def test_global_options_are_accepted_after_the_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'after.db'}"
    config = tmp_path / "workspace.yaml"
    config.write_text(config_yaml(workspace_yaml(users=USERS)), encoding="utf-8")
    env = {"RECONCILER_OUTBOX_DIR": str(tmp_path / "outbox"), "RECONCILER_MASTER_KEY": MASTER_KEY_HEX}
    applied = run_cli(["apply", "-f", str(config), "--auto-approve", "--database", url, "--no-color"], env=env)
    assert applied.exit_code == 0, applied.output
    assert (tmp_path / "after.db").exists()
    assert "\x1b[" not in applied.stdout
    history = run_cli(["history", "--format", "json", "--database", url], env=env)
    runs = json.loads(history.stdout)["runs"]
    assert [(r["result"], r["summary"]["add"]) for r in runs] == [("applied", 8)]
