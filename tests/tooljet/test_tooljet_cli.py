"""The ToolJet backend through the command line: plan, apply, saved and stale plans, export, history, locks; what an
apply says about its audit record and its invitation emails (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from lockbox_reference import tooljet_decrypt_metadata
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from tooljet_harness import ACME_ID, ToolJetDb, acme, base_config, user

from reconciler.backends.common import lock_key
from reconciler.cli import cli
from reconciler.render.text import NO_CHANGES

ACME_BUILDER = "0c000000-0000-4000-8000-0000000000a3"  # acme's default group builder (seed_groups_*.sql)
MASTER_KEY = "5e" * 32  # reconciler's own key: signs plan files and encrypts metadata inside them


def run(db: ToolJetDb, *args: str, env: dict[str, str | None] | None = None, backend_option: bool = True) -> Result:
    options = ["--backend", "tooljet"] if backend_option else []
    environment: dict[str, str | None] = {"RECONCILER_MASTER_KEY": MASTER_KEY, **(env or {})}
    return CliRunner().invoke(cli, [*options, "--database", db.url, *args], env=environment, catch_exceptions=False)


def test_plan_and_apply_through_the_cli(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    user(config, "carol@acme.example")["role"] = "builder"
    user(config, "carol@acme.example")["metadata"] = {"desk": "4F"}
    path = tooljet.write(config)

    planned = run(tooljet, "plan", "-f", str(path), "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "acme  carol@acme.example  end-user -> builder  declared" in planned.output
    assert "4F" not in planned.output

    applied = run(tooljet, "apply", "-f", str(path), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "Apply complete!" in applied.output
    assert tooljet.role_of("carol@acme.example") == ["builder"]

    again = run(
        tooljet,
        "plan",
        "-f",
        str(path),
        "--detailed-exitcode",
        backend_option=False,
        env={"RECONCILER_BACKEND": "tooljet"},
    )
    assert again.exit_code == 0 and NO_CHANGES in again.output


def test_saved_plan_applies_and_a_stale_one_is_refused(tooljet: ToolJetDb, tmp_path: Path) -> None:
    config = base_config(tooljet.variant)
    gina = {"email": "gina@acme.example", "first_name": "Gina", "role": "builder", "metadata": {"desk": "2B"}}
    acme(config)["users"].append(gina)
    path, plan_file = tooljet.write(config), tmp_path / "plan.json"

    assert run(tooljet, "plan", "-f", str(path), "--out", str(plan_file)).exit_code == 0
    refused = run(tooljet, "apply", str(plan_file))  # single-use needs a record of applied plans
    assert refused.exit_code == 1
    assert "the tooljet backend can record that only in an audit schema" in refused.output
    assert tooljet.role_of("gina@acme.example") == []
    audited = {"RECONCILER_TOOLJET_AUDIT_SCHEMA": f"{tooljet.schema}_audit"}
    applied = run(tooljet, "apply", str(plan_file), env=audited)
    assert applied.exit_code == 0, applied.output
    assert tooljet.role_of("gina@acme.example") == ["builder"]
    again = run(tooljet, "apply", str(plan_file), env=audited)
    assert again.exit_code == 1 and "this plan was already applied at" in again.output
    blob = tooljet.one(
        "SELECT d.user_metadata FROM user_details d JOIN users u ON u.id = d.user_id "
        "WHERE u.email = 'gina@acme.example'"
    )
    assert tooljet_decrypt_metadata(blob) == {"desk": "2B"}  # travelled encrypted in the plan file, then Lockbox
    assert "2B" not in plan_file.read_text()
    assert NO_CHANGES in run(tooljet, "plan", "-f", str(path)).output

    user(config, "gina@acme.example")["role"] = "end-user"
    path = tooljet.write(config)
    assert run(tooljet, "plan", "-f", str(path), "--out", str(plan_file)).exit_code == 0
    tooljet.query("UPDATE users SET first_name = 'Roberta' WHERE email = 'bob@acme.example' RETURNING id")
    stale = run(tooljet, "apply", str(plan_file), env=audited)
    assert stale.exit_code == 1
    assert "Saved plan is stale: the database changed since the plan was made. Run plan again." in stale.output
    assert tooljet.role_of("gina@acme.example") == ["builder"]


def test_export_then_plan_prints_no_changes(tooljet: ToolJetDb, tmp_path: Path) -> None:
    exported = tmp_path / "exported.yaml"
    result = run(tooljet, "export", "--workspace", "acme", "-o", str(exported))
    assert result.exit_code == 0, result.output
    planned = run(tooljet, "plan", "-f", str(exported), "--detailed-exitcode")
    assert planned.exit_code == 0, planned.output
    assert NO_CHANGES in planned.output


def test_export_of_the_whole_instance_round_trips(tooljet: ToolJetDb, tmp_path: Path) -> None:
    exported = tmp_path / "all.yaml"
    assert run(tooljet, "export", "-o", str(exported)).exit_code == 0
    planned = run(tooljet, "plan", "-f", str(exported), "--detailed-exitcode")
    assert planned.exit_code == 0, planned.output


def test_db_upgrade_is_refused(tooljet: ToolJetDb) -> None:
    result = run(tooljet, "db", "upgrade")
    assert result.exit_code == 1
    assert "never changes ToolJet's database schema" in result.output


def test_registry_mismatch_fails_apply_with_every_problem(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    acme(config)["apps"].append({"slug": "reports", "name": "Reports"})
    result = run(tooljet, "apply", "-f", str(tooljet.write(config)), "--auto-approve")
    assert result.exit_code == 1
    assert 'Error: workspace "acme": app "reports" does not exist in ToolJet' in result.output
    assert "crm (CRM), invoices (Invoices), payroll (Payroll)" in result.output


def test_history_needs_an_audit_schema_of_its_own(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    user(config, "carol@acme.example")["role"] = "builder"
    path = tooljet.write(config)
    assert "RECONCILER_TOOLJET_AUDIT_SCHEMA" in run(tooljet, "history").output

    audit = {"RECONCILER_TOOLJET_AUDIT_SCHEMA": f"{tooljet.schema}_audit"}
    assert run(tooljet, "apply", "-f", str(path), "--auto-approve", "--actor", "ci-bot", env=audit).exit_code == 0
    history = run(tooljet, "history", env=audit)
    assert history.exit_code == 0 and "applied" in history.output and "ci-bot" in history.output
    tables = tooljet.query(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_name LIKE 'audit%' "
        "AND table_name <> 'audit_logs' AND table_schema IN (:a, :b) ORDER BY 2",  # audit_logs is ToolJet's own
        a=tooljet.schema,
        b=f"{tooljet.schema}_audit",
    )
    assert tables == [(f"{tooljet.schema}_audit", "audit_changes"), (f"{tooljet.schema}_audit", "audit_runs")]


def test_the_report_without_an_audit_schema_lists_no_applies_and_says_why(tooljet: ToolJetDb) -> None:
    """Before: ``report`` asked for the last 10 applies by default and failed (exit 1) on the history refusal."""
    result = run(tooljet, "report", "--all-workspaces", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["applies"] == []
    assert result.stderr.splitlines() == [
        "Note: the tooljet backend keeps no history here, so the report lists no applies; "
        "'reconciler history' says how to keep them."
    ]


def test_a_second_apply_fails_naming_the_lock_holder(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    user(config, "carol@acme.example")["role"] = "builder"
    path = tooljet.write(config)
    engine = create_engine(make_url(tooljet.url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as holder:
            holder.execute(text("SET application_name = 'reconciler apply by someone-else'"))
            holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key(tooljet.schema)})
            result = run(tooljet, "apply", "-f", str(path), "--auto-approve", "--lock-timeout", "0.3")
            holder.execute(text("SELECT pg_advisory_unlock_all()"))
    finally:
        engine.dispose()
    assert result.exit_code == 1
    assert "another apply holds the lock: reconciler apply by someone-else" in result.output
    assert tooljet.role_of("carol@acme.example") == ["end-user"]


@pytest.mark.parametrize("fmt", ["json"])
def test_json_plan_never_holds_tooljet_tokens(tooljet: ToolJetDb, fmt: str) -> None:
    config = base_config(tooljet.variant)
    user(config, "erin@acme.example").pop("status")
    result = run(tooljet, "plan", "-f", str(tooljet.write(config)), "--format", fmt)
    document = json.loads(result.output)
    assert document["summary"]["unarchive"] == 1
    assert "e1a1c6a0" not in result.output and "f7b2d4c1" not in result.output


def test_drift_reports_through_the_tooljet_backend(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    assert run(tooljet, "drift", "-f", str(tooljet.write(config))).exit_code == 0
    user(config, "carol@acme.example")["role"] = "builder"
    drifted = run(tooljet, "drift", "-f", str(tooljet.write(config)))
    assert drifted.exit_code == 2 and "carol@acme.example" in drifted.output


def test_people_commands_read_tooljet_and_the_builtin_only_ones_refuse(tooljet: ToolJetDb) -> None:
    listing = run(tooljet, "users", "--workspace", "acme")
    assert listing.exit_code == 0, listing.output
    assert "Total users: 4  Builders: 2" in listing.output  # erin is archived; alice and bob build
    explained = run(tooljet, "explain", "carol@acme.example", "--workspace", "acme")
    assert explained.exit_code == 0 and "end-user" in explained.output
    refused = run(tooljet, "invite-url", "dave@acme.example", "--workspace", "acme")
    assert refused.exit_code == 1 and "not supported by the tooljet backend" in refused.output


def test_users_counts_seats_as_tooljet_does(tooljet: ToolJetDb) -> None:
    """ToolJet's licence count (server/src/modules/licensing/services/count.service.ts): a person archived in the
    instance holds no seat, even with an active membership; a super admin who is not archived counts in the total
    even without one. Seeded: acme holds alice (admin, super admin), bob (builder), carol, dave (invited); other
    holds olga (admin) and alice again."""
    zed = "0b000000-0000-4000-8000-000000000007"  # archived in the whole instance
    tooljet.query(
        "INSERT INTO organization_users (id, organization_id, user_id, role, status, source) VALUES "
        "('3a000000-0000-4000-8000-0000000000f1', :org, :zed, 'all-users', 'active', 'invite') RETURNING id",
        org=ACME_ID,
        zed=zed,
    )
    tooljet.query(
        "INSERT INTO group_users (user_id, group_id) VALUES (:zed, :builder) RETURNING user_id",
        zed=zed,
        builder=ACME_BUILDER,
    )
    counted = json.loads(run(tooljet, "users", "--all-workspaces", "--format", "json").output)
    assert (counted["total_users"], counted["builders"]) == (5, 3)  # alice, bob, olga build; not zed
    tooljet.query(
        "INSERT INTO users (id, email, first_name, status, user_type) VALUES "
        "('0b000000-0000-4000-8000-0000000000f2', 'root@acme.example', 'Root', 'active', 'instance') RETURNING id"
    )
    counted = json.loads(run(tooljet, "users", "--all-workspaces", "--format", "json").output)
    assert (counted["total_users"], counted["builders"]) == (6, 3)
    acme_only = json.loads(run(tooljet, "users", "--workspace", "acme", "--format", "json").output)
    assert (acme_only["total_users"], acme_only["builders"]) == (4, 2)  # root is in no workspace listed


NO_AUDIT_WARNING = (  # the fixtures have ToolJet's audit_logs (tests/tooljet/sql/audit_logs.sql)
    "Warning: this apply is in ToolJet's audit log (audit_logs), but left no record of reconciler's own (history, "
    "report, saved plans applied once): the tooljet backend keeps one only in a schema of its own; "
    "set RECONCILER_TOOLJET_AUDIT_SCHEMA=reconciler_audit (created on first apply, beside ToolJet's tables)."
)


def test_every_apply_without_an_audit_schema_says_so(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    user(config, "carol@acme.example")["role"] = "builder"
    applied = run(tooljet, "apply", "-f", str(tooljet.write(config)), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert applied.stderr.splitlines() == [NO_AUDIT_WARNING]

    user(config, "carol@acme.example")["role"] = "end-user"
    audit: dict[str, str | None] = {"RECONCILER_TOOLJET_AUDIT_SCHEMA": f"{tooljet.schema}_audit"}
    audited = run(tooljet, "apply", "-f", str(tooljet.write(config)), "--auto-approve", env=audit)
    assert audited.exit_code == 0, audited.output
    assert "audit record" not in audited.stderr
    assert "applied" in run(tooljet, "history", env=audit).output
    assert NO_CHANGES in run(tooljet, "plan", "-f", str(tooljet.write(config))).output


def _new_member(config: dict) -> None:
    acme(config)["users"].append({"email": "frank@acme.example", "first_name": "Frank", "role": "end-user"})


def test_invitation_emails_are_reported_as_the_builtin_backend_reports_them(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    _new_member(config)
    applied = run(tooljet, "apply", "-f", str(tooljet.write(config)), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    outbox = tooljet.tmp / "outbox"
    assert applied.stderr.splitlines() == [f"Wrote 1 invitation email(s) to {outbox}.", NO_AUDIT_WARNING]
    assert len(list(outbox.glob("*.eml"))) == 1
    assert NO_CHANGES in run(tooljet, "plan", "-f", str(tooljet.write(config))).output


def test_without_a_mail_transport_nothing_is_written_and_the_apply_says_where_the_links_are(
    tooljet: ToolJetDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = base_config(tooljet.variant)
    _new_member(config)
    env: dict[str, str | None] = {"RECONCILER_OUTBOX_DIR": None, "TOOLJET_HOST": None}
    applied = run(tooljet, "apply", "-f", str(tooljet.write(config)), "--auto-approve", env=env)
    assert applied.exit_code == 0, applied.output
    assert applied.stderr.splitlines() == [
        "Warning: TOOLJET_HOST is not set, so the invitation links point at http://localhost:8082; set it to the "
        "address people open (e.g. https://tooljet.example.com).",
        "Warning: 1 invitation email(s) were not sent: no mail transport is configured (set RECONCILER_SMTP_URL, "
        "or RECONCILER_OUTBOX_DIR for .eml files). The tooljet backend keeps no outbox: the links are shown in "
        "ToolJet under Workspace settings > Users (Copy link).",
        NO_AUDIT_WARNING,
    ]
    assert not (tmp_path / "outbox").exists() and not (tooljet.tmp / "outbox").exists()
    assert NO_CHANGES in run(tooljet, "plan", "-f", str(tooljet.write(config))).output


def test_a_user_archived_in_the_instance_has_no_access_in_explain_and_report(tooljet: ToolJetDb) -> None:
    # ToolJet refuses every sign-in of a user whose users.status is archived (the instance-wide archive), whatever
    # their memberships say: explain and report show no access for them.
    tooljet.query("UPDATE users SET status = 'archived' WHERE email = 'bob@acme.example' RETURNING id")

    explained = run(tooljet, "explain", "bob@acme.example", "--workspace", "acme", "--format", "json")
    text = run(tooljet, "explain", "bob@acme.example", "--workspace", "acme")
    report = json.loads(run(tooljet, "report", "--workspace", "acme", "--format", "json").stdout)

    assert explained.exit_code == 0, explained.output
    data = json.loads(explained.stdout)
    assert {slug: a["access"] for slug, a in data["apps"].items()} == dict.fromkeys(data["apps"], "none")
    assert data["permissions"] == {}
    assert "archived in the whole instance: no access anywhere" in text.output
    (bob,) = [m for m in report["workspaces"][0]["members"] if m["email"] == "bob@acme.example"]
    assert {a["access"] for a in bob["access"]["apps"].values()} <= {"none"}
