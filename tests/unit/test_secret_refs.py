"""Secret references cannot exfiltrate (issue 13): reserved variables, files outside the configuration's
directory, and the plan naming the reference, never the value.

Everything here is checked at ``validate`` time, without resolving anything; the plans with references are in
tests/functional/test_config_loading.py.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest
from helpers import run_cli

from reconciler import ops
from reconciler.config.loader import load_config
from reconciler.config.schema import json_schema
from reconciler.errors import ConfigError
from reconciler.ops import MetadataKeyChange, Plan, RoleChange
from reconciler.render.jsonplan import dump_saved_plan, load_saved_plan
from reconciler.render.text import render_text
from reconciler.state import Metadata

CANARY = "canary-Quokka-5521"  # a value that must never be printed


def write_config(directory: Path, metadata: str, *, settings: str = "") -> Path:
    """A one-workspace configuration whose admin has ``metadata`` (a YAML flow mapping)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "workspace.yaml"
    text = f"""\
        version: 1
        workspaces:
          - slug: acme
            name: Acme Corp
            {settings}
            users:
              - email: alice@acme.com
                first_name: Alice
                role: admin
                metadata: {metadata}
        """
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path, *, resolve: bool = False, environ: Mapping[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, resolve_secrets=resolve, environ=environ or {})
    return caught.value.lines()


def validate(path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    result = run_cli(["validate", "-f", str(path), *args], env={"RECONCILER_OUTBOX_DIR": "unused", **env})
    return result.exit_code, result.stdout, result.stderr


# --- {env:} -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "RECONCILER_MASTER_KEY",
        "RECONCILER_DATABASE_URL",
        "RECONCILER_SMTP_URL",
        "reconciler_master_key",  # names are compared case-insensitively (Windows environments are)
        "LOCKBOX_MASTER_KEY",
        "SECRET_KEY_BASE",
        "PG_PASS",
        "PGPASSWORD",
    ],
)
def test_a_reference_to_the_tools_own_variables_is_refused_at_validate_time(tmp_path: Path, name: str) -> None:
    path = write_config(tmp_path, f"{{api_key: {{env: {name}}}}}")

    code, stdout, stderr = validate(path, **{name: CANARY})  # no --resolve-secrets: refused all the same

    assert (code, stdout) == (1, "")
    assert stderr.splitlines() == [
        f"Error: {path}:10:30: workspaces[0].users[0].metadata.api_key.env: environment variable {name} holds "
        "reconciler's or ToolJet's own configuration or secrets and cannot be used for metadata (which every app "
        "of the workspace can read) (reserved: RECONCILER_*, LOCKBOX_*, DATABASE_URL, PGPASSWORD, "
        "PGRST_JWT_SECRET, PG_PASS, SECRET_KEY_BASE, TOOLJET_DB_PASS; put the value in a variable of its own)"
    ]
    assert CANARY not in stdout + stderr


def test_a_reference_to_an_ordinary_variable_is_accepted(tmp_path: Path) -> None:
    path = write_config(tmp_path, "{api_key: {env: ACME_RECONCILER_TOKEN}}")  # the prefix is what counts

    code, stdout, stderr = validate(path, "--resolve-secrets", ACME_RECONCILER_TOKEN=CANARY)

    assert (code, stderr) == (0, "")
    assert stdout == f"{path}: valid (1 workspace, 1 membership).\n"


def test_the_schema_tells_editors_which_variables_are_reserved() -> None:
    env = json_schema()["$defs"]["SecretRef"]["properties"]["env"]
    assert env["not"]["pattern"].startswith("^(RECONCILER_|LOCKBOX_)")
    assert "RECONCILER_*" in env["description"]


# --- {file:} ------------------------------------------------------------------------------------------


def outside_file(tmp_path: Path) -> Path:
    secret = tmp_path / "elsewhere" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(CANARY + "\n", encoding="utf-8")
    return secret


def test_a_file_outside_the_configurations_directory_is_refused(tmp_path: Path) -> None:
    outside_file(tmp_path)
    path = write_config(tmp_path / "config", "{a: {file: ../elsewhere/secret.txt}, b: {file: /etc/hostname}}")
    root = tmp_path / "config"
    hint = (
        "to read secrets from another directory, list it in this workspace's settings.secret_dirs, "
        "e.g. secret_dirs: [/run/secrets]"
    )

    assert problems(path) == [
        f"{path}:10:24: workspaces[0].users[0].metadata.a.file: secret file '../elsewhere/secret.txt' is outside "
        f"the configuration's directory {root} ({hint})",
        f"{path}:10:60: workspaces[0].users[0].metadata.b.file: secret file '/etc/hostname' is outside "
        f"the configuration's directory {root} ({hint})",
    ]


def test_a_symbolic_link_out_of_the_directory_is_followed_before_the_check(tmp_path: Path) -> None:
    secret = outside_file(tmp_path)
    path = write_config(tmp_path / "config", "{api_key: {file: secrets/key.txt}}")
    (tmp_path / "config" / "secrets").mkdir()
    (tmp_path / "config" / "secrets" / "key.txt").symlink_to(secret)

    code, stdout, stderr = validate(path, "--resolve-secrets")

    assert (code, stdout) == (1, "")
    assert stderr.splitlines() == [
        f"Error: {path}:10:30: workspaces[0].users[0].metadata.api_key.file: secret file 'secrets/key.txt' is "
        f"outside the configuration's directory {tmp_path / 'config'} (it resolves to {secret}) (to read secrets "
        "from another directory, list it in this workspace's settings.secret_dirs, e.g. secret_dirs: [/run/secrets])"
    ]
    assert CANARY not in stderr


def test_a_symbolic_link_inside_the_directory_is_fine(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config", "{api_key: {file: current.txt}}")
    (tmp_path / "config" / "v2.txt").write_text(CANARY, encoding="utf-8")
    (tmp_path / "config" / "current.txt").symlink_to("v2.txt")

    desired = load_config(path, environ={})

    assert desired.workspaces["acme"].workspace.memberships["alice@acme.com"].metadata == Metadata.of(
        {"api_key": CANARY}
    )


@pytest.mark.parametrize("listed", ["absolute", "relative"])
def test_secret_dirs_allows_a_listed_directory(tmp_path: Path, listed: str) -> None:
    secret = outside_file(tmp_path)
    directory = str(secret.parent) if listed == "absolute" else "../elsewhere"
    path = write_config(
        tmp_path / "config", f"{{api_key: {{file: {secret}}}}}", settings=f"settings: {{secret_dirs: [{directory}]}}"
    )

    desired = load_config(path, environ={})

    assert desired.workspaces["acme"].workspace.memberships["alice@acme.com"].metadata == Metadata.of(
        {"api_key": CANARY}
    )
    assert desired.workspaces["acme"].metadata_sources == {"alice@acme.com": {"api_key": f"file {secret}"}}


def test_secret_dirs_is_per_workspace_and_does_not_open_other_directories(tmp_path: Path) -> None:
    secret = outside_file(tmp_path)
    (tmp_path / "other").mkdir()
    path = write_config(
        tmp_path / "config",
        f"{{api_key: {{file: {secret}}}}}",
        settings=f"settings: {{secret_dirs: [{tmp_path}/other]}}",
    )

    [line] = problems(path)

    assert f"secret file '{secret}' is outside the configuration's directory {tmp_path / 'config'}" in line


def test_a_control_character_in_a_file_reference_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, '{api_key: {file: "x\\n  + user"}}')

    [line] = problems(path)

    assert "workspaces[0].users[0].metadata.api_key.file: the 'file' of a secret reference must not contain" in line


# --- the plan names the reference, the saved plan keeps it ----------------------------------------


def plan_with_sources() -> Plan:
    return Plan(
        ops=(
            ops.CreateMembership(
                workspace="acme",
                email="dana@acme.com",
                role="end-user",
                status="invited",
                groups=(),
                metadata_keys=("api_key", "team"),
                metadata=Metadata.of({"api_key": CANARY, "team": "ops"}),
                metadata_sources=(("api_key", "env ACME_KEY"),),
            ),
            ops.UpdateMembership(
                workspace="acme",
                email="bob@acme.com",
                role=RoleChange("acme", "bob@acme.com", "end-user", "builder", "declared"),
                metadata_changes=(
                    MetadataKeyChange("cert", "add"),
                    MetadataKeyChange("old", "remove"),
                    MetadataKeyChange("token", "change"),
                ),
                metadata=Metadata.of({"cert": CANARY, "token": CANARY}),
                metadata_sources=(("cert", "file secrets/cert.pem"), ("token", "file secrets/x.txt")),
            ),
        ),
        config_hash="h",
        state_fingerprint="f",
        created_at="2024-01-01T00:00:00Z",
    )


def test_the_plan_text_names_where_a_secret_comes_from() -> None:
    text = render_text(plan_with_sources())

    assert "      + metadata.api_key: (sensitive value, from env ACME_KEY)\n" in text
    assert "      + metadata.team: (sensitive value)\n" in text
    assert "      + metadata.cert: (sensitive value, from file secrets/cert.pem)\n" in text
    assert "      - metadata.old: (sensitive value removed)\n" in text
    assert "      ~ metadata.token: (sensitive value changed, from file secrets/x.txt)\n" in text
    assert CANARY not in text


def test_a_saved_plan_keeps_the_sources(tmp_path: Path) -> None:
    from reconciler.crypto import Keyring

    keyring = Keyring(os.urandom(32))
    plan = plan_with_sources()

    loaded = load_saved_plan(dump_saved_plan(plan, keyring), keyring)

    assert [op.metadata_sources for op in loaded.ops] == [op.metadata_sources for op in plan.ops]  # type: ignore[attr-defined]
    assert render_text(loaded) == render_text(plan)
