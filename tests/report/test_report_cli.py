"""``reconciler report`` on a real database (SQLite, and PostgreSQL when configured), with the example config."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_examples import API_KEY, CRM_TOKEN, EXAMPLES, ExampleDatabase, example_database

from reconciler.report.csvfile import COLUMNS


@pytest.fixture
def example_db(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ExampleDatabase]:
    """The example configuration applied (SQLite, and PostgreSQL when configured)."""
    yield from example_database(database_url, tmp_path, monkeypatch)


def report(example, *args: str) -> tuple[int, str, str]:
    from reconciler.cli import cli

    env = {"RECONCILER_OUTBOX_DIR": str(example.config.parent.parent / "outbox")}
    result = CliRunner().invoke(cli, ["--database", example.url, "report", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def members_of(document: dict, slug: str) -> dict[str, dict]:
    workspace = next(w for w in document["workspaces"] if w["slug"] == slug)
    return {m["email"]: m for m in workspace["members"]}


def test_json_report_of_the_example(example_db):
    code, out, _ = report(example_db, "--all-workspaces", "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert [w["slug"] for w in document["workspaces"]] == ["acme", "acme-labs"]
    acme = members_of(document, "acme")
    assert acme["bob@acme.example"]["access"]["apps"]["crm"] == {
        "access": "edit",
        "granted_by": ["role:builder", "group:sales-ops"],
    }
    carol = acme["carol@acme.example"]["access"]
    assert carol["apps"]["invoices"]["access"] == "view"
    assert "group:finance" in carol["apps"]["invoices"]["granted_by"]
    assert carol["data_sources"]["stripe"]["access"] == "none"
    dave = acme["dave@acme.example"]
    assert (dave["role"], dave["role_cause"]["kind"]) == ("builder", "implied")
    assert dave["access"]["data_sources"]["stripe"] == {
        "access": "use",
        "granted_by": ["role:builder", "group:sales-ops"],
    }
    erin = acme["erin@acme.example"]
    assert erin["status"] == "archived"
    assert {cell["access"] for kind in erin["access"].values() for cell in kind.values()} == {"none"}
    assert acme["alice@acme.example"]["metadata_keys"] == ["api_key", "cost_center", "department"]
    assert document["seats"] == {"users": 8, "builders": 5, "admins": 2}  # erin is archived
    assert [(a["actor"], a["result"]) for a in document["applies"]] == [("tests", "applied")]


def test_with_the_configuration_the_declared_role_is_known_and_nothing_drifted(example_db):
    code, out, _ = report(example_db, "-f", str(example_db.config), "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["drift_checked"] is True
    assert all(w["drift"] == [] for w in document["workspaces"])
    acme = members_of(document, "acme")
    assert acme["bob@acme.example"]["role_cause"]["text"].startswith("declared (also implied by")
    assert acme["dave@acme.example"]["role_cause"]["text"].startswith('implied by group "sales-ops"')


def test_drifted_entries_are_marked_in_every_format(example_db, tmp_path):
    original = tmp_path / "original"
    shutil.copytree(EXAMPLES, original)
    changed = example_db.config.read_text().replace("groups: [sales-ops]            # his", "groups: []  # his")
    example_db.harness.apply(changed)  # the database now differs from the original configuration
    code, out, _ = report(example_db, "-f", str(original / "workspace.yaml"), "--format", "json")
    assert code == 0
    dave = members_of(json.loads(out), "acme")["dave@acme.example"]
    assert [d["action"] for d in dave["drift"]] == ["update"]
    assert "sales-ops" in dave["drift"][0]["description"]
    _, html, _ = report(example_db, "-f", str(original / "workspace.yaml"), "--format", "html")
    assert 'data-address="acme/user/dave@acme.example"' in html and "1 difference</span>" in html
    _, text, _ = report(example_db, "-f", str(original / "workspace.yaml"), "--format", "csv")
    rows = [r for r in csv.DictReader(io.StringIO(text, newline="")) if r["email"] == "dave@acme.example"]
    assert rows and all("sales-ops" in r["drift"] for r in rows)


def test_files_are_written_in_the_format_their_name_says(example_db, tmp_path):
    for name in ("review.html", "review.csv", "review.json"):
        code, out, err = report(example_db, "--workspace", "acme", "-o", str(tmp_path / name))
        assert code == 0 and out == ""
        assert f"Wrote the access report to {tmp_path / name} (8 memberships in 1 workspaces)." in err
    assert (tmp_path / "review.html").read_text().startswith("<!DOCTYPE html>")
    header = next(csv.reader(io.StringIO((tmp_path / "review.csv").read_text(), newline="")))
    assert tuple(header) == COLUMNS
    assert json.loads((tmp_path / "review.json").read_text())["report_version"] == 1


@pytest.mark.parametrize("fmt", ["html", "csv", "json"])
def test_no_metadata_value_leaves_the_database(example_db, fmt):
    code, out, _ = report(example_db, "--all-workspaces", "--format", fmt)
    assert code == 0
    assert "cost_center" in out
    for value in (CRM_TOKEN, API_KEY, "1010", "value1", "emea"):
        assert value not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Error: give --workspace SLUG (repeatable), --all-workspaces or -f CONFIG"),
        (("--workspace", "nope"), "Error: --workspace nope: no such workspace in the database"),
        (("--workspace", "acme", "--all-workspaces"), "Error: give either --workspace SLUG"),
    ],
)
def test_workspace_selection_errors(example_db, args, message):
    code, out, err = report(example_db, *args)
    assert code == 1 and out == ""
    assert err.startswith(message)


def test_declared_workspaces_missing_from_the_database_are_named(example_db, tmp_path: Path):
    config = example_db.config.read_text().replace("slug: acme-labs", "slug: acme-new")
    (example_db.config.parent / "new.yaml").write_text(config.replace("slug: acme  ", "slug: acme-x  "))
    code, out, err = report(example_db, "-f", str(example_db.config.parent / "new.yaml"), "--format", "json")
    assert code == 0
    assert "not in the database yet, so not in the report: acme-new, acme-x" in err
    assert json.loads(out)["workspaces"] == []
