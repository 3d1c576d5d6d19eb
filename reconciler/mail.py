"""Invitation emails: building them safely and delivering them (SPEC 5).

Stage: delivery, after commit. Messages are built with the standard library's ``EmailMessage`` under the
strict SMTP policy; display names are stripped of control characters first, so a name holding a newline or a
header (``Bob\\nBcc: eve@x``) can never add a header. Delivery goes over SMTP when ``RECONCILER_SMTP_URL`` is
set (``smtp://user:pass@host:587?starttls=1``, ``smtps://...`` for implicit TLS), else to ``.eml`` files when
``RECONCILER_OUTBOX_DIR`` is set. With neither there is no transport: nothing is delivered (the built-in
backend keeps the emails pending for ``invites send``), never written to a directory nobody reads.

The lines that report a delivery are made here, so that both backends and ``invites send`` say the same.
"""

from __future__ import annotations

import html
import os
import re
import secrets
import smtplib
import ssl
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import ReconcilerError

DEFAULT_BASE_URL = "http://localhost:8082"
DEFAULT_FROM = "reconciler@localhost"
SMTP_URL_ENV = "RECONCILER_SMTP_URL"
OUTBOX_DIR_ENV = "RECONCILER_OUTBOX_DIR"
MAIL_FROM_ENV = "RECONCILER_MAIL_FROM"
NO_TRANSPORT = (
    f"no mail transport is configured: set {SMTP_URL_ENV} (e.g. smtp://user:pass@host:587?starttls=1) to send "
    f"them, or {OUTBOX_DIR_ENV} to write them as .eml files to a directory"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


@dataclass(frozen=True)
class Invitation:
    """What an invitation email says; ``link`` holds the raw token and is never logged."""

    recipient: str
    recipient_name: str
    workspace_name: str
    inviter: str
    link: str
    expires_at: datetime


def invitation_link(base_url: str, token: str, workspace_id: str) -> str:
    return f"{base_url.rstrip('/')}/invitations/{token}?oid={workspace_id}"


def clean_display(text: str, limit: int = 200) -> str:
    """A single line safe for a header or a subject: control characters become one space."""
    return _CONTROL.sub(" ", text).strip()[:limit]


def build_message(invitation: Invitation, *, sender: str) -> EmailMessage:
    workspace = clean_display(invitation.workspace_name)
    inviter = clean_display(invitation.inviter)
    message = EmailMessage(policy=SMTP)
    message["Subject"] = f"{inviter} invited you to {workspace}"
    message["From"] = _address(sender, "reconciler")
    message["To"] = _address(invitation.recipient, clean_display(invitation.recipient_name))
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="reconciler.invalid")
    expires = invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    greeting = clean_display(invitation.recipient_name) or invitation.recipient
    message.set_content(
        f'Hello {greeting},\n\n{inviter} invited you to join the workspace "{workspace}".\n\n'
        f"Accept the invitation: {invitation.link}\n\nThis link expires on {expires}.\n"
    )
    message.add_alternative(
        "<!doctype html><html><body>"
        f"<p>Hello {html.escape(greeting)},</p>"
        f"<p>{html.escape(inviter)} invited you to join the workspace <strong>{html.escape(workspace)}</strong>.</p>"
        f'<p><a href="{html.escape(invitation.link, quote=True)}">Accept the invitation</a></p>'
        f"<p>This link expires on {expires}.</p></body></html>",
        subtype="html",
    )
    return message


def _address(email: str, name: str) -> Address:
    local, _, domain = email.partition("@")
    try:
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise ReconcilerError(f"cannot address an email to {email!r}: {exc}") from None


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    implicit_tls: bool
    timeout: float = 10.0

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ReconcilerError(
                "RECONCILER_SMTP_URL must look like smtp://user:pass@host:587?starttls=1 or smtps://host:465"
            )
        query = parse_qs(parts.query)
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
            implicit_tls=implicit,
            timeout=float(query.get("timeout", ["10"])[0]),
        )


@dataclass
class DeliveryReport:
    """What one delivery run did: the recipients sent to, the failures, and how many emails stay pending."""

    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (recipient, error)
    pending: int = 0  # still pending after this run


class Transport:
    """Sends one message; raises OSError/smtplib.SMTPException on failure.

    ``sender`` and ``recipient`` are the envelope: the validated addresses the caller holds (the outbox row's
    recipient), never parsed back from the message's headers, so that nothing in a header can add a recipient.
    """

    def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection, if any."""


class SmtpTransport(Transport):
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._client: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        if s.implicit_tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.starttls:
                client.starttls(context=context)
        if s.username:
            client.login(s.username, s.password or "")
        return client

    def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None:
        if self._client is None:
            self._client = self._connect()
        try:
            self._client.send_message(message, from_addr=sender, to_addrs=[recipient])
        except (OSError, smtplib.SMTPException):
            self.close()
            raise

    def close(self) -> None:
        if self._client is not None:
            with suppress(OSError, smtplib.SMTPException):
                self._client.quit()
            self._client = None


class DirectoryTransport(Transport):
    """Writes each message as an ``.eml`` file, for setups without SMTP (and for inspection).

    The files hold invitation links, so they are private from the first byte: each is written to a hidden
    temporary name created with mode 0600 (``O_EXCL``), synced, then renamed to its ``.eml`` name, so a kill or
    a full disk leaves no readable and no half-written ``.eml`` file. A directory this transport creates is
    0700; an existing one keeps the mode its owner gave it.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None:
        if not self.directory.is_dir():
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            with suppress(OSError):
                self.directory.chmod(0o700)  # mkdir's mode is filtered by the umask; make it exact
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"{stamp}-{re.sub(r'[^A-Za-z0-9@._-]', '_', recipient)[:200]}.eml"
        temporary = self.directory / f".{name}.{secrets.token_hex(4)}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.as_bytes())
                handle.flush()
                os.fsync(handle.fileno())  # it is marked as sent right after: it must be on disk by then
            os.replace(temporary, self.directory / name)
        except BaseException:
            with suppress(OSError):
                os.unlink(temporary)
            raise


def transport_from_env(environ: Mapping[str, str]) -> Transport | None:
    """SMTP when ``RECONCILER_SMTP_URL`` is set, else ``.eml`` files when ``RECONCILER_OUTBOX_DIR`` is set,
    else None: there is no default directory, since emails written where nobody looks (a CI runner's working
    directory) would be reported as delivered and be lost."""
    url = environ.get(SMTP_URL_ENV, "").strip()
    if url:
        return SmtpTransport(SmtpSettings.from_url(url))
    directory = environ.get(OUTBOX_DIR_ENV, "").strip()
    if directory:
        return DirectoryTransport(Path(directory))
    return None


def sender_from_env(environ: Mapping[str, str]) -> str:
    return environ.get(MAIL_FROM_ENV, "").strip() or DEFAULT_FROM


def describe_transport(transport: Transport) -> str:
    if isinstance(transport, SmtpTransport):
        return f"SMTP server {transport.settings.host}:{transport.settings.port}"
    if isinstance(transport, DirectoryTransport):
        return f"directory {transport.directory}"
    return type(transport).__name__


def delivery_line(transport: Transport, count: int) -> str:
    """What a delivery did, in the same words wherever emails are delivered."""
    if isinstance(transport, DirectoryTransport):
        return f"Wrote {count} invitation email(s) to {transport.directory}."
    return f"Sent {count} invitation email(s) via {describe_transport(transport)}."


def base_url_warning(environ: Mapping[str, str], variable: str, default: str) -> list[str]:
    """A warning when the links' base URL is not configured: they would point at ``default`` (localhost)."""
    if environ.get(variable, "").strip():
        return []
    return [
        f"Warning: {variable} is not set, so the invitation links point at {default}; set it to the address "
        "people open (e.g. https://tooljet.example.com)."
    ]
