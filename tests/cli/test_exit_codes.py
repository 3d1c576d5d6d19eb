"""The command line's edge (SPEC 3): every error exits 1, usage errors included; 2 means "changes" or "drift"
only; ``--help`` exits 0; output cut by ``| head`` ends quietly; ``--version`` names this distribution; shell
completion scripts are produced.

The commands are found by walking the command tree, so a new command or option is covered without editing this
file. A few cases run as real processes (``python -m reconciler``, and ``reconciler`` in a bash pipeline).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from reconciler.cli import cli
from reconciler.cli.app import DISTRIBUTION

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "workspace.yaml"


def walk(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            found += walk(sub, (*path, name))
    return found


ALL = walk(cli)
COMMANDS = [(path, command) for path, command in ALL if not isinstance(command, click.Group)]
GROUPS = [(path, command) for path, command in ALL if isinstance(command, click.Group)]


def name_of(value: object) -> str:
    if isinstance(value, tuple):
        return " ".join(value) or "reconciler"
    return str(value)


def options_where(predicate) -> list[tuple[tuple[str, ...], str]]:  # type: ignore[no-untyped-def]
    return [
        (path, param.opts[0])
        for path, command in ALL
        for param in command.params
        if isinstance(param, click.Option) and not param.is_flag and predicate(param)
    ]


def invoke(args: list[str], tmp_path: Path) -> Result:
    env = {
        "RECONCILER_DATABASE_URL": f"sqlite:///{tmp_path}/never-created.db",
        "RECONCILER_OUTBOX_DIR": str(tmp_path / "outbox"),
        "NO_COLOR": "1",
    }
    result = CliRunner().invoke(cli, args, env=env, prog_name="reconciler")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def assert_usage_error(result: Result, path: tuple[str, ...], message: str, *, usage: bool = True) -> None:
    assert result.exit_code == 1, (result.exit_code, result.stderr)  # never 2: that means "changes"/"drift"
    if usage:  # click's usage line stays
        assert f"Usage: reconciler {' '.join(path)}".rstrip() in result.stderr
    assert f"Error: {message}" in result.stderr, result.stderr
    assert result.stdout == ""


def test_the_walk_finds_every_command() -> None:
    names = {name_of(path) for path, _ in ALL}
    assert {"reconciler", "plan", "apply", "drift", "validate", "db upgrade", "csv template", "keys rotate"} <= names
    assert {"invites send", "export", "users", "explain", "history", "report", "schema", "accept-invite"} <= names
    assert any(options_where(lambda p: isinstance(p.type, click.Choice)))
    assert any(options_where(lambda p: isinstance(p.type, click.types._NumberParamTypeBase)))


@pytest.mark.parametrize(("path", "command"), ALL, ids=name_of)
def test_help_exits_0(path: tuple[str, ...], command: click.Command, tmp_path: Path) -> None:
    for flag in ("--help", "-h"):
        result = invoke([*path, flag], tmp_path)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith(f"Usage: reconciler {' '.join(path)}".rstrip())
        assert "Example" in result.stdout or not path  # SPEC 3: every command's help has an example
    assert not (tmp_path / "never-created.db").exists()


@pytest.mark.parametrize(("path", "command"), ALL, ids=name_of)
def test_an_unknown_option_exits_1(path: tuple[str, ...], command: click.Command, tmp_path: Path) -> None:
    result = invoke([*path, "--no-such-option"], tmp_path)
    assert_usage_error(result, path, "No such option '--no-such-option'")


@pytest.mark.parametrize(("path", "command"), GROUPS, ids=name_of)
def test_an_unknown_command_exits_1(path: tuple[str, ...], command: click.Command, tmp_path: Path) -> None:
    result = invoke([*path, "no-such-command"], tmp_path)
    assert_usage_error(result, path, "No such command 'no-such-command'")


@pytest.mark.parametrize(("path", "command"), GROUPS, ids=name_of)
def test_a_group_without_its_command_exits_1(path: tuple[str, ...], command: click.Command, tmp_path: Path) -> None:
    result = invoke(list(path), tmp_path)
    assert result.exit_code == 1, result.stderr  # the help is shown, but nothing was done
    assert f"Usage: reconciler {' '.join(path)}".rstrip() in result.output


REQUIRED = [(path, param) for path, command in COMMANDS for param in command.params if param.required]


@pytest.mark.parametrize(("path", "param"), REQUIRED, ids=lambda v: name_of(v) if isinstance(v, tuple) else v.name)
def test_a_missing_required_parameter_exits_1(path: tuple[str, ...], param: click.Parameter, tmp_path: Path) -> None:
    result = invoke(list(path), tmp_path)
    assert result.exit_code == 1, result.stderr
    assert "Error: Missing " in result.stderr and "Usage: reconciler" in result.stderr
    # Given alone, the missing parameter is named (another missing one may be reported first otherwise).
    others = [p for p in dict(COMMANDS)[path].params if p.required and p is not param]
    if not others:
        kind = "option" if isinstance(param, click.Option) else "argument"
        assert f"Error: Missing {kind}" in result.stderr
        assert (param.opts[0] if kind == "option" else param.human_readable_name) in result.stderr


def test_every_required_option_is_tested() -> None:
    assert {(name_of(path), param.name) for path, param in REQUIRED} >= {
        ("plan", "config_path"),
        ("drift", "config_path"),
        ("validate", "config_path"),
        ("accept-invite", "link_or_token"),
    }


@pytest.mark.parametrize(
    ("path", "option"), options_where(lambda p: isinstance(p.type, click.Choice)), ids=lambda v: name_of(v)
)
def test_a_bad_choice_exits_1(path: tuple[str, ...], option: str, tmp_path: Path) -> None:
    result = invoke([*path, option, "no-such-choice"], tmp_path)
    assert_usage_error(result, path, f"Invalid value for '{option}'")


@pytest.mark.parametrize(
    ("path", "option"),
    options_where(lambda p: isinstance(p.type, click.types._NumberParamTypeBase)),
    ids=lambda v: name_of(v),
)
def test_a_bad_number_exits_1(path: tuple[str, ...], option: str, tmp_path: Path) -> None:
    result = invoke([*path, option, "many"], tmp_path)
    assert_usage_error(result, path, f"Invalid value for '{option}'")


@pytest.mark.parametrize(("path", "option"), options_where(lambda p: True), ids=lambda v: name_of(v))
def test_an_option_without_its_value_exits_1(path: tuple[str, ...], option: str, tmp_path: Path) -> None:
    result = invoke([*path, option], tmp_path)
    assert_usage_error(result, path, f"Option '{option}' requires an argument", usage=False)  # click's wording


def test_an_unreadable_file_exits_1(tmp_path: Path) -> None:
    for args in (["plan", "-f", str(tmp_path / "missing.yaml")], ["apply", str(tmp_path / "missing-plan.json")]):
        result = invoke(args, tmp_path)
        assert result.exit_code == 1, (args, result.stderr)
        assert "missing" in result.stderr and "Traceback" not in result.stderr


# --- real processes -------------------------------------------------------------------------------------------


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "_RECONCILER_"))}
    env.update(
        NO_COLOR="1",
        PYTHONDONTWRITEBYTECODE="1",
        RECONCILER_DATABASE_URL=f"sqlite:///{tmp_path}/never-created.db",
        RECONCILER_OUTBOX_DIR=str(tmp_path / "outbox"),
        **extra,
    )
    return env


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        env=environment(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "-f", str(EXAMPLE), "--detailed-exitcode", "--formt", "markdown"], "No such option '--formt'"),
        (["drift", "-f", str(EXAMPLE), "--format", "xml"], "Invalid value for '--format'"),
        (["drift", "--format", "junit"], "Missing option '-f' / '--file'"),
        (["pln", "-f", str(EXAMPLE)], "No such command 'pln'"),
        (["--backend", "mysql", "plan", "-f", str(EXAMPLE)], "Invalid value for '--backend'"),
    ],
    ids=["unknown-option", "bad-choice", "missing-f", "unknown-command", "bad-global-choice"],
)
def test_usage_errors_exit_1_in_a_real_process(args: list[str], message: str, tmp_path: Path) -> None:
    result = run(args, tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"Error: {message}" in result.stderr
    assert "Usage: reconciler" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "never-created.db").exists()


def test_help_exits_0_in_a_real_process(tmp_path: Path) -> None:
    result = run(["plan", "--help"], tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("Usage: reconciler plan") and result.stderr == ""


def shim(tmp_path: Path) -> Path:
    """A ``reconciler`` on PATH that runs this interpreter's reconciler (exec: signals reach the shell as such)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "reconciler"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m reconciler "$@"\n')
    script.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [("reconciler csv template | head -c1", "F"), ("reconciler schema | head -n1", "{\n")],
)
def test_output_piped_into_head_ends_quietly(pipeline: str, expected: str, tmp_path: Path) -> None:
    bin_dir = shim(tmp_path)
    env = environment(tmp_path, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    script = f'{pipeline}\necho "status=${{PIPESTATUS[0]}}" >&2\n'
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout == expected
    # 0 when the output fitted into the pipe before head left, 141 (SIGPIPE) when it did not; never a message.
    assert result.stderr in ("status=0\n", "status=141\n"), result.stderr


@pytest.mark.parametrize("args", [["schema"], ["csv", "template"], ["--help"], ["plan", "--help"]], ids=" ".join)
def test_a_closed_output_ends_by_sigpipe_without_a_message(args: list[str], tmp_path: Path) -> None:
    """The reader is gone before the first write: the conventional end, as `cat` or `git log` do."""
    with subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        stderr = process.stderr.read()
        assert process.wait(timeout=60) == -signal.SIGPIPE
    assert stderr == b""  # no "Error: Broken pipe", no "Exception ignored"


def test_a_broken_pipe_in_bash_with_pipefail_is_141(tmp_path: Path) -> None:
    bin_dir = shim(tmp_path)
    env = environment(tmp_path, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    script = "set -o pipefail\nreconciler schema | (exec 0<&-; true)\n"  # the reader closes at once
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stderr) == (141, "")


# --- version and completion ------------------------------------------------------------------------------------


def test_version_names_this_distribution_even_beside_the_unrelated_reconciler(tmp_path: Path) -> None:
    """`pip install reconciler` installs another project; if it sits in the same environment, its version must
    not be reported as ours."""
    import importlib.metadata

    impostor = tmp_path / "site" / "reconciler-0.2.2.dist-info"
    impostor.mkdir(parents=True)
    (impostor / "METADATA").write_text("Metadata-Version: 2.1\nName: reconciler\nVersion: 0.2.2\n")
    ours = importlib.metadata.version(DISTRIBUTION)
    result = run(["--version"], tmp_path, PYTHONPATH=str(tmp_path / "site"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"reconciler, version {ours}\n"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'name = "{DISTRIBUTION}"' in pyproject and f'version = "{ours}"' in pyproject


@pytest.mark.parametrize(
    ("shell", "expected"),
    [
        ("bash", "complete -o nosort -F _reconciler_completion reconciler"),
        ("zsh", "#compdef reconciler"),
        ("fish", "complete --no-files --command reconciler"),
    ],
)
def test_the_completion_script_is_produced(shell: str, expected: str, tmp_path: Path) -> None:
    result = run([], tmp_path, _RECONCILER_COMPLETE=f"{shell}_source")
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout and "_RECONCILER_COMPLETE" in result.stdout


def test_completion_completes_commands_and_choices(tmp_path: Path) -> None:
    def complete(words: str) -> list[str]:  # what bash asks for the word after `words`, or the last one if partial
        cword = len(words.split()) - (0 if words.endswith(" ") else 1)
        result = run([], tmp_path, _RECONCILER_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=str(cword))
        assert result.returncode == 0, result.stderr
        return [line.split(",", 1)[1] for line in result.stdout.splitlines()]

    assert complete("reconciler csv t") == ["template"]
    assert complete("reconciler drift --format ") == ["text", "json", "markdown", "junit"]
    assert not (tmp_path / "never-created.db").exists()


def test_the_docs_show_how_to_enable_completion() -> None:
    docs = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8") + (ROOT / "README.md").read_text(encoding="utf-8")
    for line in (
        'eval "$(_RECONCILER_COMPLETE=bash_source reconciler)"',
        'eval "$(_RECONCILER_COMPLETE=zsh_source reconciler)"',
        "_RECONCILER_COMPLETE=fish_source reconciler | source",
    ):
        assert line in docs, line
