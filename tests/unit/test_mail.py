"""Invitation messages: content, no header injection through names; transports and their wording."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.errors import ReconcilerError
from reconciler.mail import (
    DirectoryTransport,
    Invitation,
    SmtpSettings,
    SmtpTransport,
    base_url_warning,
    build_message,
    delivery_line,
    invitation_link,
    sender_from_env,
    transport_from_env,
)

EXPIRES = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)


def invitation(**overrides: str) -> Invitation:
    values = {
        "recipient": "dana@acme.example",
        "recipient_name": "Dana Scully",
        "workspace_name": "Acme Corp",
        "inviter": "alice",
        "link": invitation_link("https://tj.example/", "TOKEN123", "ws-1"),
    }
    values.update(overrides)
    return Invitation(expires_at=EXPIRES, **values)


def test_message_names_workspace_inviter_and_link() -> None:
    message = build_message(invitation(), sender="access@acme.example")
    assert message["To"] == "Dana Scully <dana@acme.example>"
    assert message["From"] == "reconciler <access@acme.example>"
    assert message["Subject"] == "alice invited you to Acme Corp"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "https://tj.example/invitations/TOKEN123?oid=ws-1" in plain
    assert 'href="https://tj.example/invitations/TOKEN123?oid=ws-1"' in html
    assert "alice invited you to join the workspace" in plain and "<strong>Acme Corp</strong>" in html
    assert "2030-01-02 03:04 UTC" in plain


@pytest.mark.parametrize("field", ["recipient_name", "workspace_name", "inviter"])
def test_newlines_in_names_cannot_add_headers(field: str) -> None:
    message = build_message(invitation(**{field: "Evil\r\nBcc: eve@evil.example\nX-Injected: 1"}), sender="a@b.example")
    raw = message.as_bytes().decode()
    headers = raw.split("\r\n\r\n", 1)[0]
    assert "\r\nBcc:" not in headers and "\r\nX-Injected:" not in headers
    assert message["Bcc"] is None and message["X-Injected"] is None


def test_html_is_escaped() -> None:
    message = build_message(invitation(workspace_name="<script>x</script>"), sender="a@b.example")
    assert "<script>" not in message.get_body(("html",)).get_content()


def test_smtp_url_parsing() -> None:
    s = SmtpSettings.from_url("smtp://user%40x:p%3Ass@mail.example:587?starttls=1")
    assert (s.host, s.port, s.username, s.password, s.starttls, s.implicit_tls) == (
        "mail.example",
        587,
        "user@x",
        "p:ss",
        True,
        False,
    )
    assert SmtpSettings.from_url("smtps://mail.example").port == 465
    with pytest.raises(ReconcilerError):
        SmtpSettings.from_url("http://mail.example")


# --- transports and the words that report a delivery -----------------------------------------------------------


def test_no_transport_without_smtp_or_an_outbox_directory() -> None:
    # never a default directory: emails written where nobody looks would be reported as delivered
    assert transport_from_env({}) is None
    assert transport_from_env({"RECONCILER_SMTP_URL": " ", "RECONCILER_OUTBOX_DIR": ""}) is None


def test_outbox_directory_only_when_set(tmp_path: Path) -> None:
    transport = transport_from_env({"RECONCILER_OUTBOX_DIR": str(tmp_path / "mails")})
    assert isinstance(transport, DirectoryTransport) and transport.directory == tmp_path / "mails"
    assert delivery_line(transport, 3) == f"Wrote 3 invitation email(s) to {tmp_path / 'mails'}."


def test_smtp_wins_over_the_outbox_directory(tmp_path: Path) -> None:
    transport = transport_from_env(
        {"RECONCILER_SMTP_URL": "smtp://mail.example:2525", "RECONCILER_OUTBOX_DIR": str(tmp_path)}
    )
    assert isinstance(transport, SmtpTransport)
    assert delivery_line(transport, 1) == "Sent 1 invitation email(s) via SMTP server mail.example:2525."


def test_base_url_warning_only_when_unset() -> None:
    (line,) = base_url_warning({}, "RECONCILER_BASE_URL", "http://localhost:8082")
    assert line.startswith("Warning: RECONCILER_BASE_URL is not set, so the invitation links point at http://localhost")
    assert base_url_warning({"RECONCILER_BASE_URL": "https://tj.example"}, "RECONCILER_BASE_URL", "x") == []


def test_sender_defaults() -> None:
    assert sender_from_env({}) == "reconciler@localhost"
    assert sender_from_env({"RECONCILER_MAIL_FROM": "access@acme.example"}) == "access@acme.example"


# --- issue 14: private .eml files from the first byte; envelopes from the validated address only ------------


def test_eml_files_are_0600_from_the_first_byte_and_the_directory_0700(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import stat

    monkeypatch.setattr(os, "umask", os.umask)  # restored by monkeypatch: the umask is process-wide
    previous = os.umask(0o022)
    directory = tmp_path / "mails"
    seen: list[tuple[str, int, list[str]]] = []
    real_replace = os.replace

    def watching_replace(src, dst) -> None:  # what exists, and with which mode, just before the .eml appears
        seen.append(
            (Path(src).name, stat.S_IMODE(os.stat(src).st_mode), sorted(p.name for p in directory.glob("*.eml")))
        )
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", watching_replace)
    try:
        DirectoryTransport(directory).send(
            build_message(invitation(), sender="a@b.example"), sender="a@b.example", recipient="dana@acme.example"
        )
    finally:
        os.umask(previous)
    ((name, mode, eml_before),) = seen
    assert name.startswith(".") and name.endswith(".tmp") and mode == 0o600 and eml_before == []
    (written,) = directory.iterdir()
    assert written.suffix == ".eml" and stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert b"TOKEN123" in written.read_bytes()


def test_a_full_disk_leaves_no_eml_file_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    directory = tmp_path / "mails"
    with pytest.raises(OSError, match="No space left"):
        DirectoryTransport(directory).send(
            build_message(invitation(), sender="a@b.example"), sender="a@b.example", recipient="dana@acme.example"
        )
    assert list(directory.iterdir()) == []  # neither an empty .eml nor the temporary file


def test_the_smtp_envelope_holds_only_the_given_recipient(tmp_path: Path) -> None:
    import socket

    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.envelopes: list = []

        async def handle_DATA(self, server, session, envelope):
            self.envelopes.append(envelope)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        message = build_message(invitation(), sender="access@acme.example")
        del message["To"]
        message["To"] = "dana@acme.example, mallory@evil.example"  # a header that names more than the row does
        transport = SmtpTransport(SmtpSettings.from_url(f"smtp://127.0.0.1:{port}?timeout=2"))
        transport.send(message, sender="access@acme.example", recipient="dana@acme.example")
        transport.close()
    finally:
        controller.stop()
    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "access@acme.example"
    assert envelope.rcpt_tos == ["dana@acme.example"]
