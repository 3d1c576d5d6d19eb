"""users, explain, keys rotate and the secrecy of metadata and tokens (issue 4); key sources, decryption errors
and the rotation of the SQLite key file (issue 13)."""

from __future__ import annotations

import base64
import json
import re
import stat
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from reconciler.backends.builtin.db import normalize_url
from reconciler.cli import cli

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


def invoke(url: str, *args: str, env: dict[str, str | None] | None = None) -> Result:
    base = {"RECONCILER_MASTER_KEY": KEY_1, "RECONCILER_OUTBOX_DIR": str(Path(url.rsplit("/", 1)[0]))}
    return CliRunner().invoke(cli, ["--database", url, *args], env={**base, **(env or {})}, catch_exceptions=False)


def apply(url: str, tmp_path: Path, config: str, env: dict[str, str | None] | None = None) -> Path:
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
    assert missing.exit_code == 1 and "--workspace nope: no such workspace in the database" in missing.stderr


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
    # the builder role states no flags: the ten are false; the optional keys it leaves out keep the new workspace's
    # default (ToolJet's createDefaultGroups gives a builder every flag)
    optional = ("apps.promote", "apps.release", "workflows.create", "workflows.delete", "tooljet_database.create")
    assert data["permissions"] == {"folders.create": ['group "readers"']} | {
        flag: ['role "builder"'] for flag in data["permissions"] if flag != "folders.create"
    }
    assert set(optional) <= data["permissions"].keys() and "apps.create" not in data["permissions"]
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


ONE_ENGINE = textwrap.dedent(
    """\
    version: 1
    workspaces:
      - slug: acme
        name: Acme
        apps: [{slug: crm, name: CRM}]
        groups:
          - name: editors
            granular:
              apps: [{access: edit, apps: [crm]}]
        users:
          - {email: admin@acme.example, first_name: Ada, role: admin}
          - {email: bo@acme.example, first_name: Bo, role: builder, groups: [editors]}
          - {email: cy@acme.example, first_name: Cy, role: end-user, groups: [editors]}
          - {email: di@acme.example, first_name: Di, role: end-user}
      - slug: labs
        name: Labs
        users:
          - {email: admin@acme.example, first_name: Ada, role: admin}
          - {email: di@acme.example, first_name: Di, role: builder, status: archived}
    """
)


def test_explain_finds_the_member_however_the_address_is_typed(database_url: str, tmp_path: Path) -> None:
    """EMAIL arguments are compared in the stored form (NFC, lower-case), as the configuration's addresses are: an
    upper-case address typed with a decomposed accent (as macOS input gives it) finds the member."""
    config = EXPLAIN.replace("eve@acme.example", "\u00e8ve@acme.example")
    apply(database_url, tmp_path, config)
    typed = "E\u0300VE@Acme.Example"  # È as E + combining grave accent, upper case
    result = invoke(database_url, "explain", typed, "--workspace", "acme")
    assert result.exit_code == 0, result.output
    assert "\u00e8ve@acme.example" in result.stdout
    assert 'crm   edit         via group "editors"' in result.stdout


def test_explain_and_report_give_one_answer(database_url: str, tmp_path: Path) -> None:
    """explain and report ask one engine: the same role, cause, access and grantors for every member, with and
    without the configuration (before, explain could not use the declared role: for bo, declared builder, it said
    'implied by group "editors"' while report -f said 'declared (also implied by ...)')."""
    config = apply(database_url, tmp_path, ONE_ENGINE)
    for with_config in ([], ["-f", str(config)]):
        report = json.loads(
            invoke(database_url, "report", "--workspace", "acme", "--format", "json", *with_config).stdout
        )
        for entry in report["workspaces"][0]["members"]:
            args = ("explain", entry["email"], "--workspace", "acme", "--format", "json", *with_config)
            explained = json.loads(invoke(database_url, *args).stdout)
            assert explained["role"] == {"name": entry["role"], "cause": entry["role_cause"]["text"]}
            for kind in ("apps", "data_sources"):
                assert {k: v["access"] for k, v in explained[kind].items()} == {
                    k: v["access"] for k, v in entry["access"][kind].items()
                }
                assert {
                    k: [g.replace(' "', ":").rstrip('"') for g in v["granted_by"]] for k, v in explained[kind].items()
                } == {k: v["granted_by"] for k, v in entry["access"][kind].items()}
    declared = invoke(database_url, "explain", "bo@acme.example", "--workspace", "acme", "-f", str(config))
    assert 'role:   builder (declared (also implied by group "editors" (edit on crm)))' in declared.stdout
    held = invoke(database_url, "explain", "cy@acme.example", "--workspace", "acme", "-f", str(config))
    assert 'role:   builder (implied by group "editors" (edit on crm))' in held.stdout


def test_users_and_report_count_seats_as_tooljet_does(database_url: str, tmp_path: Path) -> None:
    """ToolJet (server/src/modules/licensing/services/count.service.ts, instance mode) makes a seat holder a
    builder when they hold the admin or builder role in any workspace, even in an archived membership: di is an
    end-user in acme and an archived builder in labs, so a builder. Before, users and report said end-user."""
    apply(database_url, tmp_path, ONE_ENGINE)
    listing = invoke(database_url, "users", "--all-workspaces")
    assert listing.stdout.rstrip().splitlines()[-1] == "Total users: 4  Builders: 4"
    report = json.loads(invoke(database_url, "report", "--all-workspaces", "--format", "json").stdout)
    assert report["seats"] == {"users": 4, "builders": 4, "admins": 1}
    # per workspace, the role must be that workspace's: di is an end-user seat in acme
    assert report["workspaces"][0]["summary"]["seats"] == {"users": 4, "builders": 3, "admins": 1}
    acme_only = invoke(database_url, "users", "--workspace", "acme")
    assert acme_only.stdout.rstrip().splitlines()[-1] == "Total users: 4  Builders: 3"


def test_keys_rotate_makes_the_previous_key_unnecessary(database_url: str, tmp_path: Path) -> None:
    config = apply(database_url, tmp_path, EXPLAIN)
    only_new: dict[str, str | None] = {"RECONCILER_MASTER_KEY": KEY_2}
    refused = invoke(database_url, "plan", "-f", str(config), env=only_new)
    assert refused.exit_code == 1 and "could not be decrypted" in refused.stderr
    rotated = invoke(database_url, "keys", "rotate", env={**only_new, "RECONCILER_PREVIOUS_KEYS": KEY_1})
    assert rotated.exit_code == 0, rotated.output
    assert rotated.stdout.startswith("Re-encrypted 1 metadata record(s) and 2 queued email(s) with the master key from")
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


# --- where the key came from, and keys rotate on the SQLite key file (issue 13) -------------------------------

NO_ENV_KEY: dict[str, str | None] = {"RECONCILER_MASTER_KEY": None}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _key_path(sqlite_url: str) -> Path:
    return Path(sqlite_url.removeprefix("sqlite:///") + ".key")


def _reveal(url: str, env: dict[str, str | None] | None = None) -> str:
    result = invoke(url, "explain", "eve@acme.example", "--workspace", "acme", "--reveal", env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_keys_rotate_with_the_sqlite_key_file_leaves_a_working_setup(sqlite_url: str, tmp_path: Path) -> None:
    config = apply(sqlite_url, tmp_path, EXPLAIN, env=NO_ENV_KEY)
    key_path = _key_path(sqlite_url)
    old_key = key_path.read_text()
    shown = _reveal(sqlite_url, NO_ENV_KEY)
    assert SECRET in shown

    rotated = invoke(sqlite_url, "keys", "rotate", env=NO_ENV_KEY)
    assert rotated.exit_code == 0, rotated.output
    lines = rotated.stdout.splitlines()
    assert lines[0] == (
        f"Re-encrypted 1 metadata record(s) and 2 queued email(s) with a new master key, now in {key_path}."
    )
    found = re.fullmatch(r"The previous key is kept in (\S+) \(mode 0600\): .*", lines[1])
    assert found is not None, lines
    previous = Path(found.group(1))
    assert previous.parent == key_path.parent and previous.name.startswith("reconciler.db.key.previous-")
    assert previous.read_text() == old_key and _mode(previous) == 0o600  # the old key is where the message says
    assert f"Back up {key_path}" in rotated.stderr
    new_key = key_path.read_text()
    assert new_key != old_key and _mode(key_path) == 0o600
    assert not Path(f"{key_path}.new").exists()
    assert new_key.strip() not in rotated.output and old_key.strip() not in rotated.output

    # The next commands work with the key file alone, and show the same values.
    plan = invoke(sqlite_url, "plan", "-f", str(config), env=NO_ENV_KEY)
    assert plan.exit_code == 0 and plan.stdout.strip() == NO_CHANGES_TEXT, plan.output
    assert _not_notes(plan.stderr) == []
    assert _reveal(sqlite_url, NO_ENV_KEY) == shown
    # The data really is under the new key: the old key alone no longer opens it.
    old_only = invoke(sqlite_url, "plan", "-f", str(config), env={"RECONCILER_MASTER_KEY": old_key.strip()})
    assert old_only.exit_code == 1 and "could not be decrypted" in old_only.stderr
    # An apply writes under the new key, and a fresh plan is empty after it.
    config.write_text(config.read_text().replace(f"token: {SECRET}", f"token: new-{SECRET}"))
    applied = invoke(sqlite_url, "apply", "-f", str(config), "--auto-approve", env=NO_ENV_KEY)
    assert applied.exit_code == 0, applied.output
    assert f'"token": "new-{SECRET}"' in _reveal(sqlite_url, NO_ENV_KEY)
    again = invoke(sqlite_url, "plan", "-f", str(config), env=NO_ENV_KEY)
    assert again.stdout.strip() == NO_CHANGES_TEXT, again.output


def test_keys_rotate_interrupted_after_the_commit_keeps_the_data_readable(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reconciler.keys

    config = apply(sqlite_url, tmp_path, EXPLAIN, env=NO_ENV_KEY)
    key_path = _key_path(sqlite_url)
    old_key = key_path.read_text()
    shown = _reveal(sqlite_url, NO_ENV_KEY)

    # The process dies between the commit and the rename of <key>.new over the key file.
    def die(rotation: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(reconciler.keys, "finish_key_file_rotation", die)
        assert invoke(sqlite_url, "keys", "rotate", env=NO_ENV_KEY).exit_code == 130
    staged = Path(f"{key_path}.new")
    assert key_path.read_text() == old_key and staged.exists()

    # The data committed under the new key is still readable, with a warning that says how to finish.
    plan = invoke(sqlite_url, "plan", "-f", str(config), env=NO_ENV_KEY)
    assert plan.stdout.strip() == NO_CHANGES_TEXT, plan.output
    assert "did not finish" in plan.stderr and "reconciler keys rotate" in plan.stderr
    assert _reveal(sqlite_url, NO_ENV_KEY) == shown

    new_key = staged.read_text()
    finished = invoke(sqlite_url, "keys", "rotate", env=NO_ENV_KEY)
    assert finished.exit_code == 0, finished.output
    assert key_path.read_text() == new_key  # resumed with the key the data may already be under
    assert not staged.exists()
    assert len(list(key_path.parent.glob("reconciler.db.key.previous-*"))) == 1  # the old key, kept once
    plan = invoke(sqlite_url, "plan", "-f", str(config), env=NO_ENV_KEY)
    assert plan.stdout.strip() == NO_CHANGES_TEXT and _not_notes(plan.stderr) == [], plan.output
    assert _reveal(sqlite_url, NO_ENV_KEY) == shown


def test_keys_rotate_refused_before_the_commit_keeps_the_old_key(sqlite_url: str, tmp_path: Path) -> None:
    apply(sqlite_url, tmp_path, EXPLAIN, env=NO_ENV_KEY)
    key_path = _key_path(sqlite_url)
    old_key = key_path.read_text()
    _flip_a_bit(sqlite_url)
    before = _table(sqlite_url, "membership_metadata")
    refused = invoke(sqlite_url, "keys", "rotate", env=NO_ENV_KEY)
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        'Error: the metadata of eve@acme.example in workspace "acme" could not be decrypted with the master key '
        f"from the key file {key_path} (and 1 previous key(s)): most likely the key is wrong"
    )
    assert key_path.read_text() == old_key and not Path(f"{key_path}.new").exists()
    assert _table(sqlite_url, "membership_metadata") == before


def test_keys_rotate_with_only_the_environment_key_is_refused(database_url: str, tmp_path: Path) -> None:
    config = apply(database_url, tmp_path, EXPLAIN)
    before = _table(database_url, "membership_metadata")
    refused = invoke(database_url, "keys", "rotate")
    assert refused.exit_code == 1
    assert refused.stderr.splitlines() == [
        "Error: nothing to rotate: the master key from RECONCILER_MASTER_KEY is the only key configured; "
        "keys rotate does not make keys it cannot store",
        "Hint: put the new key in RECONCILER_MASTER_KEY and the current one in RECONCILER_PREVIOUS_KEYS, "
        "then run keys rotate again",
    ]
    assert _table(database_url, "membership_metadata") == before
    assert invoke(database_url, "plan", "-f", str(config)).stdout.strip() == NO_CHANGES_TEXT


def test_keys_rotate_without_any_key_says_so(sqlite_url: str) -> None:
    assert invoke(sqlite_url, "db", "upgrade", env=NO_ENV_KEY).exit_code == 0  # keys rotate never creates one
    refused = invoke(sqlite_url, "keys", "rotate", env=NO_ENV_KEY)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: there is no master key to rotate: none is configured")
    assert not _key_path(sqlite_url).exists()


@pytest.mark.parametrize("how", ["environment", "option", "file variable", "sqlite key file"])
def test_a_wrong_key_names_its_source_and_the_member(sqlite_url: str, tmp_path: Path, how: str) -> None:
    config = apply(sqlite_url, tmp_path, EXPLAIN)  # encrypted with KEY_1
    wrong = tmp_path / "wrong.key"
    wrong.write_text(KEY_2 + "\n")
    wrong.chmod(0o600)
    options: list[str] = []
    env: dict[str, str | None] = {"RECONCILER_MASTER_KEY": KEY_2}
    source = "RECONCILER_MASTER_KEY"
    if how == "option":
        options, source = ["--master-key-file", str(wrong)], f"--master-key-file {wrong}"
    elif how == "file variable":
        env = {"RECONCILER_MASTER_KEY": None, "RECONCILER_MASTER_KEY_FILE": str(wrong)}
        source = f"RECONCILER_MASTER_KEY_FILE ({wrong})"
    elif how == "sqlite key file":
        _key_path(sqlite_url).write_text(KEY_2 + "\n")
        _key_path(sqlite_url).chmod(0o600)
        env, source = NO_ENV_KEY, f"the key file {_key_path(sqlite_url)}"
    result = CliRunner().invoke(
        cli,
        [*options, "--database", sqlite_url, "plan", "-f", str(config)],
        env={"RECONCILER_OUTBOX_DIR": str(tmp_path / "outbox"), **env},
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f'Error: the metadata of eve@acme.example in workspace "acme" could not be decrypted with the master key '
        f"from {source}: most likely the key is wrong",
        "Hint: check that this is the key the data was encrypted with; after a key rotation, also list the old key "
        "in RECONCILER_PREVIOUS_KEYS (comma-separated hex). If the key is right, the stored value was changed or "
        "copied from another record",
    ]


def test_master_key_file_variable_is_used_end_to_end(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_text(KEY_2 + "\n")
    key_file.chmod(0o600)
    env: dict[str, str | None] = {"RECONCILER_MASTER_KEY": None, "RECONCILER_MASTER_KEY_FILE": str(key_file)}
    config = apply(database_url, tmp_path, EXPLAIN, env=env)
    assert SECRET in _reveal(database_url, env)
    assert SECRET in _reveal(database_url, {"RECONCILER_MASTER_KEY": KEY_2})  # the same key, given another way
    assert invoke(database_url, "plan", "-f", str(config), env=env).stdout.strip() == NO_CHANGES_TEXT
    if database_url.startswith("sqlite"):
        assert not _key_path(database_url).exists()  # no implicit key file beside the database


NO_CHANGES_TEXT = "No changes. The database matches the configuration."


def _flip_a_bit(url: str) -> None:
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        membership, blob = conn.execute(text("SELECT membership_id, ciphertext FROM membership_metadata")).one()
        raw = bytearray(base64.b64decode(blob))
        raw[14] ^= 0x01
        conn.execute(
            text("UPDATE membership_metadata SET ciphertext = :c WHERE membership_id = :m"),
            {"c": base64.b64encode(bytes(raw)).decode(), "m": membership},
        )
    engine.dispose()


def _table(url: str, table: str) -> list[tuple]:
    engine = create_engine(normalize_url(url))
    with engine.connect() as conn:
        rows = sorted(tuple(row) for row in conn.execute(text(f"SELECT * FROM {table}")))
    engine.dispose()
    return rows


def _not_notes(stderr: str) -> list[str]:
    """stderr without the plan's ``Note:`` lines (the example holds a declared demotion a group absorbs)."""
    return [line for line in stderr.splitlines() if not line.startswith("Note:")]
