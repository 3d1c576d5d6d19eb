"""Invitations end to end: outbox in the apply transaction, SMTP delivery after commit, accept-invite,
invite-url, retries with the SMTP server down (issue 4); never losing an invitation: no key, no transport, the
link that invite-url prints (issue 13)."""

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
from reconciler.cli import cli

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
    assert result.stderr.splitlines() == [f"Sent 3 invitation email(s) via SMTP server 127.0.0.1:{smtp_port}."]
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
    assert sent.stdout == f"Sent 3 invitation email(s) via SMTP server 127.0.0.1:{smtp_port}.\n"
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


# --- never lose an invitation (issue 13) ---------------------------------------------------------------------


def invoke(url: str, tmp_path: Path, *args: str, **env: str | None):
    """The CLI with a master key, an outbox directory and a base URL, unless ``env`` says otherwise."""
    base: dict[str, str | None] = {
        "RECONCILER_MASTER_KEY": KEY,
        "RECONCILER_OUTBOX_DIR": str(tmp_path / "mails"),
        "RECONCILER_BASE_URL": "https://tooljet.acme.example",
        "RECONCILER_SMTP_URL": None,
        "RECONCILER_MASTER_KEY_FILE": None,
    }
    return CliRunner().invoke(cli, ["--database", url, *args], env=base | env, catch_exceptions=False)


NO_CHANGES = "No changes. The database matches the configuration."


def count_rows(url: str, table: str) -> int:
    engine = create_engine(normalize_url(url))
    with engine.connect() as conn:
        count = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return count


def test_accept_invite_takes_the_link_that_invite_url_prints(database_url: str, tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    assert invoke(database_url, tmp_path, "apply", "-f", config, "--auto-approve").exit_code == 0

    printed = invoke(database_url, tmp_path, "invite-url", "bob@acme.example", "--workspace", "acme")
    assert printed.exit_code == 0, printed.output
    link = printed.stdout.strip()
    assert link.startswith("https://tooljet.acme.example/invitations/") and "?oid=" in link
    accepted = invoke(database_url, tmp_path, "accept-invite", printed.stdout)  # exactly what was printed
    assert accepted.exit_code == 0, accepted.output
    assert accepted.stdout == "bob@acme.example is now an active member of workspace 'acme'.\n"
    assert statuses(database_url)["bob@acme.example"] == "active"

    # the bare token still works
    token = invoke(database_url, tmp_path, "invite-url", "carol@acme.example", "--workspace", "acme").stdout
    token = token.strip().split("/invitations/")[1].split("?")[0]
    assert invoke(database_url, tmp_path, "accept-invite", token).exit_code == 0
    assert statuses(database_url)["carol@acme.example"] == "active"

    # a link whose workspace id was changed is not accepted, nor is something that is not a link
    alice = invoke(database_url, tmp_path, "invite-url", "alice@acme.example", "--workspace", "acme").stdout.strip()
    other = alice.split("?oid=")[0] + "?oid=00000000-0000-0000-0000-000000000000"
    refused = invoke(database_url, tmp_path, "accept-invite", other)
    assert refused.exit_code == 1 and "Error: this invitation token is unknown or was already used" in refused.stderr
    garbage = invoke(database_url, tmp_path, "accept-invite", "https://tooljet.acme.example/login?next=/")
    assert garbage.exit_code == 1
    assert garbage.stderr.startswith("Error: this is neither an invitation link nor an invitation token\n")
    assert statuses(database_url)["alice@acme.example"] == "invited"
    assert invoke(database_url, tmp_path, "plan", "-f", config).stdout.strip() == NO_CHANGES


def test_apply_without_a_key_on_sqlite_creates_the_key_file_for_the_emails(sqlite_url: str, tmp_path: Path) -> None:
    config = str(write_config(tmp_path))  # no metadata: the plan alone needs no key
    result = invoke(sqlite_url, tmp_path, "apply", "-f", config, "--auto-approve", RECONCILER_MASTER_KEY=None)
    assert result.exit_code == 0, result.output
    key_path = sqlite_url.removeprefix("sqlite:///") + ".key"
    assert f"Created a master key for the metadata encryption at {key_path} (mode 0600)" in result.stderr
    assert f"Wrote 3 invitation email(s) to {tmp_path / 'mails'}." in result.stderr
    assert "not emailed" not in result.stderr
    assert len(list((tmp_path / "mails").glob("*.eml"))) == 3
    assert [s for _, s in outbox(sqlite_url)] == ["sent"] * 3
    again = invoke(sqlite_url, tmp_path, "plan", "-f", config, RECONCILER_MASTER_KEY=None)
    assert again.stdout.strip() == NO_CHANGES and again.stderr == ""


def test_apply_without_a_key_on_postgres_is_refused_before_writing(postgres_url: str, tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    result = invoke(postgres_url, tmp_path, "apply", "-f", config, "--auto-approve", RECONCILER_MASTER_KEY=None)
    assert result.exit_code == 1
    assert (
        "Error: this apply invites 3 member(s), and their invitation emails are kept encrypted until they are "
        "delivered, but no master key is configured; nothing was changed\nHint: set RECONCILER_MASTER_KEY"
    ) in result.stderr
    for table in ("workspaces", "users", "memberships", "outbox", "audit_runs"):
        assert count_rows(postgres_url, table) == 0, table
    assert not (tmp_path / "mails").exists()
    # with a key, the same apply goes through and every email is delivered
    applied = invoke(postgres_url, tmp_path, "apply", "-f", config, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert [s for _, s in outbox(postgres_url)] == ["sent"] * 3
    assert invoke(postgres_url, tmp_path, "plan", "-f", config).stdout.strip() == NO_CHANGES


def test_without_a_mail_transport_the_emails_stay_pending_until_invites_send(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "runner"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    config = str(write_config(tmp_path))
    no_transport: dict[str, str | None] = {"RECONCILER_OUTBOX_DIR": None, "RECONCILER_BASE_URL": None}
    result = invoke(database_url, tmp_path, "apply", "-f", config, "--auto-approve", **no_transport)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "Warning: RECONCILER_BASE_URL is not set, so the invitation links point at http://localhost:8082; set it "
        "to the address people open (e.g. https://tooljet.example.com).",
        "Warning: 3 invitation email(s) were not sent and stay pending: no mail transport is configured: set "
        "RECONCILER_SMTP_URL (e.g. smtp://user:pass@host:587?starttls=1) to send them, or RECONCILER_OUTBOX_DIR to "
        "write them as .eml files to a directory; then run 'reconciler invites send'.",
    ]
    assert list(workdir.iterdir()) == []  # nothing written to ./outbox, where a CI runner would lose it
    assert [s for _, s in outbox(database_url)] == ["pending"] * 3

    stuck = invoke(database_url, tmp_path, "invites", "send", **no_transport)
    assert stuck.exit_code == 1
    assert stuck.stderr.startswith("Error: 3 invitation email(s) are pending, and no mail transport is configured")
    assert [s for _, s in outbox(database_url)] == ["pending"] * 3

    sent = invoke(database_url, tmp_path, "invites", "send")
    assert sent.exit_code == 0, sent.output
    assert sent.stdout == f"Wrote 3 invitation email(s) to {tmp_path / 'mails'}.\n"
    assert len(list((tmp_path / "mails").glob("*.eml"))) == 3
    assert [s for _, s in outbox(database_url)] == ["sent"] * 3
    nothing = invoke(database_url, tmp_path, "invites", "send", **no_transport)
    assert nothing.exit_code == 0 and nothing.stdout == "No invitation emails are pending.\n"
    assert invoke(database_url, tmp_path, "plan", "-f", config).stdout.strip() == NO_CHANGES


def test_invite_url_warns_when_the_base_url_is_not_set(database_url: str, tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    assert invoke(database_url, tmp_path, "apply", "-f", config, "--auto-approve").exit_code == 0
    result = invoke(
        database_url, tmp_path, "invite-url", "bob@acme.example", "--workspace", "acme", RECONCILER_BASE_URL=None
    )
    assert result.exit_code == 0 and result.stdout.startswith("http://localhost:8082/invitations/")
    assert "Warning: RECONCILER_BASE_URL is not set, so the invitation links point at http://localhost:8082" in (
        result.stderr
    )
