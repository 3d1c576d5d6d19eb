"""Ownership settings on the command line (issue 17), built-in backend (SQLite, and PostgreSQL when configured):
drift tells what the configuration owns from what it cedes in every format, ``prune: confirm`` needs
``--allow-removals`` (saved plans too), and ``export -f CONFIG`` keeps the configuration's ownership settings.

The other writers (an SSO sign-in, a group sync, a click in the UI) are plain SQL on the built-in tables.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml
from helpers import Harness, config_yaml, workspace_yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from reconciler.backends.builtin import models
from reconciler.render.text import NO_CHANGES

ALICE = "- {email: alice@acme.com, first_name: Alice, role: admin}\n"
BOB = "- {email: bob@acme.com, first_name: Bob, role: end-user, groups: [viewers]}\n"
CAROL = "- {email: carol@acme.com, first_name: Carol, role: end-user}\n"
GROUPS = """\
- {name: viewers, granular: {apps: [{access: view, apps: all}]}}
- {name: sso-eng, members: external, granular: {apps: [{access: view, apps: all}]}}
"""
SETTINGS = """\
ignore: ["svc-*@acme.com"]
manage: {roles: false}
transfer_apps_to: alice@acme.com
"""
EXTERNAL = "members: external (1 member, kept as SSO/SCIM sync or the UI set them)"
BOB_ROLE = "role builder kept, the configuration says end-user (settings.manage.roles: false)"
CEDED_TITLE = "Ceded to other writers (settings.ignore, members: external, settings.manage), not drift: 3"


def shared(harness: Harness) -> Path:
    """Applied: alice (admin), bob (viewers), carol; then other writers add a service account, put carol in the
    SSO-synced group and make bob a builder in the UI (roles are not managed here)."""
    harness.write(config_yaml(workspace_yaml(users=ALICE + BOB + CAROL, groups=GROUPS, settings=SETTINGS)))
    result = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve")
    assert result.exit_code == 0, result.stderr
    with Session(harness.engine) as session, session.begin():
        workspace = session.scalars(select(models.Workspace).where(models.Workspace.slug == "acme")).one()
        service = models.User(email="svc-ci@acme.com", first_name="CI", last_name="")
        session.add(models.Membership(workspace_id=workspace.id, user=service, role="builder", status="active"))
        members = {m.user.email: m for m in session.scalars(select(models.Membership))}
        sso_eng = session.scalars(select(models.Group).where(models.Group.name == "sso-eng")).one()
        members["carol@acme.com"].groups.append(sso_eng)
        members["bob@acme.com"].role = "builder"
    return harness.config_path


def drift(harness: Harness, config: Path, fmt: str) -> tuple[int, str]:
    if fmt != "junit":
        result = harness.cli("drift", "-f", str(config), "--format", fmt)
        return result.exit_code, result.stdout
    report = harness.directory / "drift.xml"
    result = harness.cli("drift", "-f", str(config), "--format", "junit", "--output", str(report))
    return result.exit_code, report.read_text(encoding="utf-8")


def test_drift_lists_what_the_configuration_cedes_in_every_format_and_it_is_not_drift(harness: Harness) -> None:
    config = shared(harness)

    codes, outputs = {}, {}
    for fmt in ("text", "json", "markdown", "junit"):
        codes[fmt], outputs[fmt] = drift(harness, config, fmt)

    assert codes == {"text": 0, "json": 0, "markdown": 0, "junit": 0}
    ceded = {
        "acme/group/sso-eng": EXTERNAL,
        "acme/user/bob@acme.com": BOB_ROLE,
        "acme/user/svc-ci@acme.com": 'ignored: matches settings.ignore "svc-*@acme.com"',
    }
    assert outputs["text"].splitlines() == [
        NO_CHANGES,
        "",
        CEDED_TITLE,
        *(f"  {address.ljust(25)}  {reason}" for address, reason in ceded.items()),
    ]
    assert [(c["address"], c["kind"]) for c in json.loads(outputs["json"])["ceded"]] == [
        ("acme/group/sso-eng", "external"),
        ("acme/user/bob@acme.com", "role"),
        ("acme/user/svc-ci@acme.com", "ignored"),
    ]
    assert CEDED_TITLE in outputs["markdown"] and "No drift" in outputs["markdown"]
    cases = {case.get("name"): case for case in ET.fromstring(outputs["junit"]).iter("testcase")}
    skipped = {
        name: case.find("skipped").get("message") for name, case in cases.items() if case.find("skipped") is not None
    }
    assert skipped == {address: f"ceded, not drift: {reason}" for address, reason in ceded.items()}
    assert ET.fromstring(outputs["junit"]).get("failures") == "0"

    # What the configuration owns is still drift, next to what it cedes.
    harness.execute("DELETE FROM group_members WHERE membership_id = :m", m=harness.membership("bob@acme.com")["id"])
    code, text = drift(harness, config, "text")
    assert code == 2
    assert "      + groups: viewers" in text.splitlines() and CEDED_TITLE in text


def test_prune_confirm_needs_allow_removals_on_the_command_line_for_saved_plans_too(harness: Harness) -> None:
    confirm = "prune: confirm\n"
    viewers = GROUPS.splitlines()[0]
    harness.write(config_yaml(workspace_yaml(users=ALICE + BOB + CAROL, groups=viewers, settings=confirm)))
    assert harness.cli("apply", "-f", str(harness.config_path), "--auto-approve").exit_code == 0
    config = harness.write(config_yaml(workspace_yaml(users=ALICE + BOB, groups=viewers, settings=confirm)))
    refusal = (
        "the plan removes what is not in the configuration of workspace 'acme' (1 archive of a member), and its "
        "settings.prune is confirm"
    )

    planned = harness.cli("plan", "-f", str(config), "--out", str(harness.directory / "plan.json"))
    assert planned.exit_code == 0, planned.stderr
    assert (
        'user "carol@acme.com": archive (not in configuration, prune: confirm; groups and metadata kept)'
        in planned.stdout
    )
    assert f"Warning: {refusal}; apply needs --allow-removals" in planned.stderr.splitlines()

    refused = harness.cli("apply", "-f", str(config), "--auto-approve")
    assert refused.exit_code == 1
    assert f"Error: {refusal}" in refused.stderr.splitlines()
    saved = harness.cli("apply", str(harness.directory / "plan.json"))
    assert saved.exit_code == 1
    assert f"Error: {refusal}" in saved.stderr.splitlines()
    assert harness.membership("carol@acme.com")["status"] == "invited"

    applied = harness.cli("apply", str(harness.directory / "plan.json"), "--allow-removals")
    assert applied.exit_code == 0, applied.stderr
    assert harness.membership("carol@acme.com")["status"] == "archived"
    assert harness.cli("plan", "-f", str(config)).stdout == NO_CHANGES + "\n"


def test_export_with_a_configuration_keeps_its_ownership_settings(harness: Harness) -> None:
    config = shared(harness)
    target = harness.directory / "exported" / "acme.yaml"
    target.parent.mkdir()

    result = harness.cli("export", "-f", str(config), "-o", str(target))

    assert result.exit_code == 0, result.stderr
    (workspace,) = yaml.safe_load(target.read_text(encoding="utf-8"))["workspaces"]
    assert workspace["settings"] == {
        "prune": "archive",
        "ignore": ["svc-*@acme.com"],
        "manage": {"roles": False, "groups": True, "metadata": True},
        "transfer_apps_to": "alice@acme.com",
    }
    assert {g["name"]: g.get("members", "managed") for g in workspace["groups"]} == {
        "sso-eng": "external",
        "viewers": "managed",
    }
    assert {u["email"]: u.get("groups", []) for u in workspace["users"]} == {
        "alice@acme.com": [],
        "bob@acme.com": ["viewers"],
        "carol@acme.com": [],  # its external group is the sync's
    }
    replanned = harness.cli("plan", "-f", str(target), "--detailed-exitcode")
    assert replanned.exit_code == 0 and replanned.stdout.startswith(NO_CHANGES + "\n")
    plain = harness.cli("export")  # without the configuration: every member is the export's, as before
    assert "svc-ci@acme.com" in plain.stdout and "members: external" not in plain.stdout


def test_the_split_example_applies_as_one_workspace_and_its_codeowners_name_its_files(harness: Harness) -> None:
    root = Path(__file__).resolve().parents[2]
    example = root / "examples" / "split"
    owned = [line.split()[0] for line in (example / "CODEOWNERS").read_text().splitlines() if line.startswith("/")]
    assert all((root / path.lstrip("/")).exists() for path in owned), owned

    applied = harness.cli("apply", "-f", str(example), "--auto-approve")

    assert applied.exit_code == 0, applied.stderr
    planned = harness.cli("plan", "-f", str(example), "--detailed-exitcode")
    assert planned.exit_code == 0 and planned.stdout.startswith(NO_CHANGES + "\n")
    assert harness.groups_of("lisa@globex.example", "globex") == ["finance-reviewers", "sales-reviewers"]
