"""``reconciler validate`` and ``reconciler schema`` through the real command line.

The corpus of invalid configurations (tests/data/invalid, described in its README.md) runs as one parametrized
test, in-process (``reconciler validate -f CASE`` through click's runner), with exact stderr lines; a few cases
also run as real processes (``python -m reconciler``), for the exit code and stderr of the real command.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
from click.testing import CliRunner

from reconciler import cli
from reconciler.config.loader import load_config
from reconciler.config.yamlsource import load_yaml_file
from reconciler.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "invalid"
EXAMPLE = ROOT / "examples" / "workspace.yaml"
UNDEFINED = "CORPUS_UNDEFINED_SECRET_VARIABLE"  # the variable secret-env-undefined.yaml names


def environment(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RECONCILER_") and k not in ("ACME_CRM_TOKEN", UNDEFINED)
    }
    env.update(NO_COLOR="1", PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def run_cli(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env=env or environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- the corpus -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str  # the path passed to -f, relative to CORPUS
    args: tuple[str, ...]
    valid_without_args: bool
    expected: tuple[str, ...]
    comment: str


def read_case(expected: Path) -> Case:
    stem = expected.name.removesuffix(".expected")
    candidates = [p for p in (CORPUS / f"{stem}.yaml", CORPUS / f"{stem}.yml", CORPUS / stem) if p.exists()]
    assert len(candidates) == 1, f"{expected.name}: expected exactly one of {stem}.yaml, {stem}.yml, {stem}/"
    args: tuple[str, ...] = ()
    valid_without_args = False
    lines: list[str] = []
    comments: list[str] = []
    for line in expected.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            comments.append(line.lstrip("# "))
        elif line.startswith("args:"):
            args = tuple(line.removeprefix("args:").split())
        elif line.strip() == "without-args: valid":
            valid_without_args = True
        elif line.strip():
            assert line.startswith("Error: "), f"{expected.name}: not a directive or an Error line: {line!r}"
            lines.append(line)
    assert lines, f"{expected.name}: no expected Error lines"
    assert comments, f"{expected.name}: say in a # comment what the case shows"
    return Case(candidates[0].name, args, valid_without_args, tuple(lines), comments[0])


CASES = [read_case(p) for p in sorted(CORPUS.glob("*.expected"))]


def test_corpus_is_complete() -> None:
    """Every case has its expectation and every expectation its case; the corpus covers issue 2's list."""
    entries = {p.name for p in CORPUS.iterdir()} - {"README.md"}
    cases = {c.name for c in CASES}
    sidecars = {p.name for p in CORPUS.glob("*.expected")}
    assert entries - sidecars == cases, f"cases without a .expected file: {sorted(entries - sidecars - cases)}"
    assert len(CASES) >= 35
    directories = [c for c in CASES if (CORPUS / c.name).is_dir()]
    assert len(directories) >= 3  # same slug in two files, users_csv cases


def run_in_process(*args: str, monkeypatch: pytest.MonkeyPatch) -> subprocess.CompletedProcess[str]:
    """``reconciler ARGS`` in this process, in the corpus directory, with the corpus's environment."""
    monkeypatch.chdir(CORPUS)
    env: dict[str, str | None] = {k: None for k in os.environ if k not in environment()} | environment()
    result = CliRunner().invoke(cli.cli, list(args), env=env, prog_name="reconciler")
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def check_case(case: Case, run: Any) -> None:
    result = run("validate", "-f", case.name, *case.args)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    assert result.returncode == 1, result.stderr
    assert tuple(result.stderr.splitlines()) == case.expected
    for line in case.expected:  # file:line:column, then the message
        assert re.match(r"^Error: [^:]+:\d+(:\d+)?: ", line), line
    if case.valid_without_args:
        plain = run("validate", "-f", case.name)
        assert (plain.returncode, plain.stderr) == (0, ""), plain.stderr
        assert "valid" in plain.stdout


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_invalid_config(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    check_case(case, lambda *args: run_in_process(*args, monkeypatch=monkeypatch))


SMOKE = ("bad-role.yaml", "typo-grups.yaml", "secret-env-undefined.yaml")


@pytest.mark.parametrize("case", [c for c in CASES if c.name in SMOKE], ids=lambda c: c.name)
def test_invalid_config_as_a_real_process(case: Case) -> None:
    """The same expectations from the real command (exit code, stderr), for a few cases."""
    check_case(case, lambda *args: run_cli(*args, cwd=CORPUS))


def test_billion_laughs_is_rejected_fast_with_flat_memory() -> None:
    path = CORPUS / "billion-laughs.yaml"
    with pytest.raises(ConfigError):  # warm up: imports and pydantic schemas are not the document's cost
        load_config(path)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        with pytest.raises(ConfigError) as info:
            load_config(path)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "billion laughs" in str(info.value)
    assert elapsed < 1.0
    assert peak < 2 * 1024 * 1024, f"peak {peak:,} bytes"  # 9**9 expanded strings would be gigabytes


# --- the example ----------------------------------------------------------------------------------------


def test_example_is_valid() -> None:
    result = run_cli("validate", "-f", "examples/workspace.yaml")
    assert (result.returncode, result.stderr) == (0, "")
    assert "valid" in result.stdout


def test_the_counts_read_in_the_singular_and_the_plural(tmp_path: Path) -> None:
    one = tmp_path / "one.yaml"
    one.write_text(
        "version: 1\nworkspaces:\n  - slug: acme\n    name: Acme\n"
        "    users: [{email: a@acme.example, first_name: A, role: admin}]\n",
        encoding="utf-8",
    )
    result = run_cli("validate", "-f", str(one))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"{one}: valid (1 workspace, 1 membership).\n"

    result = run_cli("validate", "-f", "examples/workspace.yaml")
    assert re.fullmatch(r"examples/workspace\.yaml: valid \(2 workspaces, \d+ memberships\)\.\n", result.stdout)


def test_example_resolves_its_secrets() -> None:
    result = run_cli(
        "validate", "-f", "examples/workspace.yaml", "--resolve-secrets", env=environment(ACME_CRM_TOKEN="t0k3n")
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert "t0k3n" not in result.stdout


def test_example_without_its_secret_names_the_variable() -> None:
    result = run_cli("validate", "-f", "examples/workspace.yaml", "--resolve-secrets")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: examples/workspace.yaml:")
    assert "metadata.crm_token: environment variable ACME_CRM_TOKEN is not set" in lines[0]


def test_missing_path_is_an_error_without_traceback() -> None:
    result = run_cli("validate", "-f", "no/such/file.yaml")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "Error: no/such/file.yaml: no such file or directory\n"


# --- the JSON schema ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    result = run_cli("schema")
    assert (result.returncode, result.stderr) == (0, "")
    return json.loads(result.stdout)


def walk(node: Any, path: str = "#") -> Any:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


def test_schema_structure(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert schema["required"] == ["version"]
    assert schema["properties"]["version"]["const"] == 1
    defs = schema["$defs"]
    for name in ("Workspace", "User", "Group", "AppGrant", "DataSourceGrant", "SecretRef", "Roles", "Settings"):
        assert name in defs
    for path, node in walk(schema):
        if isinstance(node, dict) and node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"
        if isinstance(node, dict) and "$ref" in node:
            assert node["$ref"].removeprefix("#/$defs/") in defs, path
    # every property has a real schema: nothing is left as {} (accept anything)
    for path, node in walk(schema):
        if re.search(r"/properties/[^/]+$", path):
            assert set(node) - {"title", "description", "default"}, f"{path} has no schema"


def test_schema_grant_targets_and_metadata_values(schema: dict[str, Any]) -> None:
    defs = schema["$defs"]
    apps = defs["AppGrant"]["properties"]["apps"]
    assert {"const": "all"}.items() <= apps["anyOf"][0].items()
    assert apps["anyOf"][1]["type"] == "array"
    assert apps["anyOf"][1]["items"]["type"] == "string"
    sources = defs["DataSourceGrant"]["properties"]["data_sources"]
    assert [b.get("const", b.get("type")) for b in sources["anyOf"]] == ["all", "array"]
    metadata = defs["User"]["properties"]["metadata"]
    assert metadata["type"] == "object"
    values = metadata["additionalProperties"]["oneOf"]
    assert values[0] == {"type": "string", "maxLength": 2000}
    assert values[1] == {"$ref": "#/$defs/SecretRef"}
    secret = defs["SecretRef"]
    assert set(secret["properties"]) == {"env", "file"}
    assert secret["properties"]["env"]["type"] == "string"
    assert {"required": ["env"]} in secret["oneOf"]
    roles = defs["Roles"]["properties"]
    assert roles["admin"]["not"] == {} and roles["end-user"]["not"] == {}


def validate_against(schema: dict[str, Any], path: Path) -> None:
    """What an editor's yaml-language-server does: validate the document with a real JSON Schema validator.
    YAML 1.2, which editors read, has no timestamp type: ``expires: 2027-03-31`` is the string the schema's
    ``format: date`` describes (PyYAML's YAML 1.1 reads a date object), so dates are handed over as text."""
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(_dates_as_text(load_yaml_file(path, display_name=path.name).data))


def _dates_as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _dates_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_as_text(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


def test_example_validates_against_the_schema(schema: dict[str, Any]) -> None:
    validate_against(schema, EXAMPLE)
    for part in sorted((ROOT / "examples" / "split").rglob("*.yaml")):  # each file of a split workspace
        validate_against(schema, part)


def test_schema_shows_the_ownership_settings_and_templates(schema: dict[str, Any]) -> None:
    defs = schema["$defs"]
    settings = defs["Settings"]["properties"]
    assert settings["prune"]["enum"] == ["archive", "none", "confirm"]
    assert settings["ignore"]["items"]["pattern"] == r"^[^@\s]*@[^@\s]*$"
    assert set(defs["Manage"]["properties"]) == {"roles", "groups", "metadata"}
    rails = defs["Rails"]["properties"]
    assert (rails["mass_change_share"]["minimum"], rails["mass_change_share"]["maximum"]) == (0, 1)
    assert (rails["mass_change_share"]["default"], rails["mass_change_min"]["default"]) == (0.25, 10)
    assert defs["Group"]["properties"]["members"]["enum"] == ["managed", "external"]
    assert defs["Group"]["properties"]["template"]["type"] == "string"
    assert schema["properties"]["templates"]["$ref"] == "#/$defs/Templates"
    assert defs["Workspace"]["required"] == ["slug"]  # name: in one of the files that declare the workspace


@pytest.mark.parametrize(
    "name",
    [
        "typo-grups.yaml",
        "bad-role.yaml",
        "admin-permissions.yaml",
        "metadata-unquoted.yaml",
        "secret-malformed.yaml",
        "invalid-slug.yaml",
        "reserved-group-name.yaml",
        "group-name-too-long.yaml",
        "version-2.yaml",
        "metadata-too-long.yaml",
        "grant-targets.yaml",
        "wrong-types.yaml",
        "missing-required.yaml",
        "ownership-settings.yaml",
    ],
)
def test_schema_rejects_form_errors(schema: dict[str, Any], name: str) -> None:
    """Editors see the form errors too: the schema refuses what the loader refuses for its form."""
    with pytest.raises(jsonschema.ValidationError):
        validate_against(schema, CORPUS / name)


# --- help -----------------------------------------------------------------------------------------------


def test_top_level_help_has_an_example() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "Example" in result.stdout


def commands() -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []

    def visit(command: click.Command, path: tuple[str, ...]) -> None:
        found.append(path)
        if isinstance(command, click.Group):
            for name, sub in sorted(command.commands.items()):
                visit(sub, (*path, name))

    visit(cli.cli, ())
    return found[1:]


@pytest.mark.parametrize("path", commands(), ids=" ".join)
def test_every_command_help_has_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli.cli, [*path, "--help"], prog_name="reconciler")
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
