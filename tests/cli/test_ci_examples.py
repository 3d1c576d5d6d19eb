"""The CI examples: valid workflow YAML that calls only commands and options that exist, secrets from CI only,
and a pre-commit hook that validates without a database or secrets."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from reconciler.cli import cli, register_later_commands

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "examples" / "ci").glob("*.yml"))
SECRETS = ("RECONCILER_MASTER_KEY", "RECONCILER_DATABASE_URL")
_SHELL_SPLIT = re.compile(r"\s(?:&&|\|\||\||;)\s|;\s*$")
_REDIRECT = re.compile(r"^(?:\d?>>?|<|&>)(.*)$")

register_later_commands()


def load_workflow(path: Path) -> dict:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), path
    return document


def run_scripts(workflow: dict) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in job.get("steps", []) if "run" in step]


def reconciler_commands(script: str) -> list[list[str]]:
    """Each ``reconciler ...`` invocation of a shell script, as its arguments without redirections."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        if line.strip().startswith("#"):
            continue
        for segment in _SHELL_SPLIT.split(line):
            words = shlex.split(segment, comments=True)
            while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in ("then", "do", "else")):
                words.pop(0)
            if words and words[0] == "reconciler":
                commands.append(_without_redirections(words[1:]))
    return commands


def _without_redirections(words: list[str]) -> list[str]:
    kept, skip = [], False
    for word in words:
        if skip:
            skip = False
            continue
        match = _REDIRECT.match(word)
        if match:
            skip = not match.group(1)  # "> file" takes the next word; ">file" does not
            continue
        kept.append(word)
    return kept


def all_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in WORKFLOWS:
        for script in run_scripts(load_workflow(path)):
            found += [(path.name, command) for command in reconciler_commands(script)]
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    example = yaml.safe_load((ROOT / "examples" / "ci" / "pre-commit-config.yaml").read_text(encoding="utf-8"))
    (configured,) = [h for repo in example["repos"] for h in repo["hooks"] if h["id"] == "reconciler-validate"]
    for hook in hooks:
        entry = shlex.split(hook["entry"])
        assert entry[0] == "reconciler"
        found.append((".pre-commit-hooks.yaml", entry[1:] + configured.get("args", [])))
    return found


def test_the_extraction_finds_commands_in_shell() -> None:
    script = 'set +e\nreconciler plan -f "$CONFIG" --out plan.json > plan.md\ncode=$?\nX=1 reconciler drift \\\n -f a'
    assert reconciler_commands(script) == [["plan", "-f", "$CONFIG", "--out", "plan.json"], ["drift", "-f", "a"]]
    assert reconciler_commands("reconciler drift -f a --output d.md || true") == [
        ["drift", "-f", "a", "--output", "d.md"]
    ]


def test_the_workflows_are_valid_yaml_for_github_actions() -> None:
    assert {p.name for p in WORKFLOWS} == {"reconciler-plan.yml", "reconciler-apply.yml", "reconciler-drift.yml"}
    triggers = {}
    for path in WORKFLOWS:
        workflow = load_workflow(path)
        assert workflow["name"] and workflow["jobs"]
        on = workflow[True]  # YAML 1.1 reads the key `on` as true, as GitHub's own parser does not
        triggers[path.name] = set(on)
        for job in workflow["jobs"].values():
            assert job["runs-on"] == "ubuntu-latest"
            for step in job["steps"]:
                assert ("uses" in step) != ("run" in step), step
    assert triggers == {
        "reconciler-plan.yml": {"pull_request"},
        "reconciler-apply.yml": {"push", "workflow_dispatch"},
        "reconciler-drift.yml": {"schedule", "workflow_dispatch"},
    }


def test_each_workflow_does_its_job() -> None:
    found = all_commands()
    commands = {path.name: [command for source, command in found if source == path.name] for path in WORKFLOWS}
    text = {path.name: path.read_text(encoding="utf-8") for path in WORKFLOWS}

    plan = commands["reconciler-plan.yml"]
    assert ["validate", "-f", "$CONFIG"] in plan
    assert any(c[0] == "plan" and "markdown" in c and "--out" in c for c in plan)
    assert "sticky-pull-request-comment" in text["reconciler-plan.yml"]
    assert "upload-artifact" in text["reconciler-plan.yml"] and "path: plan.json" in text["reconciler-plan.yml"]

    apply = commands["reconciler-apply.yml"]
    assert any(c[:2] == ["apply", "plan.json"] for c in apply)  # the saved plan, never `apply -f`
    assert "branches: [main]" in text["reconciler-apply.yml"]
    assert "download-artifact" in text["reconciler-apply.yml"]

    drift = commands["reconciler-drift.yml"]
    assert any(c[0] == "drift" and "junit" in c and "drift.xml" in c for c in drift)
    assert "action-junit-report" in text["reconciler-drift.yml"]
    assert "report_paths: drift.xml" in text["reconciler-drift.yml"]


def test_secrets_come_from_ci_secrets_only() -> None:
    for path in [*WORKFLOWS, ROOT / ".pre-commit-hooks.yaml", ROOT / "examples" / "ci" / "pre-commit-config.yaml"]:
        content = path.read_text(encoding="utf-8")
        assert not re.search(r"\b[0-9a-fA-F]{64}\b", content), path  # no master key
        assert not re.search(r"://[^/\s:@]+:[^@\s$]+@", content.replace("PASSWORD@", "")), path  # no password
    for path in WORKFLOWS:
        env = load_workflow(path)["env"]
        for name in SECRETS:
            assert env[name] == f"${{{{ secrets.{name} }}}}", (path.name, name)


@pytest.mark.parametrize(("source", "command"), all_commands(), ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_every_reconciler_command_exists(source: str, command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, f"{source}: reconciler {' '.join(command)}: {result.output}{result.stderr}"
    assert "Usage: " in result.stdout

    # The arguments themselves parse too (option names, choices such as --format junit).
    group: click.Command = cli
    words = list(command)
    while isinstance(group, click.Group):
        name = words.pop(0)
        group = group.commands[name]
    group.make_context(name, words)


def test_the_pre_commit_hook_validates_without_database_or_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "reconciler-validate" and hook["language"] == "python"
    assert hook["pass_filenames"] is False  # the whole configuration, once: rules span files
    files = re.compile(hook["files"])
    assert files.search("access/workspace.yaml") and files.search("access/b.yml") and files.search("people.csv")
    assert not files.search("README.md")

    monkeypatch.delenv("ACME_CRM_TOKEN", raising=False)
    monkeypatch.delenv("RECONCILER_MASTER_KEY", raising=False)
    monkeypatch.setenv("RECONCILER_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    entry = shlex.split(hook["entry"])[1:]
    result = CliRunner().invoke(cli, [*entry, "-f", str(ROOT / "examples" / "workspace.yaml")])
    assert result.exit_code == 0, result.output + result.stderr
    assert "valid (2 workspaces" in result.stdout
