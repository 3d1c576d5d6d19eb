"""Loading the configuration as plan and apply see it (issue 13): secret references named in the plan, secrets
resolved only for the selected workspaces, what ``-f DIR`` loads (subdirectories too, issue 17) and warns about, and
a config hash that does not depend on how the path was spelled.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import Harness, config_yaml, workspace_yaml

from reconciler.config.loader import load_config
from reconciler.render.text import NO_CHANGES

FIRST = "tok-Axolotl-1177"
SECOND = "tok-Narwhal-9034"
CERT = "cert-Okapi-4410"
ADMIN = "- {email: alice@acme.com, first_name: Alice, role: admin}\n"


def plan_text(harness: Harness, *args: str, path: Path | None = None) -> str:
    result = harness.cli("plan", "-f", str(path or harness.config_path), *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


# --- the plan names the secret reference, never the value -----------------------------------------


def test_the_plan_shows_where_each_secret_comes_from(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_KEY", FIRST)
    secrets = harness.config_path.parent / "secrets"
    secrets.mkdir()
    (secrets / "cert.txt").write_text(CERT + "\n", encoding="utf-8")
    users = ADMIN + (
        "- {email: bob@acme.com, first_name: Bob, role: end-user,\n"
        "   metadata: {api_key: {env: ACME_KEY}, cert: {file: secrets/cert.txt}, team: ops}}\n"
    )
    harness.write(config_yaml(workspace_yaml(users=users)))

    created = plan_text(harness)

    assert "      + metadata.api_key: (sensitive value, from env ACME_KEY)\n" in created
    assert "      + metadata.cert: (sensitive value, from file secrets/cert.txt)\n" in created
    assert "      + metadata.team: (sensitive value)\n" in created
    assert FIRST not in created and CERT not in created

    assert harness.cli("apply", "-f", str(harness.config_path), "--auto-approve").exit_code == 0
    assert harness.metadata_of("bob@acme.com") == {"api_key": FIRST, "cert": CERT, "team": "ops"}
    harness.assert_in_sync()

    monkeypatch.setenv("ACME_KEY", SECOND)
    changed = plan_text(harness)

    assert (
        '  ~ user "bob@acme.com"\n      ~ metadata.api_key: (sensitive value changed, from env ACME_KEY)\n' in changed
    )
    assert "metadata.cert" not in changed
    assert FIRST not in changed and SECOND not in changed

    assert harness.cli("apply", "-f", str(harness.config_path), "--auto-approve").exit_code == 0
    assert harness.metadata_of("bob@acme.com") == {"api_key": SECOND, "cert": CERT, "team": "ops"}
    harness.assert_in_sync()


def test_a_saved_plan_shows_the_reference_when_applied(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_KEY", FIRST)
    users = ADMIN + "- {email: bob@acme.com, first_name: Bob, role: end-user, metadata: {api_key: {env: ACME_KEY}}}\n"
    harness.write(config_yaml(workspace_yaml(users=users)))
    out = harness.directory / "plan.json"
    assert harness.cli("plan", "-f", str(harness.config_path), "--out", str(out)).exit_code == 0
    monkeypatch.delenv("ACME_KEY")  # apply PLANFILE needs no secret: the value travels encrypted in the file

    applied = harness.cli("apply", str(out))

    assert applied.exit_code == 0, applied.stderr
    assert "      + metadata.api_key: (sensitive value, from env ACME_KEY)\n" in applied.stdout
    assert FIRST not in out.read_text() + applied.stdout
    assert harness.metadata_of("bob@acme.com") == {"api_key": FIRST}
    monkeypatch.setenv("ACME_KEY", FIRST)
    harness.assert_in_sync()


# --- plan --workspace resolves only the selected workspaces' secrets -------------------------------


def two_workspaces(harness: Harness) -> None:
    beta_users = (
        "- {email: alice@acme.com, first_name: Alice, role: admin, metadata: {api_key: {env: BETA_UNSET_KEY}}}\n"
    )
    harness.write(
        config_yaml(
            workspace_yaml(users=ADMIN),
            workspace_yaml(slug="beta", name="Beta", users=beta_users),
        )
    )


def test_plan_for_one_workspace_does_not_need_the_others_secrets(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BETA_UNSET_KEY", raising=False)
    two_workspaces(harness)

    everything = harness.cli("plan", "-f", str(harness.config_path))
    assert everything.exit_code == 1
    assert "environment variable BETA_UNSET_KEY is not set" in everything.stderr

    one = harness.cli("plan", "-f", str(harness.config_path), "--workspace", "acme")
    assert one.exit_code == 0, one.stderr
    assert 'workspace "acme" (Acme Corp)' in one.stdout and "beta" not in one.stdout

    applied = harness.cli("apply", "-f", str(harness.config_path), "--workspace", "acme", "--auto-approve")
    assert applied.exit_code == 0, applied.stderr
    assert harness.scalar("SELECT count(*) FROM workspaces") == 1
    assert plan_text(harness, "--workspace", "acme") == NO_CHANGES + "\n"
    drift = harness.cli("drift", "-f", str(harness.config_path), "--workspace", "acme")
    assert drift.exit_code == 0, drift.stderr


def test_the_other_workspaces_are_still_checked(harness: Harness) -> None:
    """Only resolution is limited: a reserved variable in another workspace is refused all the same."""
    beta_users = (
        "- {email: alice@acme.com, first_name: Alice, role: admin, metadata: {k: {env: RECONCILER_MASTER_KEY}}}\n"
    )
    harness.write(config_yaml(workspace_yaml(users=ADMIN), workspace_yaml(slug="beta", name="Beta", users=beta_users)))

    result = harness.cli("plan", "-f", str(harness.config_path), "--workspace", "acme")

    assert result.exit_code == 1
    assert "environment variable RECONCILER_MASTER_KEY holds reconciler's or ToolJet's own" in result.stderr


# --- -f DIR ---------------------------------------------------------------------------------------


def config_directory(root: Path) -> Path:
    """A configuration directory with what real repositories hold besides the configuration."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "workspace.yaml").write_text(config_yaml(workspace_yaml(users=ADMIN)), encoding="utf-8")
    (root / ".workspace.yaml.swp").write_text("not yaml", encoding="utf-8")
    (root / ".#workspace.yaml").write_text("version: 1\nworkspaces: [{slug: BROKEN}]\n", encoding="utf-8")
    (root / "._workspace.yaml").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (root / ".github").mkdir()
    (root / ".github" / "plan.yml").write_text("on: push\n", encoding="utf-8")
    (root / "secrets").mkdir()
    (root / "secrets" / "key.txt").write_text("x", encoding="utf-8")
    (root / "team-b").mkdir()
    (root / "team-b" / "beta.yaml").write_text(
        config_yaml(workspace_yaml(slug="beta", name="Beta", users=ADMIN)), encoding="utf-8"
    )
    return root


def test_a_directory_loads_its_subdirectories_and_skips_dot_files(harness: Harness) -> None:
    root = config_directory(harness.directory / "repo")  # team-b/beta.yaml: loaded (issue 17); .github/: skipped

    validated = harness.cli("validate", "-f", str(root))
    assert validated.exit_code == 0, validated.stderr
    assert validated.stdout == f"{root}: valid (2 workspaces, 2 memberships).\n"
    assert validated.stderr == ""

    planned = harness.cli("plan", "-f", str(root))
    assert planned.exit_code == 0, planned.stderr
    assert 'workspace "acme"' in planned.stdout and 'workspace "beta"' in planned.stdout

    applied = harness.cli("apply", "-f", str(root), "--auto-approve")
    assert applied.exit_code == 0, applied.stderr
    assert plan_text(harness, path=root) == NO_CHANGES + "\n"


def test_a_symlinked_subdirectory_is_not_followed_and_the_warning_comes_with_the_errors(harness: Harness) -> None:
    root = config_directory(harness.directory / "repo")
    (root / "loop").symlink_to(root, target_is_directory=True)  # followed, it would load everything again, forever
    (root / "broken.yaml").write_text("version: 1\nworkspaces: [{slug: gamma}]\n", encoding="utf-8")

    result = harness.cli("validate", "-f", str(root))

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Warning: {root / 'loop'}: a symbolic link to a directory is not followed (pass it with -f on its own)",
        f"Error: {root / 'broken.yaml'}:2:14: workspaces[0]: missing required key 'name'",
        f"Error: {root / 'broken.yaml'}:2:14: workspaces[0]: Atleast one active admin is required (declare a user "
        "with role: admin in workspace 'gamma')",
    ]


def test_a_directory_with_only_dot_files_holds_no_configuration(harness: Harness) -> None:
    root = harness.directory / "hidden"
    root.mkdir()
    (root / ".workspace.yaml").write_text(config_yaml(workspace_yaml(users=ADMIN)), encoding="utf-8")

    result = harness.cli("validate", "-f", str(root))

    assert result.exit_code == 1
    assert result.stderr == f"Error: {root}: directory holds no *.yaml or *.yml files\n"


# --- config_hash ----------------------------------------------------------------------------------


def test_the_config_hash_does_not_depend_on_how_the_path_is_spelled(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = harness.directory / "examples"
    root.mkdir()
    (root / "workspace.yaml").write_text(
        config_yaml(workspace_yaml(users=ADMIN, extra="users_csv: [people.csv]")), encoding="utf-8"
    )
    (root / "people.csv").write_text("Full Name,Email,Role\nBob Stone,bob@acme.com,End User\n", encoding="utf-8")
    monkeypatch.chdir(harness.directory)

    spellings = ["examples", "examples/", "./examples", str(root), "examples/../examples"]
    hashes = {spelling: load_config(spelling, environ={}).config_hash for spelling in spellings}
    files = ["examples/workspace.yaml", "./examples/workspace.yaml", str(root / "workspace.yaml")]
    hashes |= {spelling: load_config(spelling, environ={}).config_hash for spelling in files}

    assert len(set(hashes.values())) == 1, hashes
    as_shown = json.loads(harness.cli("plan", "-f", "./examples/", "--format", "json").stdout)["config_hash"]
    assert as_shown == hashes["examples"]

    (root / "people.csv").write_text("Full Name,Email,Role\nBob Stone,bob@acme.com,Builder\n", encoding="utf-8")
    assert load_config("examples", environ={}).config_hash != hashes["examples"]  # the content still counts
