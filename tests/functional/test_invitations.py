"""Invitations end to end: outbox in the apply transaction, SMTP delivery after commit, accept-invite,
invite-url, retries with the SMTP server down (issue 4)."""

from __future__ import annotations

import email
import socket
import textwrap
from email.policy import default as default_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from reconciler.backends.builtin.db import normalize_url
from reconciler.cli import cli, register_later_commands

register_later_commands()
KEY = "ab" * 32

CONFIG = textwrap.dedent(
    """\
    version: 1
    workspaces:
      - slug: acme
        name: Acme Corp
        users:
          - {email: alice@acme.example, first_name: Alice, last_name: Smith, role: admin}
          - {email: bob@acme.example, first_name: Bob, role: builder}
          - {email: carol@acme.example, first_name: Carol, role: end-user}
    """
)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_port() -> int:
    return free_port()


def start_smtp(port: int) -> tuple[Controller, Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, inbox


def run(url: str, tmp_path: Path, *args: str, port: int, input: str | None = None):
    env = {
        "RECONCILER_MASTER_KEY": KEY,
        "RECONCILER_SMTP_URL": f"smtp://127.0.0.1:{port}?timeout=2",
        "RECONCILER_MAIL_FROM": "access@acme.example",
        "RECONCILER_BASE_URL": "https://tooljet.acme.example",
        "RECONCILER_ACTOR": "Ops Team\r\nBcc: eve@evil.example",
    }
    return CliRunner().invoke(cli, ["--database", url, *args], env=env, input=input, catch_exceptions=False)


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "ws.yaml"
    path.write_text(CONFIG)
    return path


def statuses(url: str) -> dict[str, str]:
    engine = create_engine(normalize_url(url))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT u.email, m.status FROM memberships m JOIN users u ON u.id = m.user_id")).all()
    engine.dispose()
    return dict(rows)


def outbox(url: str) -> list[tuple[str, str]]:
    engine = create_engine(normalize_url(url))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT recipient, status FROM outbox ORDER BY id")).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def link_of(message: email.message.EmailMessage) -> str:
    body = message.get_body(("plain",)).get_content()
    return next(line.split(": ", 1)[1] for line in body.splitlines() if "/invitations/" in line)


def test_apply_delivers_three_invitations_with_working_links(database_url: str, tmp_path: Path, smtp_port: int) -> None:
    controller, inbox = start_smtp(smtp_port)
    try:
        result = run(
            database_url, tmp_path, "apply", "-f", str(write_config(tmp_path)), "--auto-approve", port=smtp_port
        )
    finally:
        controller.stop()
    assert result.exit_code == 0, result.output
    assert "Sent 3 invitation email(s)" in result.stderr
    assert sorted(m["To"].addresses[0].addr_spec for m in inbox.messages) == [
        "alice@acme.example",
        "bob@acme.example",
        "carol@acme.example",
    ]
    for message in inbox.messages:
        # the actor's newline (header injection attempt) is flattened into the subject, never a header
        assert message["Subject"] == "Ops Team Bcc: eve@evil.example invited you to Acme Corp"
        assert message["Bcc"] is None
        assert "Acme Corp" in message.get_body(("html",)).get_content()
        link = link_of(message)
        assert link.startswith("https://tooljet.acme.example/invitations/") and "?oid=" in link
    assert all(e.rcpt_tos != ["eve@evil.example"] for e in inbox.envelopes)
    assert outbox(database_url) == [
        (e, "sent") for e in ("alice@acme.example", "bob@acme.example", "carol@acme.example")
    ]

    bob = next(m for m in inbox.messages if "bob@" in str(m["To"]))
    token = link_of(bob).split("/invitations/")[1].split("?")[0]
    accepted = run(database_url, tmp_path, "accept-invite", token, port=smtp_port)
    assert accepted.exit_code == 0 and "bob@acme.example is now an active member" in accepted.output
    assert statuses(database_url)["bob@acme.example"] == "active"
    again = run(database_url, tmp_path, "accept-invite", token, port=smtp_port)
    assert again.exit_code == 1 and "unknown or was already used" in again.stderr
    # accepting is not drift: a fresh plan is empty
    plan = run(database_url, tmp_path, "plan", "-f", str(tmp_path / "ws.yaml"), port=smtp_port)
    assert plan.output.strip() == "No changes. The database matches the configuration."


def test_smtp_down_keeps_apply_and_invites_send_delivers_later(
    database_url: str, tmp_path: Path, smtp_port: int
) -> None:
    result = run(database_url, tmp_path, "apply", "-f", str(write_config(tmp_path)), "--auto-approve", port=smtp_port)
    assert result.exit_code == 0, result.output
    assert "could not be delivered" in result.stderr and "invites send" in result.stderr
    assert set(statuses(database_url).values()) == {"invited"}  # the apply committed
    assert [s for _, s in outbox(database_url)] == ["pending"] * 3

    still_down = run(database_url, tmp_path, "invites", "send", "--retries", "1", "--backoff", "0", port=smtp_port)
    assert still_down.exit_code == 1 and "3 invitation email(s) are still pending" in still_down.stderr

    controller, inbox = start_smtp(smtp_port)
    try:
        sent = run(database_url, tmp_path, "invites", "send", "--backoff", "0", port=smtp_port)
    finally:
        controller.stop()
    assert sent.exit_code == 0, sent.output
    assert "Delivered 3 invitation email(s)" in sent.output
    assert len(inbox.messages) == 3
    assert [s for _, s in outbox(database_url)] == ["sent"] * 3


def test_invite_url_replaces_the_old_link_and_expired_tokens_fail(
    database_url: str, tmp_path: Path, smtp_port: int
) -> None:
    controller, inbox = start_smtp(smtp_port)
    try:
        run(database_url, tmp_path, "apply", "-f", str(write_config(tmp_path)), "--auto-approve", port=smtp_port)
    finally:
        controller.stop()
    old = link_of(next(m for m in inbox.messages if "alice@" in str(m["To"]))).split("/invitations/")[1].split("?")[0]
    fresh = run(database_url, tmp_path, "invite-url", "alice@acme.example", "--workspace", "acme", port=smtp_port)
    assert fresh.exit_code == 0
    new = fresh.stdout.strip().split("/invitations/")[1].split("?")[0]
    assert new != old and len(new) >= 22  # at least 128 random bits, URL-safe
    assert run(database_url, tmp_path, "accept-invite", old, port=smtp_port).exit_code == 1

    engine = create_engine(normalize_url(database_url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE memberships SET invitation_expires_at = '2000-01-01 00:00:00+00:00'"))
    engine.dispose()
    expired = run(database_url, tmp_path, "accept-invite", new, port=smtp_port)
    assert expired.exit_code == 1 and "expired on 2000-01-01" in expired.stderr
    assert statuses(database_url)["alice@acme.example"] == "invited"
    # tokens are stored only as hashes
    engine = create_engine(normalize_url(database_url))
    with engine.connect() as conn:
        dump = " ".join(str(r) for r in conn.execute(text("SELECT * FROM memberships")).all())
        dump += " ".join(str(r) for r in conn.execute(text("SELECT * FROM outbox")).all())
        dump += " ".join(str(r) for r in conn.execute(text("SELECT * FROM audit_changes")).all())
    engine.dispose()
    assert new not in dump and old not in dump


def test_invite_url_refuses_active_members(database_url: str, tmp_path: Path, smtp_port: int) -> None:
    run(database_url, tmp_path, "apply", "-f", str(write_config(tmp_path)), "--auto-approve", port=smtp_port)
    engine = create_engine(normalize_url(database_url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE memberships SET status = 'active'"))
    engine.dispose()
    result = run(database_url, tmp_path, "invite-url", "bob@acme.example", "--workspace", "acme", port=smtp_port)
    assert result.exit_code == 1
    assert "Error: bob@acme.example is active in workspace 'acme'" in result.stderr
