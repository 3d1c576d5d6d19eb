"""Access hygiene on ToolJet's tables (issue 18): stale invitations from ``organization_users``, sign-ins from
``user_sessions.last_logged_in`` (``server/src/entities/user_sessions.entity.ts``; ToolJet writes it when it
creates a session, ``SessionUtilService.createSession`` in ``server/src/modules/session/util.service.ts``, and its
hourly ``SessionScheduler`` in ``server/src/modules/session/scheduler.ts`` deletes expired sessions)."""

from __future__ import annotations

import json

from click.testing import CliRunner
from tooljet_harness import ToolJetDb, base_config

from reconciler.cli import cli

NOW = "2027-03-30T12:00:00Z"
# The columns of ToolJet's entity (the schema fixtures stop before the table; ToolJet 2.x and 3.x have it).
USER_SESSIONS = (
    "CREATE TABLE user_sessions (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), user_id uuid NOT NULL "
    "REFERENCES users (id) ON DELETE CASCADE, device varchar NOT NULL, created_at timestamp DEFAULT now(), "
    "expiry timestamp NOT NULL, last_logged_in timestamp NOT NULL)"
)


def load_sql_text(db: ToolJetDb, statement: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        conn.execute(statement)


def drift_json(db: ToolJetDb, *extra: str) -> dict:
    path = db.write(base_config(db.variant))
    result = CliRunner().invoke(
        cli,
        ["--backend", "tooljet", "--database", db.url, "drift", "-f", str(path), "--format", "json", *extra],
        env={"RECONCILER_NOW": NOW},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_stale_invitation_and_sign_ins_are_flagged_where_tooljet_records_them(tooljet: ToolJetDb) -> None:
    tooljet.query(
        "UPDATE organization_users SET updated_at = '2027-01-01 08:00' "
        "WHERE id = '3a000000-0000-4000-8000-000000000004' RETURNING id"
    )
    without_sessions = drift_json(tooljet)
    assert without_sessions["hygiene"] == [
        {
            "workspace": "acme",
            "email": "dave@acme.example",
            "kind": "stale-invitation",
            "since": "2027-01-01 08:00 UTC",
            "days": 88,
        }
    ]

    load_sql_text(tooljet, USER_SESSIONS)
    tooljet.query(
        "INSERT INTO user_sessions (user_id, device, expiry, last_logged_in) VALUES "
        "('0b000000-0000-4000-8000-000000000001', 'IP: 10.0.0.1 UA: test', '2027-04-05', '2027-03-29 09:00'), "
        "('0b000000-0000-4000-8000-000000000002', 'IP: 10.0.0.2 UA: test', '2027-04-05', '2026-11-01 09:00') "
        "RETURNING id"
    )
    with_sessions = drift_json(tooljet, "--stale-invites", "off")
    assert [(f["email"], f["kind"], f["since"]) for f in with_sessions["hygiene"]] == [
        ("bob@acme.example", "not-signed-in", "2026-11-01 09:00 UTC"),  # more than 90 days before NOW
        ("carol@acme.example", "no-sign-in-on-record", ""),  # no live session: ToolJet has deleted it, if any
    ]
