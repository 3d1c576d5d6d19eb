"""The CI examples and the GitHub Action: valid workflow YAML that calls only commands and options that exist,
secrets from CI only, a pre-commit hook that validates without a database or secrets, and every step's shell
script run by bash exactly as the GitHub runner runs it (``bash --noprofile --norc -eo pipefail {0}``, the step's
env, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files), with a fake ``reconciler`` that exits with a chosen code.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from reconciler.cli import cli

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "examples" / "ci").glob("*.yml"))
ACTION = ROOT / "action.yml"
SAMPLE_VALUES = {"$LOCK_TIMEOUT": "120"}  # shell variables that must parse as a number: the action's default
SECRETS = ("RECONCILER_MASTER_KEY", "RECONCILER_DATABASE_URL")
_SHELL_SPLIT = re.compile(r"\s(?:&&|\|\||\||;)\s|;\s*$")
_REDIRECT = re.compile(r"^(?:\d?>>?|<|&>)(.*)$")
_ARRAY = re.compile(r"^\s*([A-Za-z_]\w*)\+?=\((.*)\)\s*$")


def load_workflow(path: Path) -> dict:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), path
    return document


def run_scripts(workflow: dict) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in job.get("steps", []) if "run" in step]


def reconciler_commands(script: str) -> list[list[str]]:
    """Each ``reconciler ...`` invocation of a shell script, as its arguments without redirections.

    ``reconciler "${args[@]}"`` takes the words of ``args=(...)`` and of every ``args+=(...)`` of the script, so
    that every option the script may pass is checked."""
    commands = []
    lines = [line for line in script.replace("\\\n", " ").splitlines() if not line.strip().startswith("#")]
    arrays: dict[str, list[str]] = {}
    for line in lines:
        match = _ARRAY.match(line)
        if match:
            arrays.setdefault(match.group(1), []).extend(shlex.split(match.group(2)))
    for line in lines:
        if _ARRAY.match(line):
            continue
        for segment in _SHELL_SPLIT.split(line):
            if not re.search(r"(^|\s)reconciler(\s|$)", segment):
                continue  # (the split is naive: `jq ".[] | x"` is cut, but it is no reconciler command)
            words = shlex.split(segment, comments=True)
            while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in ("then", "do", "else")):
                words.pop(0)
            if words and words[0] == "reconciler":
                expanded = []
                for word in words[1:]:
                    array = re.fullmatch(r"\$\{(\w+)\[@\]\}", word)
                    expanded += arrays[array.group(1)] if array else [word]
                commands.append(_without_redirections(expanded))
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
    for step in load_workflow(ACTION)["runs"]["steps"]:
        found += [("action.yml", command) for command in reconciler_commands(step.get("run", ""))]
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
    assert {p.name for p in WORKFLOWS} == {
        "reconciler-plan.yml",
        "reconciler-apply.yml",
        "reconciler-drift.yml",
        "reconciler-expiry.yml",
    }
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
        "reconciler-expiry.yml": {"schedule", "workflow_dispatch"},
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

    expiry = commands["reconciler-expiry.yml"]  # issue 18: applies expiries, and nothing else
    assert [c for c in expiry if c[0] == "apply"] == [
        [
            "apply",
            "-f",
            "$CONFIG",
            "--auto-approve",
            "--only-expiries",
            "--actor",
            "expiry schedule",
            "--lock-timeout",
            "300",
        ]
    ]


def test_secrets_come_from_ci_secrets_only() -> None:
    for path in [
        *WORKFLOWS,
        ACTION,
        ROOT / ".pre-commit-hooks.yaml",
        ROOT / "examples" / "ci" / "pre-commit-config.yaml",
    ]:
        content = path.read_text(encoding="utf-8")
        assert not re.search(r"\b[0-9a-fA-F]{64}\b", content), path  # no master key
        assert not re.search(r"://[^/\s:@]+:[^@\s$]+@", content.replace("PASSWORD@", "")), path  # no password
    for path in WORKFLOWS:
        env = load_workflow(path)["env"]
        for name in SECRETS:
            assert env[name] == f"${{{{ secrets.{name} }}}}", (path.name, name)


@pytest.mark.parametrize(("source", "command"), all_commands(), ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_every_reconciler_command_exists(source: str, command: list[str]) -> None:
    if command == ["--version"]:  # the install steps check what they installed
        result = CliRunner().invoke(cli, command, prog_name="reconciler")
        assert result.exit_code == 0 and result.stdout.startswith("reconciler, version "), result.output
        return
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, f"{source}: reconciler {' '.join(command)}: {result.output}{result.stderr}"
    assert "Usage: " in result.stdout

    # The arguments themselves parse too (option names, choices such as --format junit).
    group: click.Command = cli
    words = [SAMPLE_VALUES.get(word, word) for word in command]
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


# --- every step's script, run by bash as the GitHub runner runs it -------------------------------------------------

RUNNER_BASH = (
    "--noprofile",
    "--norc",
    "-eo",
    "pipefail",
)  # `shell: bash` is `bash --noprofile --norc -eo pipefail {0}`
_EXPRESSION = re.compile(r"^\$\{\{\s*(.*?)\s*\}\}$")
PINNED = "access-reconciler[postgres] @ git+https://github.com/acme/reconciler@" + "3f" * 20
SECRET_VALUES = {
    "RECONCILER_DATABASE_URL": "postgresql://reconciler@db.internal/access",
    "RECONCILER_MASTER_KEY": "k" * 64,
    "RECONCILER_SMTP_URL": "smtp://mail.internal:587?starttls=1",
    "RECONCILER_MAIL_FROM": "Access <access@acme.example>",
}
FAKE_RECONCILER = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a", encoding="utf-8") as log:
    env = {{k: v for k, v in os.environ.items() if k.startswith("RECONCILER_") or k == "NO_COLOR"}}
    log.write(json.dumps({{"program": "reconciler", "args": args, "env": env}}) + "\\n")
if args == ["--version"]:
    print("reconciler, version 0.1.0")
    sys.exit(0)
with open(os.environ["FAKE_LOG"], encoding="utf-8") as log:
    calls = sum(1 for line in log if '"reconciler"' in line and '"--version"' not in line)
codes = os.environ.get("FAKE_RECONCILER_EXIT", "0").split(",")
for flag in ("--out", "--output", "-o"):
    if flag in args:
        with open(args[args.index(flag) + 1], "w", encoding="utf-8") as out:
            out.write(f"FAKE {{args[0]}} FILE\\n")
print(f"FAKE {{args[0]}} OUTPUT")
sys.exit(int(codes[min(calls, len(codes)) - 1]))
"""
FAKE_TOOL = """#!{python}
import json, os, sys
args = sys.argv[1:]
files = {{a.split("=@", 1)[0]: open(a.split("=@", 1)[1], encoding="utf-8").read() for a in args if "=@" in a}}
with open(os.environ["FAKE_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps({{"program": os.path.basename(sys.argv[0]), "args": args, "files": files}}) + "\\n")
if "--jq" in args:
    print(os.environ.get("FAKE_GH_EXISTING", ""), end="")
"""


def evaluate(value: object, context: dict) -> str:
    """A workflow value as the runner sets it: `${{ a.b || c.d }}` looked up in `context`, missing = ''."""
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value)
    match = _EXPRESSION.match(text.strip())
    if not match:
        assert "${{" not in text, text  # only whole-value expressions are used (and supported here)
        return text
    result: object = None
    for alternative in match.group(1).split("||"):
        result = context
        for part in alternative.strip().split("."):
            result = result.get(part) if isinstance(result, dict) else None
        if result not in (None, "", False):
            break
    return "" if result is None else str(result).lower() if isinstance(result, bool) else str(result)


@dataclass
class StepRun:
    returncode: int
    stdout: str
    outputs: dict[str, str]
    summary: str
    calls: list[dict]

    def reconciler(self) -> list[list[str]]:
        return [c["args"] for c in self.calls if c["program"] == "reconciler"]

    def program(self, name: str) -> list[dict]:
        return [c for c in self.calls if c["program"] == name]


@dataclass
class Runner:
    """A GitHub-hosted runner, as far as a step's `run:` script can tell."""

    tmp_path: Path
    secrets: dict[str, str] = field(default_factory=lambda: dict(SECRET_VALUES))
    vars: dict[str, str] = field(default_factory=lambda: {"RECONCILER_BASE_URL": "https://apps.acme.example"})
    inputs: dict[str, object] = field(default_factory=dict)
    event: dict[str, object] = field(default_factory=dict)
    installed: bool = True  # False: no reconciler on PATH (a broken install): the shell says 127

    def __post_init__(self) -> None:
        self.workspace = self.tmp_path / "workspace"
        self.workspace.mkdir(exist_ok=True)

    def context(self, env: dict[str, str]) -> dict:
        github = {"event": self.event, "token": "ghs_faketoken", "actor": "octocat"}
        return {"secrets": self.secrets, "vars": self.vars, "inputs": self.inputs, "github": github, "env": env}

    def run(self, step: dict, *env_layers: dict, exit_codes: str = "0", **extra: str) -> StepRun:
        assert step.get("shell", "bash") == "bash", step
        runner_temp = self.tmp_path / "runner-temp"
        bin_dir = self.tmp_path / "bin"
        for directory in (runner_temp, bin_dir):
            directory.mkdir(exist_ok=True)
        programs = {"pip": FAKE_TOOL, "gh": FAKE_TOOL}
        if self.installed:
            programs["reconciler"] = FAKE_RECONCILER
        for name in ("reconciler", "pip", "gh"):
            (bin_dir / name).unlink(missing_ok=True)
        for name, source in programs.items():
            (bin_dir / name).write_text(source.format(python=sys.executable), encoding="utf-8")
            (bin_dir / name).chmod(0o755)
        system_path = "/usr/bin:/bin"
        assert shutil.which("reconciler", path=system_path) is None
        files = {name: self.tmp_path / name.lower() for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV")}
        for file in (*files.values(), self.tmp_path / "calls.jsonl"):
            file.write_text("", encoding="utf-8")
        env = {
            "PATH": f"{bin_dir}:{system_path}",
            "HOME": str(self.tmp_path),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTOR": "octocat",
            "GITHUB_REPOSITORY": "acme/access",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_ACTION_PATH": str(ROOT),
            "RUNNER_TEMP": str(runner_temp),
            "FAKE_LOG": str(self.tmp_path / "calls.jsonl"),
            "FAKE_RECONCILER_EXIT": exit_codes,
            **{name: str(file) for name, file in files.items()},
        }
        layered: dict[str, str] = {}
        for layer in (*env_layers, step.get("env", {})):
            layered.update({name: evaluate(value, self.context(layered)) for name, value in layer.items()})
        env.update(layered)
        env.update(extra)
        script = runner_temp / "step.sh"
        script.write_text(step["run"], encoding="utf-8")
        result = subprocess.run(
            [shutil.which("bash") or "bash", *RUNNER_BASH, str(script)],
            cwd=self.workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        outputs = dict(line.split("=", 1) for line in files["GITHUB_OUTPUT"].read_text().splitlines() if line)
        calls = [json.loads(line) for line in (self.tmp_path / "calls.jsonl").read_text().splitlines()]
        return StepRun(
            result.returncode, result.stdout + result.stderr, outputs, files["GITHUB_STEP_SUMMARY"].read_text(), calls
        )


def step_named(steps: list[dict], name: str) -> dict:
    (step,) = [s for s in steps if s.get("name") == name or s.get("id") == name]
    return step


def workflow_step(workflow_file: str, job: str, name: str) -> tuple[dict, dict, dict]:
    """The step and the env layers above it (workflow, job)."""
    workflow = load_workflow(ROOT / "examples" / "ci" / workflow_file)
    return (
        step_named(workflow["jobs"][job]["steps"], name),
        workflow.get("env", {}),
        workflow["jobs"][job].get("env", {}),
    )


def test_scripts_never_hold_expressions() -> None:
    """Values reach the scripts through env, never pasted into the shell text (script injection), so the scripts
    run here exactly as on GitHub."""
    steps = [s for path in WORKFLOWS for job in load_workflow(path)["jobs"].values() for s in job["steps"]]
    steps += load_workflow(ACTION)["runs"]["steps"]
    scripts = [step["run"] for step in steps if "run" in step]
    assert len(scripts) >= 14
    for script in scripts:
        assert "${{" not in script, script
        syntax = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
        assert syntax.returncode == 0, syntax.stderr


PLAN_STEPS = [("reconciler-plan.yml", "plan"), ("reconciler-apply.yml", "plan")]


@pytest.mark.parametrize(("workflow_file", "job"), PLAN_STEPS)
@pytest.mark.parametrize(("code", "changes"), [("0", "false"), ("2", "true")])
def test_the_plan_step_accepts_no_changes_and_changes(
    workflow_file: str, job: str, code: str, changes: str, tmp_path: Path
) -> None:
    step, *env = workflow_step(workflow_file, job, "plan")
    run = Runner(tmp_path).run(step, *env, exit_codes=code)
    assert run.returncode == 0, run.stdout
    assert run.reconciler() == [
        ["plan", "-f", "access/", "--format", "markdown", "--detailed-exitcode", "--out", "plan.json"]
    ]
    assert run.calls[0]["env"]["RECONCILER_DATABASE_URL"] == SECRET_VALUES["RECONCILER_DATABASE_URL"]
    assert run.outputs == {"exitcode": code, "changes": changes}
    assert run.summary == "FAKE plan OUTPUT\n"
    assert (tmp_path / "workspace" / "plan.json").read_text() == "FAKE plan FILE\n"


@pytest.mark.parametrize(("workflow_file", "job"), PLAN_STEPS)
@pytest.mark.parametrize("code", ["1", "3", "141", "missing"])
def test_the_plan_step_fails_on_every_other_code(workflow_file: str, job: str, code: str, tmp_path: Path) -> None:
    step, *env = workflow_step(workflow_file, job, "plan")
    installed = code != "missing"
    run = Runner(tmp_path, installed=installed).run(step, *env, exit_codes=code if installed else "0")
    expected = code if installed else "127"  # command not found
    assert run.returncode != 0
    assert f"::error::reconciler plan failed (exit {expected})" in run.stdout
    assert run.outputs == {"exitcode": expected}  # no `changes`: the upload and the apply job are skipped
    assert run.summary == ""


def test_the_jobs_after_the_plan_follow_its_changes_output() -> None:
    plan = load_workflow(ROOT / "examples" / "ci" / "reconciler-plan.yml")["jobs"]["plan"]["steps"]
    assert step_named(plan, "Upload the saved plan")["if"] == "steps.plan.outputs.changes == 'true'"
    apply = load_workflow(ROOT / "examples" / "ci" / "reconciler-apply.yml")
    assert step_named(apply["jobs"]["plan"]["steps"], "Upload the saved plan")["if"] == (
        "steps.plan.outputs.changes == 'true'"
    )
    assert apply["jobs"]["plan"]["outputs"] == {"changes": "${{ steps.plan.outputs.changes }}"}
    assert apply["jobs"]["apply"]["if"] == "needs.plan.outputs.changes == 'true'"
    assert apply["jobs"]["apply"]["environment"] == "production"


@pytest.mark.parametrize(("code", "fails"), [("0", False), ("1", True), ("missing", True)])
def test_the_validate_step(code: str, fails: bool, tmp_path: Path) -> None:
    step, *env = workflow_step("reconciler-plan.yml", "plan", "Validate")
    run = Runner(tmp_path, installed=code != "missing").run(step, *env, exit_codes="0" if code == "missing" else code)
    assert (run.returncode != 0) == fails
    if code == "missing":
        assert run.returncode == 127


@pytest.mark.parametrize("workflow_file", [p.name for p in WORKFLOWS])
def test_the_secrets_check_stops_a_run_without_secrets(workflow_file: str, tmp_path: Path) -> None:
    job = {"reconciler-drift.yml": "drift", "reconciler-expiry.yml": "expire"}.get(workflow_file, "plan")
    step, *env = workflow_step(workflow_file, job, "Check the secrets")
    assert Runner(tmp_path).run(step, *env).returncode == 0
    run = Runner(tmp_path, secrets={}).run(step, *env)
    assert run.returncode == 1
    assert "::error::Set the RECONCILER_DATABASE_URL and RECONCILER_MASTER_KEY repository secrets." in run.stdout


INSTALL_STEPS = [
    ("reconciler-plan.yml", "plan"),
    ("reconciler-apply.yml", "plan"),
    ("reconciler-apply.yml", "apply"),
    ("reconciler-drift.yml", "drift"),
    ("reconciler-expiry.yml", "expire"),
]


@pytest.mark.parametrize(("workflow_file", "job"), INSTALL_STEPS)
def test_the_install_step_installs_a_pinned_reconciler(workflow_file: str, job: str, tmp_path: Path) -> None:
    step, workflow_env, job_env = workflow_step(workflow_file, job, "Install reconciler")
    # As shipped: a placeholder the user must replace, and the step says so instead of installing anything.
    assert workflow_env["RECONCILER_PACKAGE"] == (
        "access-reconciler[postgres] @ git+https://github.com/OWNER/REPO@COMMIT_SHA"
    )
    run = Runner(tmp_path).run(step, workflow_env, job_env)
    assert run.returncode == 1 and "::error::Set RECONCILER_PACKAGE to a pinned reconciler" in run.stdout
    assert run.calls == []

    for package in (PINNED, "access-reconciler[postgres]==0.2.0"):
        run = Runner(tmp_path).run(step, {**workflow_env, "RECONCILER_PACKAGE": package}, job_env)
        assert run.returncode == 0, run.stdout
        assert [c["args"] for c in run.program("pip")] == [["install", package]]
        assert run.reconciler() == [["--version"]]

    for unpinned in ("access-reconciler[postgres]", "reconciler[postgres]", PINNED[:-1], PINNED + "@main"):
        run = Runner(tmp_path).run(step, {**workflow_env, "RECONCILER_PACKAGE": unpinned}, job_env)
        assert run.returncode == 1 and run.calls == [], unpinned

    # pip "succeeded" but no reconciler came with it: the step fails (127), it does not go on.
    run = Runner(tmp_path, installed=False).run(step, {**workflow_env, "RECONCILER_PACKAGE": PINNED}, job_env)
    assert run.returncode == 127


def apply_step(runner: Runner, exit_codes: str = "0", **env: str) -> StepRun:
    step, workflow_env, job_env = workflow_step("reconciler-apply.yml", "apply", "Apply the saved plan")
    (runner.workspace / "plan.json").write_text("{}", encoding="utf-8")
    return runner.run(step, workflow_env, job_env, exit_codes=exit_codes, **env)


def test_the_apply_step_applies_the_saved_plan_with_mail_settings(tmp_path: Path) -> None:
    run = apply_step(Runner(tmp_path, event={"ref": "refs/heads/main"}))  # a push: no inputs
    assert run.returncode == 0, run.stdout
    assert run.reconciler() == [["apply", "plan.json", "-f", "access/", "--lock-timeout", "120", "--actor", "octocat"]]
    env = run.calls[0]["env"]
    assert env["RECONCILER_SMTP_URL"] == SECRET_VALUES["RECONCILER_SMTP_URL"]
    assert env["RECONCILER_MAIL_FROM"] == SECRET_VALUES["RECONCILER_MAIL_FROM"]
    assert env["RECONCILER_BASE_URL"] == "https://apps.acme.example"
    assert env["RECONCILER_MASTER_KEY"] == SECRET_VALUES["RECONCILER_MASTER_KEY"] and env["NO_COLOR"] == "1"
    assert run.outputs == {"exitcode": "0"}
    assert "### reconciler apply" in run.summary and "FAKE apply OUTPUT" in run.summary
    assert "::warning::" not in run.stdout


def test_the_apply_step_warns_without_smtp_or_base_url(tmp_path: Path) -> None:
    secrets = {k: v for k, v in SECRET_VALUES.items() if k not in ("RECONCILER_SMTP_URL", "RECONCILER_MAIL_FROM")}
    run = apply_step(Runner(tmp_path, secrets=secrets, vars={}))
    assert run.returncode == 0, run.stdout
    assert "::warning::RECONCILER_SMTP_URL is not set: invitation emails stay pending" in run.stdout
    assert "::warning::RECONCILER_BASE_URL is not set" in run.stdout
    assert "RECONCILER_SMTP_URL" not in {k for k, v in run.calls[0]["env"].items() if v}


@pytest.mark.parametrize(
    ("inputs", "allowed"), [({}, False), ({"allow_mass_change": False}, False), ({"allow_mass_change": True}, True)]
)
def test_mass_changes_only_through_the_reviewed_manual_run(inputs: dict, allowed: bool, tmp_path: Path) -> None:
    run = apply_step(Runner(tmp_path, inputs=inputs))
    assert run.returncode == 0, run.stdout
    (args,) = run.reconciler()
    assert ("--allow-mass-change" in args) == allowed
    assert ("::notice::--allow-mass-change given by octocat" in run.stdout) == allowed
    dispatch = load_workflow(ROOT / "examples" / "ci" / "reconciler-apply.yml")[True]["workflow_dispatch"]
    assert dispatch["inputs"]["allow_mass_change"] == {
        "description": dispatch["inputs"]["allow_mass_change"]["description"],
        "type": "boolean",
        "default": False,
    }


@pytest.mark.parametrize("code", ["1", "2", "missing"])
def test_the_apply_step_fails_on_every_code_but_0(code: str, tmp_path: Path) -> None:
    installed = code != "missing"
    run = apply_step(Runner(tmp_path, installed=installed), exit_codes=code if installed else "0")
    expected = code if installed else "127"
    assert run.returncode == 1
    assert f"::error::reconciler apply failed (exit {expected})" in run.stdout
    assert run.outputs == {"exitcode": expected}


def drift_steps() -> tuple[dict, dict, dict, dict]:
    detect, workflow_env, job_env = workflow_step("reconciler-drift.yml", "drift", "drift")
    fail, *_ = workflow_step("reconciler-drift.yml", "drift", "Fail on drift")
    return detect, fail, workflow_env, job_env


def test_drift_in_sync_passes_with_both_reports(tmp_path: Path) -> None:
    detect, fail, *env = drift_steps()
    run = Runner(tmp_path).run(detect, *env, exit_codes="0")
    assert run.returncode == 0, run.stdout
    assert run.reconciler() == [
        ["drift", "-f", "access/", "--format", "junit", "--output", "drift.xml"],
        ["drift", "-f", "access/", "--format", "markdown", "--output", "drift.md"],
    ]
    assert run.outputs == {"exitcode": "0"} and run.summary == "FAKE drift FILE\n"
    assert fail["if"] == "steps.drift.outputs.exitcode == '2'"  # skipped: the job passes


def test_drift_is_reported_then_fails_the_job(tmp_path: Path) -> None:
    detect, fail, *env = drift_steps()
    run = Runner(tmp_path).run(detect, *env, exit_codes="2")
    assert run.returncode == 0, run.stdout  # the reports are uploaded and published by the next steps
    assert run.outputs == {"exitcode": "2"} and run.summary == "FAKE drift FILE\n"
    assert len(run.reconciler()) == 2
    final = Runner(tmp_path).run(fail, *env)
    assert final.returncode == 1 and "::error::The database drifted from the configuration" in final.stdout


@pytest.mark.parametrize(("codes", "calls"), [("1", 1), ("4", 1), ("missing", 0), ("2,1", 2), ("0,127", 2)])
def test_drift_fails_on_every_other_code(codes: str, calls: int, tmp_path: Path) -> None:
    detect, _, *env = drift_steps()
    installed = codes != "missing"
    run = Runner(tmp_path, installed=installed).run(detect, *env, exit_codes=codes if installed else "0")
    assert run.returncode != 0
    assert len(run.reconciler()) == calls
    if calls < 2:  # the first drift failed: it says so; a failing second one fails the step by itself
        assert f"::error::reconciler drift failed (exit {codes if installed else 127})" in run.stdout
        assert run.summary == ""


# --- the composite action ----------------------------------------------------------------------------------------


def action() -> dict:
    return load_workflow(ACTION)


def action_run(runner: Runner, name: str, caller_env: dict | None = None, **kwargs: str) -> StepRun:
    """Run a step of action.yml with its inputs' defaults, overridden by runner.inputs."""
    defaults = {name: spec.get("default", "") for name, spec in action()["inputs"].items()}
    runner.inputs = {**{k: evaluate(v, runner.context({})) for k, v in defaults.items()}, **runner.inputs}
    step = step_named(action()["runs"]["steps"], name)
    return runner.run(step, caller_env or {}, **kwargs)


def test_the_action_is_a_composite_action_with_its_inputs() -> None:
    document = action()
    assert document["runs"]["using"] == "composite"
    assert {"mode", "config", "plan-file", "database-url", "master-key", "ref", "allow-mass-change"} <= set(
        document["inputs"]
    )
    steps = document["runs"]["steps"]
    for step in steps:
        assert ("uses" in step) != ("run" in step) and ("run" not in step or step["shell"] == "bash"), step
    assert step_named(steps, "plan")["if"] == "inputs.mode == 'plan'"
    assert step_named(steps, "apply")["if"] == "inputs.mode == 'apply'"
    assert document["outputs"]["changes"]["value"] == "${{ steps.plan.outputs.changes }}"


def test_the_action_installs_its_own_pinned_checkout_or_a_pinned_commit(tmp_path: Path) -> None:
    caller = {k: SECRET_VALUES[k] for k in SECRETS}  # the secrets in the caller's env
    run = action_run(Runner(tmp_path), "Install reconciler", caller)
    assert run.returncode == 0, run.stdout
    assert [c["args"] for c in run.program("pip")] == [["install", f"{ROOT}[postgres]"]]
    assert run.reconciler() == [["--version"]]

    commit = "3f" * 20
    run = action_run(
        Runner(tmp_path, inputs={"ref": commit, "repository": "acme/reconciler"}), "Install reconciler", caller
    )
    assert run.returncode == 0, run.stdout
    assert [c["args"] for c in run.program("pip")] == [["install", PINNED]]

    for inputs, message in (
        ({"ref": "v0.1.0", "repository": "acme/reconciler"}, "ref must be a full commit sha"),
        ({"ref": commit}, "ref needs repository"),
        ({"mode": "destroy"}, "mode must be plan or apply, not 'destroy'"),
    ):
        run = action_run(Runner(tmp_path, inputs=inputs), "Install reconciler", caller)
        assert run.returncode == 1 and f"::error::{message}" in run.stdout and run.calls == [], inputs

    run = action_run(Runner(tmp_path, installed=False), "Install reconciler", caller)
    assert run.returncode == 127


def test_the_action_takes_the_secrets_from_inputs_or_the_environment(tmp_path: Path) -> None:
    run = action_run(Runner(tmp_path), "Install reconciler", {})
    assert run.returncode == 1 and "::error::Give database-url and master-key" in run.stdout and run.calls == []

    inputs = {"database-url": "postgresql://from-input/db", "master-key": "i" * 64}
    run = action_run(Runner(tmp_path, inputs=inputs), "plan", {k: SECRET_VALUES[k] for k in SECRETS})
    assert run.returncode == 0, run.stdout
    assert run.calls[0]["env"]["RECONCILER_DATABASE_URL"] == "postgresql://from-input/db"
    assert run.calls[0]["env"]["RECONCILER_MASTER_KEY"] == "i" * 64


PULL_REQUEST = {"pull_request": {"number": 42}}


@pytest.mark.parametrize(("code", "changes"), [("0", "false"), ("2", "true")])
def test_the_action_plans_and_posts_the_comment(code: str, changes: str, tmp_path: Path) -> None:
    caller = {k: SECRET_VALUES[k] for k in SECRETS}
    run = action_run(Runner(tmp_path, event=PULL_REQUEST), "plan", caller, exit_codes=code)
    assert run.returncode == 0, run.stdout
    assert run.reconciler() == [
        ["plan", "-f", "access/", "--format", "markdown", "--detailed-exitcode", "--out", "plan.json"]
    ]
    markdown = tmp_path / "runner-temp" / "reconciler-plan.md"
    assert run.outputs == {"exitcode": code, "changes": changes, "markdown-file": str(markdown)}
    assert run.summary == "FAKE plan OUTPUT\n"
    listing, post = run.program("gh")
    assert listing["args"][:2] == ["api", "repos/acme/access/issues/42/comments"] and "--jq" in listing["args"]
    assert post["args"][:4] == ["api", "--method", "POST", "repos/acme/access/issues/42/comments"]
    assert post["files"]["body"] == "<!-- reconciler-plan:default -->\nFAKE plan OUTPUT\n"
    assert "Posted the plan comment on pull request #42." in run.stdout


def test_the_action_updates_its_earlier_comment(tmp_path: Path) -> None:
    caller = {k: SECRET_VALUES[k] for k in SECRETS}
    runner = Runner(tmp_path, event=PULL_REQUEST, inputs={"comment-tag": "prod"})
    run = action_run(runner, "plan", caller, exit_codes="2", FAKE_GH_EXISTING="1234\n5678\n")
    assert run.returncode == 0, run.stdout
    listing, patch = run.program("gh")
    assert '"<!-- reconciler-plan:prod -->"' in listing["args"][listing["args"].index("--jq") + 1]
    assert patch["args"][:4] == ["api", "--method", "PATCH", "repos/acme/access/issues/comments/1234"]
    assert patch["files"]["body"].startswith("<!-- reconciler-plan:prod -->\n")


@pytest.mark.parametrize(
    ("runner_kwargs", "message"),
    [
        ({"event": {}}, "::notice::Not a pull request"),
        ({"event": PULL_REQUEST, "inputs": {"comment": "false"}}, None),
    ],
)
def test_the_action_comments_only_on_pull_requests_when_asked(
    runner_kwargs: dict, message: str | None, tmp_path: Path
) -> None:
    run = action_run(Runner(tmp_path, **runner_kwargs), "plan", {k: SECRET_VALUES[k] for k in SECRETS}, exit_codes="2")
    assert run.returncode == 0 and run.program("gh") == []
    assert message is None or message in run.stdout


@pytest.mark.parametrize("code", ["1", "3", "missing"])
def test_the_action_plan_fails_on_every_other_code(code: str, tmp_path: Path) -> None:
    installed = code != "missing"
    runner = Runner(tmp_path, event=PULL_REQUEST, installed=installed)
    run = action_run(runner, "plan", {k: SECRET_VALUES[k] for k in SECRETS}, exit_codes=code if installed else "0")
    assert run.returncode == 1
    assert f"::error::reconciler plan failed (exit {code if installed else 127})" in run.stdout
    assert run.program("gh") == [] and run.summary == ""


def test_the_action_applies_the_saved_plan(tmp_path: Path) -> None:
    caller = {**SECRET_VALUES, "RECONCILER_BASE_URL": "https://apps.acme.example"}
    runner = Runner(tmp_path, inputs={"mode": "apply", "allow-mass-change": "true", "lock-timeout": "30"})
    (runner.workspace / "plan.json").write_text("{}", encoding="utf-8")
    run = action_run(runner, "apply", caller)
    assert run.returncode == 0, run.stdout
    assert run.reconciler() == [
        ["apply", "plan.json", "--lock-timeout", "30", "--actor", "octocat", "--allow-mass-change"]
    ]
    assert run.calls[0]["env"]["RECONCILER_SMTP_URL"] == SECRET_VALUES["RECONCILER_SMTP_URL"]
    assert run.outputs == {"exitcode": "0"} and "::warning::" not in run.stdout

    run = action_run(Runner(tmp_path, inputs={"mode": "apply"}), "apply", {k: SECRET_VALUES[k] for k in SECRETS})
    assert run.returncode == 0 and run.reconciler()[0][-1] == "octocat"  # no --allow-mass-change by default
    assert "::warning::RECONCILER_SMTP_URL is not set" in run.stdout

    # with the configuration checked out, it goes with the saved plan: its policies must be the plan's (issue 18)
    (runner.workspace / "access").mkdir()
    run = action_run(runner, "apply", caller)
    assert run.reconciler()[-1][:5] == ["apply", "plan.json", "--lock-timeout", "30", "--actor"]
    assert run.reconciler()[-1][6:8] == ["-f", "access/"], run.reconciler()


@pytest.mark.parametrize("code", ["1", "2", "missing", "no-plan-file"])
def test_the_action_apply_fails_on_every_code_but_0(code: str, tmp_path: Path) -> None:
    installed = code != "missing"
    runner = Runner(tmp_path, inputs={"mode": "apply"}, installed=installed)
    if code != "no-plan-file":
        (runner.workspace / "plan.json").write_text("{}", encoding="utf-8")
    run = action_run(
        runner, "apply", {k: SECRET_VALUES[k] for k in SECRETS}, exit_codes=code if code.isdigit() else "0"
    )
    assert run.returncode == 1
    if code == "no-plan-file":
        assert "::error::No saved plan at plan.json" in run.stdout and run.calls == []
    else:
        assert f"::error::reconciler apply failed (exit {code if installed else 127})" in run.stdout


@pytest.mark.parametrize(("code", "fails"), [("0", False), ("1", True), ("missing", True)])
def test_the_expiry_step_applies_only_expiries_and_fails_on_anything_else(
    code: str, fails: bool, tmp_path: Path
) -> None:
    step, *env = workflow_step("reconciler-expiry.yml", "expire", "Apply expiries")
    installed = code != "missing"
    run = Runner(tmp_path, installed=installed).run(step, *env, exit_codes=code if installed else "0")
    assert (run.returncode != 0) == fails, run.stdout
    if installed:
        assert run.reconciler() == [
            [
                "apply",
                "-f",
                "access/",
                "--auto-approve",
                "--only-expiries",
                "--actor",
                "expiry schedule",
                "--lock-timeout",
                "300",
            ]
        ]
        assert run.calls[0]["env"]["RECONCILER_DATABASE_URL"] == SECRET_VALUES["RECONCILER_DATABASE_URL"]
    if fails:
        assert "::error::reconciler apply --only-expiries failed" in run.stdout
