"""``export``: the database as configuration that round-trips (export, then plan: ``No changes.``).

Round trips run on the example configuration and on a generated 1,000-user database, on SQLite and on
PostgreSQL when configured; ``snapshot_to_config`` and the YAML dumping are also checked without a database.
"""

from __future__ import annotations

import random
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from sqlalchemy import select, update

from reconciler import state
from reconciler.backends.builtin import models
from reconciler.backends.builtin.db import create_engine_for
from reconciler.cli import cli
from reconciler.export import adoption_warnings, dump_config, snapshot_to_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MASTER_KEY = "a1" * 32
CRM_TOKEN = "crm-token-1d2e"
NO_CHANGES = "No changes. The database matches the configuration."
# Strings YAML 1.1 would read as something else if they were written bare.
TRICKY = ["NO", "no", "yes", "on", "off", "1.10", "010", "0x1F", "1e3", "~", "null", "true", "-", "*star", "a: b"]
TRICKY += ["#hash", "[x]", "{y}", "'single'", '"double"', " padded ", "multi\nline", "tab\tbed", "é ü 中文", ""]


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECONCILER_MASTER_KEY", MASTER_KEY)
    monkeypatch.setenv("ACME_CRM_TOKEN", CRM_TOKEN)
    monkeypatch.setenv("RECONCILER_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.delenv("RECONCILER_DATABASE_URL", raising=False)


def run(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--database", database_url, *args], catch_exceptions=False)


def apply(database_url: str, config: Path) -> None:
    result = run(database_url, "apply", "-f", str(config), "--auto-approve", "--allow-mass-change")
    assert result.exit_code == 0, result.stdout[-2000:] + result.stderr
    assert run(database_url, "plan", "-f", str(config)).stdout.strip() == NO_CHANGES


def export(database_url: str, target: Path, *args: str) -> Result:
    result = run(database_url, "export", "-o", str(target), *args)
    assert result.exit_code == 0, result.stderr
    return result


def assert_round_trip(database_url: str, exported: Path) -> None:
    result = run(database_url, "plan", "-f", str(exported), "--detailed-exitcode")
    assert result.exit_code == 0, result.stdout[-3000:] + result.stderr
    assert result.stdout.strip() == NO_CHANGES


@pytest.fixture
def example(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("ci"))
    return target / "workspace.yaml"


# --- the example configuration -----------------------------------------------------------------------------------


def test_the_example_round_trips(database_url: str, example: Path, tmp_path: Path) -> None:
    apply(database_url, example)

    plain = tmp_path / "export.yaml"
    result = export(database_url, plain)
    assert "metadata of 5 memberships was left out" in result.stderr
    assert "Warning" not in result.stderr
    assert_round_trip(database_url, plain)

    document = yaml.safe_load(plain.read_text(encoding="utf-8"))
    acme = {ws["slug"]: ws for ws in document["workspaces"]}["acme"]
    users = {u["email"]: u for u in acme["users"]}
    assert all("metadata" not in u for u in users.values())
    assert users["dave@acme.example"]["role"] == "builder"  # the stored role: an end-user in sales-ops
    assert users["erin@acme.example"]["status"] == "archived"
    assert "status" not in users["alice@acme.example"]  # invited: omitted (active is the default)
    assert "last_name" not in users["dave@acme.example"]
    assert acme["settings"] == {"prune": "archive"}
    # the optional keys the example leaves out got ToolJet's default for a new workspace's builder (true)
    assert acme["roles"]["builder"]["permissions"] == {
        "apps": {"create": True, "promote": True, "release": True},
        "folders": {"create": True, "update": True},
        "workspace_constants": {"create": True, "update": True},
        "workflows": {"create": True},
        "tooljet_database": {"create": True, "update": True, "delete": True},
        "modules": {"create": True, "delete": True},
    }
    labs = {ws["slug"]: ws for ws in document["workspaces"]}["acme-labs"]
    assert labs["roles"]["builder"]["granular"] == {  # the default builder role, written out
        "apps": [{"access": "edit", "apps": "all"}],
        "data_sources": [{"access": "configure", "data_sources": "all"}],
    }
    assert labs["settings"] == {"prune": "archive"}  # the export owns what it exported

    with_metadata = tmp_path / "export-with-metadata.yaml"
    result = export(database_url, with_metadata, "--with-metadata")
    assert "Warning: --with-metadata writes metadata values in plain text" in result.stderr
    assert stat.S_IMODE(with_metadata.stat().st_mode) == 0o600
    assert_round_trip(database_url, with_metadata)
    text = with_metadata.read_text(encoding="utf-8")
    assert CRM_TOKEN in text and "team: 'on'" in text and "cost_center: '1010'" in text
    assert CRM_TOKEN not in plain.read_text(encoding="utf-8")


def test_export_is_deterministic_and_filters_workspaces(database_url: str, example: Path, tmp_path: Path) -> None:
    apply(database_url, example)
    first, second = run(database_url, "export"), run(database_url, "export")
    assert first.exit_code == 0 and first.stdout == second.stdout
    assert first.stdout.startswith("# Exported by `reconciler export`")

    labs = run(database_url, "export", "--workspace", "acme-labs")
    document = yaml.safe_load(labs.stdout)
    assert [ws["slug"] for ws in document["workspaces"]] == ["acme-labs"]
    emails = [u["email"] for u in document["workspaces"][0]["users"]]
    assert emails == ["alice@acme.example", "bob@acme.example", "frank@acme.example"]
    assert "grace@acme.example" not in labs.stdout  # users outside the exported workspaces are not exported
    path = tmp_path / "labs.yaml"
    path.write_text(labs.stdout, encoding="utf-8")
    assert_round_trip(database_url, path)

    unknown = run(database_url, "export", "--workspace", "nope")
    assert unknown.exit_code == 1
    assert "--workspace nope: no such workspace in the database" in unknown.stderr


def test_a_workspace_without_an_admin_is_exported_with_a_warning(
    database_url: str, example: Path, tmp_path: Path
) -> None:
    apply(database_url, example)
    engine = create_engine_for(database_url)
    try:
        with engine.begin() as conn:
            labs = conn.scalar(select(models.Workspace.id).where(models.Workspace.slug == "acme-labs"))
            conn.execute(
                update(models.Membership)
                .where(models.Membership.workspace_id == labs, models.Membership.role == "admin")
                .values(status="archived")
            )
    finally:
        engine.dispose()
    target = tmp_path / "export.yaml"
    result = export(database_url, target)
    assert "Warning: workspace 'acme-labs' has no admin that is not archived" in result.stderr
    labs_users = yaml.safe_load(target.read_text(encoding="utf-8"))["workspaces"][1]["users"]
    assert {"email": "alice@acme.example", "first_name": "Alice", "last_name": "Smith", "role": "admin"} | {
        "status": "archived"
    } in labs_users
    invalid = run(database_url, "validate", "-f", str(target))
    assert invalid.exit_code == 1 and "Atleast one active admin is required" in invalid.stderr


def test_export_never_creates_a_database(sqlite_url: str, tmp_path: Path) -> None:
    result = run(sqlite_url, "export", "-o", str(tmp_path / "out.yaml"))
    assert result.exit_code == 1 and "does not exist" in result.stderr
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()
    assert not (tmp_path / "out.yaml").exists()


# --- a generated 1,000-user database -----------------------------------------------------------------------------


def generated_config(users: int = 1000, seed: int = 5) -> dict:
    """Three workspaces sharing 1,000 people, with custom builder roles, groups, grants and metadata."""
    rng = random.Random(seed)
    people = [
        {"email": f"user{i:04d}@corp.example", "first_name": rng.choice(["Ann", "NO", "Yes", "on", "1.10"])}
        | ({"last_name": rng.choice(["1.10", "on", "O'Brien", "Smith", "Müller"])} if i % 3 else {})
        for i in range(users)
    ]
    workspaces = []
    for w, slug in enumerate(["north", "south", "lab"]):
        names = ["NO", "1.10", "on", "Billing, EU", "CRM: main", "[beta]"]
        apps = [{"slug": f"app-{k}", "name": rng.choice(names)} for k in range(8)]
        sources = [{"name": name} for name in ("pg-main", "stripe", "on", "1.10")]
        groups = []
        for g in range(6):
            group: dict = {"name": f"team-{g}"}
            if g % 3 == 0:
                group["permissions"] = {"folders": {"create": True}, "apps": {"delete": g == 3}}
            grants = [{"access": "view", "apps": sorted(rng.sample([a["slug"] for a in apps], 3))}]
            if g % 2:
                grants.append({"access": "edit", "apps": "all"})
            else:
                grants.append({"access": "view", "apps": "all", "hide_from_dashboard": True})
            group["granular"] = {"apps": grants}
            if g == 5:
                group["granular"]["data_sources"] = [{"access": "use", "data_sources": ["on", "stripe"]}]
            groups.append(group)
        members = {"north": people[:500], "south": people[400:], "lab": people[::7]}[slug]
        entries = []
        for i, person in enumerate(members):
            entry = dict(person)
            entry["role"] = "admin" if i < 2 else rng.choice(["end-user", "end-user", "builder"])
            if i > 2 and i % 17 == 0:
                entry["status"] = "archived"
            chosen = rng.sample([g["name"] for g in groups], rng.randint(0, 3))
            if chosen:
                entry["groups"] = chosen
            if i % 2:
                entry["metadata"] = {"department": rng.choice(TRICKY), "index": str(i), "flag": rng.choice(TRICKY)}
            elif i % 5 == 0:
                entry["metadata"] = {}
            entries.append(entry)
        builder = {
            "permissions": {"apps": {"create": True}, "workspace_constants": {"update": w == 1}},
            "granular": {"apps": [{"access": "edit", "apps": [apps[0]["slug"]]}, {"access": "view", "apps": "all"}]},
        }
        workspaces.append(
            {
                "slug": slug,
                "name": f"Corp {slug.title()}",
                "settings": {"prune": "archive"},
                "apps": apps,
                "data_sources": sources,
                "roles": {"builder": builder},
                "groups": groups,
                "users": entries,
            }
        )
    return {"version": 1, "workspaces": workspaces}


@pytest.mark.slow
def test_a_generated_1000_user_database_round_trips(database_url: str, tmp_path: Path) -> None:
    document = generated_config()
    people = {u["email"] for ws in document["workspaces"] for u in ws["users"]}
    assert len(people) == 1000
    config = tmp_path / "generated.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    apply(database_url, config)

    plain, full = tmp_path / "export.yaml", tmp_path / "export-with-metadata.yaml"
    export(database_url, plain)
    export(database_url, full, "--with-metadata")
    assert_round_trip(database_url, plain)
    assert_round_trip(database_url, full)

    exported = yaml.safe_load(full.read_text(encoding="utf-8"))
    assert sum(len(ws["users"]) for ws in exported["workspaces"]) == sum(
        len(ws["users"]) for ws in document["workspaces"]
    )
    want = {(ws["slug"], u["email"]): u.get("metadata") or None for ws in document["workspaces"] for u in ws["users"]}
    got = {(ws["slug"], u["email"]): u.get("metadata") for ws in exported["workspaces"] for u in ws["users"]}
    assert got == want  # every value, "NO" and "1.10" included, comes back as the same string


# --- without a database ------------------------------------------------------------------------------------------


def tricky_snapshot() -> state.Snapshot:
    names = {f"u{i}@x.example": state.User(f"u{i}@x.example", value or "x", value) for i, value in enumerate(TRICKY)}
    memberships = {
        email: state.Membership(
            email, "admin", "active", frozenset({"NO", "1.10"}), state.Metadata.of({"on": user.last_name, "k": "v"})
        )
        for email, user in names.items()
    }
    workspace = state.Workspace(
        slug="w",
        name="on",
        apps={"yes": "NO", "a-1": "1.10"},
        data_sources=frozenset({"off", "1.10"}),
        builder=state.GroupPermissions(),
        groups={
            "NO": state.GroupPermissions(frozenset({"apps.create"}), (state.AppGrant("view", ("yes",), True),)),
            "1.10": state.GroupPermissions(data_source_grants=(state.DataSourceGrant("use", None),)),
        },
        memberships=memberships,
    )
    return state.Snapshot({"w": workspace}, names)


def test_strings_yaml_would_misread_are_quoted_and_come_back_as_strings() -> None:
    snapshot = tricky_snapshot()
    config = snapshot_to_config(snapshot, with_metadata=True)
    text = dump_config(config, with_metadata=True)

    assert yaml.safe_load(text) == config
    assert "name: 'on'" in text and "'NO'" in text and "'1.10'" in text
    assert "*id001" not in text and "&id001" not in text  # no anchors or aliases
    ws = yaml.safe_load(text)["workspaces"][0]
    assert ws["roles"] == {"builder": {"permissions": {}, "granular": {}}}  # "nothing", not "the default"
    assert ws["groups"][1] == {
        "name": "NO",
        "permissions": {"apps": {"create": True}},
        "granular": {"apps": [{"access": "view", "apps": ["yes"], "hide_from_dashboard": True}]},
    }
    assert {u["email"]: u["metadata"]["on"] for u in ws["users"]} == {
        email: user.last_name for email, user in snapshot.users.items()
    }
    assert dump_config(snapshot_to_config(snapshot, with_metadata=True), with_metadata=True) == text


def test_without_metadata_no_value_is_written() -> None:
    snapshot = tricky_snapshot()
    config = snapshot_to_config(snapshot, with_metadata=False)
    assert all("metadata" not in u for ws in config["workspaces"] for u in ws["users"])
    text = dump_config(config, with_metadata=False)
    assert "metadata" not in text.split("\n\n", 1)[1]


def test_adoption_warnings_name_what_would_not_round_trip() -> None:
    snapshot = tricky_snapshot()
    ws = snapshot.workspaces["w"]
    end_user = state.Membership("u0@x.example", "end-user", "active", frozenset({"NO"}))
    archived_admins = {e: state.Membership(e, "admin", "archived") for e in ws.memberships}
    broken = state.Workspace("w", "on", groups=ws.groups, memberships=archived_admins | {"u0@x.example": end_user})
    warnings = adoption_warnings(state.Snapshot({"w": broken}, snapshot.users))
    assert warnings[0].startswith("workspace 'w' has no admin that is not archived")
    assert 'u0@x.example is stored as end-user but is in builder-level group "NO"' in warnings[1]
    assert not any("has no first name" in w for w in warnings)  # every tricky user has a first name
    assert adoption_warnings(snapshot) == []
