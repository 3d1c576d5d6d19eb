"""Invitations with ToolJet's link formats (reference §5, ``generateInviteURL`` / ``generateOrgInviteURL``).

Stage: delivery, after commit. A person who has never set up an account (``users.invitation_token`` set) gets
``{TOOLJET_HOST}{SUB_PATH}invitations/{account token}/workspaces/{membership token}?oid={organization id}``;
someone who already has an account gets ``{TOOLJET_HOST}{SUB_PATH}organization-invitations/{membership token}
?oid={organization id}``. Tokens are the raw uuids ToolJet stores, so the links also appear in ToolJet's own UI
("Copy invitation link"). Messages go through ``reconciler.mail``'s transport (SMTP, or ``.eml`` files when
``RECONCILER_OUTBOX_DIR`` is set); with neither, nothing is sent and a warning says where the links are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

DEFAULT_HOST = "http://localhost:8082"
COPY_LINK = "the links are shown in ToolJet under Workspace settings > Users (Copy link)"


@dataclass(frozen=True)
class PendingInvitation:
    """One invitation written by an apply; the tokens are never printed or logged."""

    workspace: str
    workspace_id: str
    workspace_name: str
    email: str
    user_id: str
    membership_token: str
    account_token: str | None = None

    def with_account_token(self, token: str | None) -> PendingInvitation:
        return replace(self, account_token=token)

    def __repr__(self) -> str:
        return f"PendingInvitation({self.workspace!r}, {self.email!r}, tokens=<redacted>)"


def invitation_link(invitation: PendingInvitation, environ: Mapping[str, str]) -> str:
    """The URL ToolJet's invitation email would carry."""
    host = (environ.get("TOOLJET_HOST") or DEFAULT_HOST).rstrip("/")
    sub_path = "/" + (environ.get("SUB_PATH") or "").strip("/") + "/"
    sub_path = sub_path.replace("//", "/")
    oid = f"?oid={invitation.workspace_id}"
    if invitation.account_token:
        return f"{host}{sub_path}invitations/{invitation.account_token}/workspaces/{invitation.membership_token}{oid}"
    return f"{host}{sub_path}organization-invitations/{invitation.membership_token}{oid}"


def build_message(invitation: PendingInvitation, *, sender: str, environ: Mapping[str, str]) -> EmailMessage:
    from ...mail import clean_display

    workspace = clean_display(invitation.workspace_name)
    link = invitation_link(invitation, environ)
    message = EmailMessage(policy=SMTP)
    message["Subject"] = f"Welcome to {workspace}"
    message["From"] = sender
    message["To"] = invitation.email
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="reconciler.invalid")
    message.set_content(f'Hello,\n\nYou have been invited to the ToolJet workspace "{workspace}".\n\nJoin it: {link}\n')
    return message


def deliver(invitations: list[PendingInvitation], environ: Mapping[str, str]) -> list[str]:
    """Send each message; failures are reported (the apply stays committed) and the link stays in ToolJet's UI.

    Lines for stderr, worded as the built-in backend words them.
    """
    if not invitations:
        return []
    from ...mail import base_url_warning, delivery_line, sender_from_env, transport_from_env

    lines = base_url_warning(environ, "TOOLJET_HOST", DEFAULT_HOST)
    transport = transport_from_env(environ)
    if transport is None:
        lines.append(
            f"Warning: {len(invitations)} invitation email(s) were not sent: no mail transport is configured (set "
            "RECONCILER_SMTP_URL, or RECONCILER_OUTBOX_DIR for .eml files). The tooljet backend keeps no outbox: "
            f"{COPY_LINK}."
        )
        return lines
    sender = sender_from_env(environ)
    failed = []
    try:
        for invitation in invitations:
            try:
                transport.send(
                    build_message(invitation, sender=sender, environ=environ),
                    sender=sender,
                    recipient=invitation.email,
                )
            except Exception as exc:  # a delivery failure must never undo or hide the apply
                failed.append(f"{invitation.email} ({type(exc).__name__})")
    finally:
        transport.close()
    lines.append(delivery_line(transport, len(invitations) - len(failed)))
    if failed:
        lines.append(f"Warning: could not deliver the invitation to {', '.join(failed)}; {COPY_LINK}.")
    return lines


def link_expiry(environ: Mapping[str, str]) -> int | None:
    """Minutes from ``LINK_EXPIRY_MINUTES``, read as ToolJet reads it (``parseInt(value || '0', 10)``, used when
    positive: server/src/modules/onboarding/service.ts ``resendEmail``); None when unset, zero or not a number.
    Set it in the tool's environment to the value ToolJet's server has."""
    import re

    match = re.match(r"\s*([+-]?\d+)", environ.get("LINK_EXPIRY_MINUTES") or "")
    minutes = int(match.group(1)) if match else 0
    return minutes if minutes > 0 else None
