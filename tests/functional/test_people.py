"""users, explain, keys rotate and the secrecy of metadata and tokens (issue 4)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from reconciler.backends.builtin.db import normalize_url
from reconciler.cli import cli, register_later_commands

register_later_commands()
KEY_1 = "11" * 32
KEY_2 = "22" * 32
SECRET = "s3cr3t-value-9f2c"

COUNTING = textwrap.dedent(
    """\
    version: 1
    workspaces:
      - slug: one
        name: One
        users:
          - {email: a@x.example, first_name: A, role: admin}
          - {email: b@x.example, first_name: B, role: builder}
          - {email: c@x.example, first_name: C, role: end-user}
          - {email: d@x.example, first_name: D, role: admin, status: archived}
      - slug: old
        name: Old
        status: archived
        users:
          - {email: g@x.example, first_name: G, role: admin}
          - {email: e@x.example, first_name: E, role: builder}
      - slug: three
        name: Three
        users:
          - {email: a@x.example, first_name: A, role: admin}
          - {email: b@x.example, first_name: B, role: end-user}
          - {email: f@x.example, first_name: F, role: end-user}
    """
)

EXPLAIN = textwrap.dedent(
    f"""\
    version: 1
    workspaces:
      - slug: acme
        name: Acme
        apps: [{{slug: crm, name: CRM}}, {{slug: wiki, name: Wiki}}, {{slug: pay, name: Pay}}]
        data_sources: [{{name: pg}}]
        roles:
          builder:
            granular:
              apps: [{{access: view, apps: all}}]
        groups:
          - name: editors
            granular:
              apps: [{{access: edit, apps: [crm]}}]
          - name: readers
            permissions: {{folders: {{create: true}}}}
            granular:
              apps: [{{access: view, apps: [wiki], hide_from_dashboard: true}}]
              data_sources: [{{access: use, data_sources: [pg]}}]
        users:
          - {{email: admin@acme.example, first_name: Ada, role: admin}}
          - email: eve@acme.example
            first_name: Eve
            last_name: Stone
            role: end-user
            groups: [editors, readers]
            metadata: {{token: {SECRET}, team: blue-{SECRET}}}
    """
)


def invoke(url: str, *args: str, env: dict[str, str] | None = None) -> Result:
    base = {"RECONCILER_MASTER_KEY": KEY_1, "RECONCILER_OUTBOX_DIR": str(Path(url.rsplit("/", 1)[0]))}
    return CliRunner().invoke(cli, ["--database", url, *args], env={**base, **(env or {})}, catch_exceptions=False)


def apply(url: str, tmp_path: Path, config: str, env: dict[str, str] | None = None) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(config)
    env = {"RECONCILER_OUTBOX_DIR": str(tmp_path / "outbox"), **(env or {})}
    result = invoke(url, "apply", "-f", str(path), "--auto-approve", env=env)
    assert result.exit_code == 0, result.output
    return path


def test_users_counts_as_tooljet_does(database_url: str, tmp_path: Path) -> None:
    apply(database_url, tmp_path, COUNTING)
    result = invoke(database_url, "users", "--all-workspaces")
    assert result.exit_code == 0, result.output
    # counted: a, b, c (one) + a, b, f (three); d archived, e/g only in an archived workspace
    # builders: a (admin), b (builder in one, end-user in three)
    assert result.stdout.rstrip().splitlines()[-1] == "Total users: 4  Builders: 2"
    data = json.loads(invoke(database_url, "users", "--all-workspaces", "--format", "json").stdout)
    assert (data["total_users"], data["builders"]) == (4, 2)
    assert len(data["users"]) == 9
    one = invoke(database_url, "users", "--workspace", "three")
    assert one.stdout.rstrip().splitlines()[-1] == "Total users: 3  Builders: 1"
    old = invoke(database_url, "users", "--workspace", "old")
    assert old.stdout.rstrip().splitlines()[-1] == "Total users: 0  Builders: 0"
    missing = invoke(database_url, "users", "--workspace", "nope")
    assert missing.exit_code == 1 and "no such workspace: nope" in missing.stderr


def test_explain_names_the_granting_group(database_url: str, tmp_path: Path) -> None:
    apply(database_url, tmp_path, EXPLAIN)
    result = invoke(database_url, "explain", "eve@acme.example", "--workspace", "acme")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert (
        'role:   builder (implied by group "editors" (edit on crm), group "readers" (folders.create, use on pg))' in out
    )
    assert 'folders.create              yes  via group "readers"' in out
    assert "apps.create                 no" in out
    assert 'crm   edit         via group "editors"' in out
    assert 'wiki  view         via role "builder"' in out
    data = json.loads(
        invoke(database_url, "explain", "eve@acme.example", "--workspace", "acme", "--format", "json").stdout
    )
    assert data["apps"]["crm"] == {"access": "edit", "granted_by": ['group "editors"']}
    assert data["apps"]["pay"] == {"access": "view", "granted_by": ['role "builder"']}
    assert data["data_sources"]["pg"] == {"access": "use", "granted_by": ['group "readers"']}
    assert data["permissions"] == {"folders.create": ['group "readers"']}
    assert data["currentUser"] == {
        "email": "eve@acme.example",
        "firstName": "Eve",
        "lastName": "Stone",
        "groups": ["all_users", "editors", "readers", "builder"],
        "role": "builder",
        "metadata": {"team": "••••", "token": "••••"},
    }
    assert SECRET not in out
    revealed = invoke(database_url, "explain", "eve@acme.example", "--workspace", "acme", "--reveal")
    assert f'"token": "{SECRET}"' in revealed.stdout


def test_keys_rotate_makes_the_previous_key_unnecessary(database_url: str, tmp_path: Path) -> None:
    config = apply(database_url, tmp_path, EXPLAIN)
    only_new = {"RECONCILER_MASTER_KEY": KEY_2}
    refused = invoke(database_url, "plan", "-f", str(config), env=only_new)
    assert refused.exit_code == 1 and "could not be decrypted" in refused.stderr
    rotated = invoke(database_url, "keys", "rotate", env={**only_new, "RECONCILER_PREVIOUS_KEYS": KEY_1})
    assert rotated.exit_code == 0, rotated.output
    assert "Re-encrypted 1 metadata record(s)" in rotated.stdout
    # the previous key is dropped: everything still decrypts with the new key alone
    plan = invoke(database_url, "plan", "-f", str(config), env=only_new)
    assert plan.stdout.strip() == "No changes. The database matches the configuration.", plan.output
    revealed = invoke(database_url, "explain", "eve@acme.example", "--workspace", "acme", "--reveal", env=only_new)
    assert SECRET in revealed.stdout
    assert invoke(database_url, "plan", "-f", str(config)).exit_code == 1  # the old key alone no longer works


def test_no_metadata_value_or_token_in_outputs_or_audit(database_url: str, tmp_path: Path) -> None:
    config = apply(database_url, tmp_path, EXPLAIN)
    changed = config.read_text().replace(f"token: {SECRET}", f"token: new-{SECRET}")
    config.write_text(changed)
    outputs = []
    for args in (
        ["plan", "-f", str(config)],
        ["plan", "-f", str(config), "--format", "json"],
        ["plan", "-f", str(config), "--format", "markdown"],
        ["plan", "-f", str(config), "--out", str(tmp_path / "plan.json")],
        ["drift", "-f", str(config)],
        ["drift", "-f", str(config), "--format", "json"],
        ["apply", "-f", str(config), "--auto-approve"],
        ["users", "--all-workspaces"],
        ["users", "--all-workspaces", "--format", "json"],
        ["explain", "eve@acme.example", "--workspace", "acme"],
        ["explain", "eve@acme.example", "--workspace", "acme", "--format", "json"],
        ["history"],
    ):
        result = invoke(database_url, *args, env={"RECONCILER_OUTBOX_DIR": str(tmp_path / "outbox")})
        outputs.append(result.output)
    outputs.append((tmp_path / "plan.json").read_text())
    engine = create_engine(normalize_url(database_url))
    with engine.connect() as conn:
        for table in ("audit_runs", "audit_changes", "membership_metadata", "memberships", "outbox"):
            outputs.append(" ".join(str(row) for row in conn.execute(text(f"SELECT * FROM {table}"))))
    engine.dispose()
    blob = "\n".join(outputs)
    assert SECRET not in blob
    assert "token" in blob  # the key name is shown, only the value is secret
    if database_url.startswith("sqlite:///"):  # the raw database file holds no plaintext either
        raw = Path(database_url.removeprefix("sqlite:///")).read_bytes()
        assert SECRET.encode() not in raw and b"blue-" not in raw
        assert b"eve@acme.example" in raw  # (the scan does see the file's plain content)
