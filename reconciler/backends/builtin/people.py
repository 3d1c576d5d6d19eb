"""People operations on the built-in schema: the invitation outbox, accepting and re-issuing invitations,
and re-encrypting metadata under a new key.

Stage: storage. The outbox is written in the apply transaction (so an email exists exactly when its
membership does) and delivered after commit; a failed delivery stays pending for ``invites send``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import orjson
from sqlalchemy import Connection, Engine, bindparam, select, update
from sqlalchemy.exc import SQLAlchemyError

from ...crypto import Keyring, decrypt_metadata, encrypt_metadata
from ...errors import DeliveryInterrupted, InvitationError
from ...mail import DeliveryReport, Transport, build_message, invitation_link
from ...mail import Invitation as Email
from ..common import one_line
from . import models
from .executor import INVITATION_TTL, Invitation, bulk_insert, hash_token, new_token

OUTBOX_PURPOSE = "invitation-email"
T_OUTBOX = models.OutboxMessage.__table__
T_MEMBERSHIPS = models.Membership.__table__
T_USERS = models.User.__table__
T_WORKSPACES = models.Workspace.__table__
T_METADATA = models.MembershipMetadata.__table__
MAX_BACKOFF = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at an hour."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def queue_invitations(
    conn: Connection,
    invitations: Sequence[Invitation],
    keyring: Keyring,
    *,
    inviter: str,
    base_url: str,
    expires_at: datetime,
) -> int:
    """Write one encrypted outbox row per invitation, in the caller's transaction."""
    if not invitations:
        return 0
    names = _names(conn, {i.email for i in invitations}, {i.workspace_id for i in invitations})
    now = models.utcnow()
    rows = []
    for inv in invitations:
        user_name, workspace_name = names[0][inv.email], names[1][inv.workspace_id]
        email = Email(
            inv.email,
            user_name,
            workspace_name,
            inviter,
            invitation_link(base_url, inv.token, inv.workspace_id),
            expires_at,
        )
        rows.append(
            {
                "membership_id": inv.membership_id,
                "recipient": inv.email,
                "subject": f"Invitation to {workspace_name}"[:500],
                "payload_ciphertext": keyring.encrypt(
                    _payload(email), purpose=OUTBOX_PURPOSE, associated_data=inv.email.encode()
                ),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    bulk_insert(conn, T_OUTBOX, rows)
    return len(rows)


def _names(conn: Connection, emails: set[str], workspace_ids: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    users = {
        r.email: f"{r.first_name} {r.last_name}".strip()
        for r in conn.execute(select(T_USERS.c.email, T_USERS.c.first_name, T_USERS.c.last_name))
        if r.email in emails
    }
    workspaces = {
        r.id: r.name
        for r in conn.execute(
            select(T_WORKSPACES.c.id, T_WORKSPACES.c.name).where(T_WORKSPACES.c.id.in_(workspace_ids))
        )
    }
    return users, workspaces


def _payload(email: Email) -> bytes:
    data = {
        "recipient": email.recipient,
        "recipient_name": email.recipient_name,
        "workspace_name": email.workspace_name,
        "inviter": email.inviter,
        "link": email.link,
        "expires_at": email.expires_at.isoformat(),
    }
    return orjson.dumps(data)


def _email(keyring: Keyring, recipient: str, blob: str) -> Email:
    data = json.loads(_open_email(keyring, recipient, blob))
    return Email(
        data["recipient"],
        data["recipient_name"],
        data["workspace_name"],
        data["inviter"],
        data["link"],
        datetime.fromisoformat(data["expires_at"]),
    )


def deliver_pending(
    engine: Engine, keyring: Keyring, transport: Transport, *, sender: str, due_only: bool = True
) -> DeliveryReport:
    """Try every pending email; each outcome is committed on its own, right after the transport took the
    message, so a process killed at any point sends at most one email again when delivery resumes (delivery is
    at-least-once, by one). A database failure on the way (connection lost, disk full) raises
    :class:`DeliveryInterrupted`, saying what was delivered and what stays pending."""
    report = DeliveryReport()
    now = models.utcnow()
    query = select(T_OUTBOX.c.id, T_OUTBOX.c.recipient, T_OUTBOX.c.payload_ciphertext, T_OUTBOX.c.attempts).where(
        T_OUTBOX.c.status == "pending"
    )
    if due_only:
        query = query.where((T_OUTBOX.c.next_attempt_at.is_(None)) | (T_OUTBOX.c.next_attempt_at <= now))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(T_OUTBOX.c.id)).all()
    try:
        with engine.connect() as conn:
            for index, row in enumerate(rows):
                outcome = _deliver_one(keyring, transport, row, sender, report)
                try:
                    with conn.begin():
                        _executemany(conn, _RECORD, [outcome])
                except SQLAlchemyError as exc:
                    unrecorded = row.recipient if outcome["v_status"] == "sent" else None
                    if unrecorded is not None:
                        report.sent.remove(unrecorded)
                    waiting = [r.recipient for r in rows[index:]]
                    raise DeliveryInterrupted(one_line(exc), report, unrecorded, waiting) from exc
    finally:
        transport.close()
    with engine.connect() as conn:
        report.pending = len(conn.execute(select(T_OUTBOX.c.id).where(T_OUTBOX.c.status == "pending")).all())
    return report


def _deliver_one(keyring: Keyring, transport: Transport, row, sender: str, report: DeliveryReport) -> dict:
    try:
        message = build_message(_email(keyring, row.recipient, row.payload_ciphertext), sender=sender)
        transport.send(message, sender=sender, recipient=row.recipient)
    except Exception as exc:  # any delivery failure (network, SMTP, TLS) leaves the email pending
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
        report.failed.append((row.recipient, error))
        return {
            "b_id": row.id,
            "v_status": "pending",
            "v_sent": None,
            "v_attempts": row.attempts + 1,
            "v_next": models.utcnow() + backoff(row.attempts + 1),
            "v_error": error,
        }
    report.sent.append(row.recipient)
    now = models.utcnow()
    return {
        "b_id": row.id,
        "v_status": "sent",
        "v_sent": now,
        "v_attempts": row.attempts + 1,
        "v_next": None,
        "v_error": None,
    }


_RECORD = (
    update(T_OUTBOX)
    .where(T_OUTBOX.c.id == bindparam("b_id"))
    .values(
        status=bindparam("v_status"),
        sent_at=bindparam("v_sent"),
        attempts=bindparam("v_attempts"),
        next_attempt_at=bindparam("v_next"),
        last_error=bindparam("v_error"),
    )
)


def _open_email(keyring: Keyring, recipient: str, blob: str) -> bytes:
    return keyring.decrypt(
        blob,
        purpose=OUTBOX_PURPOSE,
        associated_data=recipient.encode(),
        what=f"the queued invitation email to {recipient}",
    )


def pending_count(engine: Engine) -> int:
    """How many invitation emails wait in the outbox."""
    with engine.connect() as conn:
        return len(conn.execute(select(T_OUTBOX.c.id).where(T_OUTBOX.c.status == "pending")).all())


# --- accepting and re-issuing -------------------------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_LINK_HINT = "pass the link from the invitation email (or from 'reconciler invite-url'), or its token"


def parse_invitation(text: str) -> tuple[str, str | None]:
    """(token, workspace id or None) from what a person pastes: the link (``.../invitations/TOKEN?oid=ID``, as
    the email and ``invite-url`` give it) or the bare token."""
    parts = urlsplit(text.strip())
    segments = [segment for segment in parts.path.split("/") if segment]
    if "invitations" in segments[:-1]:
        token = segments[segments.index("invitations") + 1]
    elif len(segments) == 1 and not parts.scheme and not parts.netloc:
        token = segments[0]
    else:
        token = ""
    if not _TOKEN.fullmatch(token):
        raise InvitationError("this is neither an invitation link nor an invitation token", hint=_LINK_HINT)
    oid = parse_qs(parts.query).get("oid")
    return token, oid[0] if oid else None


Transaction = Callable[[], AbstractContextManager[Connection]]


def accept_invitation(engine: Engine, link_or_token: str, *, transaction: Transaction | None = None) -> tuple[str, str]:
    """``invited`` -> ``active`` for the membership holding this token; returns (workspace slug, email).

    Takes the whole link or the bare token; a link whose ``oid`` names another workspace is refused.
    ``transaction`` opens the transaction (the CLI passes one holding the apply lock); default ``engine.begin``.
    """
    token, workspace_id = parse_invitation(link_or_token)
    digest = hash_token(token)
    with (transaction or engine.begin)() as conn:
        row = conn.execute(
            select(
                T_MEMBERSHIPS.c.id,
                T_MEMBERSHIPS.c.status,
                T_MEMBERSHIPS.c.invitation_expires_at,
                T_MEMBERSHIPS.c.workspace_id,
                T_WORKSPACES.c.slug,
                T_USERS.c.email,
            )
            .join(T_WORKSPACES, T_WORKSPACES.c.id == T_MEMBERSHIPS.c.workspace_id)
            .join(T_USERS, T_USERS.c.id == T_MEMBERSHIPS.c.user_id)
            .where(T_MEMBERSHIPS.c.invitation_token_hash == digest)
        ).first()
        if row is None or row.status != "invited" or (workspace_id is not None and workspace_id != row.workspace_id):
            raise InvitationError(
                "this invitation token is unknown or was already used",
                hint="ask an admin for a fresh link (reconciler invite-url)",
            )
        if row.invitation_expires_at is not None and row.invitation_expires_at <= models.utcnow():
            expired = row.invitation_expires_at.strftime("%Y-%m-%d %H:%M UTC")
            raise InvitationError(
                f"this invitation expired on {expired}", hint="ask an admin for a fresh link (reconciler invite-url)"
            )
        conn.execute(
            update(T_MEMBERSHIPS)
            .where(T_MEMBERSHIPS.c.id == row.id)
            .values(status="active", invitation_token_hash=None, invitation_expires_at=None, updated_at=models.utcnow())
        )
    return row.slug, row.email


def reissue_invitation(
    engine: Engine,
    email: str,
    slug: str,
    *,
    base_url: str,
    ttl: timedelta = INVITATION_TTL,
    transaction: Transaction | None = None,
) -> tuple[str, datetime]:
    """A fresh token for an invited member; the previous link stops working. Returns (link, expiry)."""
    token, digest = new_token()
    expires = models.utcnow() + ttl
    with (transaction or engine.begin)() as conn:
        row = conn.execute(
            select(T_MEMBERSHIPS.c.id, T_MEMBERSHIPS.c.status, T_WORKSPACES.c.id.label("workspace_id"))
            .join(T_WORKSPACES, T_WORKSPACES.c.id == T_MEMBERSHIPS.c.workspace_id)
            .join(T_USERS, T_USERS.c.id == T_MEMBERSHIPS.c.user_id)
            .where(T_WORKSPACES.c.slug == slug, T_USERS.c.email == email.lower())
        ).first()
        if row is None:
            raise InvitationError(f"{email} is not a member of workspace {slug!r}")
        if row.status != "invited":
            raise InvitationError(
                f"{email} is {row.status} in workspace {slug!r}; only invited members get invitation links"
            )
        conn.execute(
            update(T_MEMBERSHIPS)
            .where(T_MEMBERSHIPS.c.id == row.id)
            .values(invitation_token_hash=digest, invitation_expires_at=expires, updated_at=models.utcnow())
        )
    return invitation_link(base_url, token, row.workspace_id), expires


# --- key rotation --------------------------------------------------------------------------------


def rotate_metadata(conn: Connection, keyring: Keyring) -> tuple[int, int]:
    """Re-encrypt every metadata blob and queued email with the current key; returns (metadata, emails).

    Every value is decrypted first (with any configured key), so a value that no key opens stops the rotation
    with an error naming its member, before anything is written.
    """
    blobs = conn.execute(
        select(T_METADATA.c.membership_id, T_METADATA.c.ciphertext, T_USERS.c.email, T_WORKSPACES.c.slug)
        .join(T_MEMBERSHIPS, T_MEMBERSHIPS.c.id == T_METADATA.c.membership_id)
        .join(T_USERS, T_USERS.c.id == T_MEMBERSHIPS.c.user_id)
        .join(T_WORKSPACES, T_WORKSPACES.c.id == T_MEMBERSHIPS.c.workspace_id)
    ).all()
    rows = [
        {
            "b_id": r.membership_id,
            "v_blob": encrypt_metadata(
                keyring,
                r.membership_id,
                decrypt_metadata(
                    keyring, r.membership_id, r.ciphertext, what=f'the metadata of {r.email} in workspace "{r.slug}"'
                ),
            ),
        }
        for r in blobs
    ]
    mails = conn.execute(select(T_OUTBOX.c.id, T_OUTBOX.c.recipient, T_OUTBOX.c.payload_ciphertext)).all()
    mail_rows = [
        {
            "b_id": r.id,
            "v_blob": keyring.encrypt(
                _open_email(keyring, r.recipient, r.payload_ciphertext),
                purpose=OUTBOX_PURPOSE,
                associated_data=r.recipient.encode(),
            ),
        }
        for r in mails
    ]
    _executemany(
        conn,
        update(T_METADATA)
        .where(T_METADATA.c.membership_id == bindparam("b_id"))
        .values(ciphertext=bindparam("v_blob")),
        rows,
    )
    _executemany(
        conn,
        update(T_OUTBOX).where(T_OUTBOX.c.id == bindparam("b_id")).values(payload_ciphertext=bindparam("v_blob")),
        mail_rows,
    )
    return len(rows), len(mail_rows)


def _b(name: str):
    from sqlalchemy import bindparam

    return bindparam(name)


def _executemany(conn: Connection, statement, rows: Iterable[dict]) -> None:
    rows = list(rows)
    if rows:
        conn.execute(statement, rows)
