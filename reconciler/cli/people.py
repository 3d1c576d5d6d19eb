"""People commands: users, explain, invite-url, accept-invite, invites send, keys rotate, csv template.

Stage: CLI. Parses options, calls the library, prints. Metadata values are shown only by ``explain --reveal``.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .options import all_workspaces_option, config_option, email_argument, lock_timeout_option, workspace_option
from .output import fail, inform, note, warning
from .runtime import Runtime
from .workspaces import no_selection, require_workspaces, selected_workspaces

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..errors import DeliveryInterrupted
    from ..mail import Transport


def _with_invitations(runtime: Runtime, command: str) -> Backend:
    """The backend, if it declares ``SUPPORTS_INVITATION_COMMANDS`` (see backends/base.py); else a refusal."""
    backend = runtime.backend()
    if not backend.SUPPORTS_INVITATION_COMMANDS:
        raise backend.unsupported(command)
    return backend


@click.command()
@workspace_option()
@all_workspaces_option()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@config_option(required=False)
@click.pass_obj
def users(runtime: Runtime, workspaces: tuple[str, ...], all_workspaces: bool, fmt: str, config_path: Any) -> None:
    """List members: email, name, workspace, status, role, groups, metadata keys (values masked).

    The footer counts seats as ToolJet does (docs/report.md, "Counting"): each person once, with an invited or
    active membership in an active workspace; builders hold the admin or builder role in any listed workspace.
    With -f CONFIG, the seats are shown against the configuration's declared limits (limits:, docs/tooljet.md):
    the top-level ones over the whole instance, a workspace's over that workspace; without --workspace, the
    configuration's workspaces are listed.

    \b
    Example:
      reconciler users --workspace acme
      reconciler users --all-workspaces --format json
      reconciler users --workspace acme -f workspace.yaml
    """
    from ..people import seats_footer, seats_of, user_rows

    backend = runtime.backend()
    known = backend.list_workspaces()
    declared = _declared_config(config_path)  # None without -f
    slugs = selected_workspaces(known, workspaces, all_workspaces)
    if slugs is None and declared is not None:  # -f alone: the configuration's workspaces the database has
        slugs = [slug for slug in known if slug in declared.workspaces] or None
    if slugs is None:
        no_selection(known)
    snapshot = backend.read_snapshot(slugs, runtime.keyring())
    rows = user_rows(snapshot, slugs)
    seats = seats_of(snapshot, slugs, whole_instance=all_workspaces)
    usage = _limit_usage(backend, snapshot, slugs, known, declared)
    if fmt == "json":
        data: dict[str, Any] = {"users": [r.as_json() for r in rows], "total_users": seats.total}
        data["builders"] = seats.builders
        if usage:
            data["limits"] = [item for _, item in usage]
        click.echo(json.dumps(data, indent=2))
        return
    _print_table(rows, runtime.color)
    click.echo(seats_footer(seats))
    for line, _ in usage:
        click.echo(line)


def _limit_usage(
    backend: Backend, snapshot: Any, slugs: list[str], known: list[str], declared: Any
) -> list[tuple[str, dict]]:
    """``users -f CONFIG``: each limit ``declared`` (the configuration, or None) has that concerns the listed
    workspaces, as a line and as JSON (the top-level limits over the whole instance, read for them; a workspace's
    over that workspace)."""
    if declared is None:
        return []
    from ..limits import applicable, as_instance, instance_wide, usage, usage_json

    limits = applicable(declared.limits, slugs)
    state = snapshot
    if instance_wide(limits):
        state = as_instance(snapshot, backend.read_without_metadata([s for s in known if s not in slugs]))
    found = []
    for limit in limits:
        line, data = usage(limit, state), usage_json(limit, state)
        if line is not None and data is not None:
            found.append((line, data))
    return found


def _print_table(rows: list, color: bool) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..render.text import escape_control

    def cell(value: str) -> Text:  # user data is plain text: never rich markup, never a control character
        return Text(escape_control(value))

    table = Table(show_lines=False, header_style="bold" if color else "")
    for column in ("Email", "Name", "Workspace", "Status", "Role", "Groups", "Metadata"):
        table.add_column(column, overflow="fold")
    for r in rows:
        meta = ", ".join(f"{k}=••••" for k in r.metadata_keys)
        values = (r.email, r.name, r.workspace, r.status, r.role, ", ".join(r.groups), meta)
        table.add_row(*(cell(value) for value in values))
    console = Console(no_color=not color, highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)
    console.print(table)


PEOPLE_LOCK_TIMEOUT = 10.0  # seconds: an apply usually finishes within them; a person at a terminal waits no longer


@click.command("invite-url")
@email_argument()
@click.option("--workspace", required=True, metavar="SLUG")
@lock_timeout_option(PEOPLE_LOCK_TIMEOUT, "Seconds to wait for an apply that holds the lock.")
@click.pass_obj
def invite_url(runtime: Runtime, email: str, workspace: str, lock_timeout: float) -> None:
    """Issue a fresh invitation link for an invited member (the old link stops working).

    \b
    Example:
      reconciler invite-url dana@acme.com --workspace acme
    """
    import os

    from ..mail import DEFAULT_BASE_URL, base_url_warning
    from ..workflow import default_actor

    backend = _with_invitations(runtime, "invite-url")
    require_workspaces([workspace], backend.list_workspaces())
    link, expires = backend.reissue_invitation(email, workspace, lock_timeout=lock_timeout, actor=default_actor())
    click.echo(link)
    for line in base_url_warning(os.environ, "RECONCILER_BASE_URL", DEFAULT_BASE_URL):
        inform(line)  # worded by mail.py, prefix included
    inform(f"The link expires on {expires.strftime('%Y-%m-%d %H:%M UTC')}; earlier links for {email} no longer work.")


@click.command("accept-invite")
@click.argument("link_or_token", metavar="LINK_OR_TOKEN")
@lock_timeout_option(PEOPLE_LOCK_TIMEOUT, "Seconds to wait for an apply that holds the lock.")
@click.pass_obj
def accept_invite(runtime: Runtime, link_or_token: str, lock_timeout: float) -> None:
    """Activate the membership an invitation belongs to (what the sign-up page calls).

    Takes the link from the invitation email or from invite-url (quote it: it holds a '?'), or its token.

    \b
    Example:
      reconciler accept-invite 'https://tooljet.acme.com/invitations/3q2-7wEXAMPLEtoken?oid=5f0c...'
      reconciler accept-invite 3q2-7wEXAMPLEtoken
    """
    from ..workflow import default_actor

    backend = _with_invitations(runtime, "accept-invite")
    slug, email = backend.accept_invitation(link_or_token, lock_timeout=lock_timeout, actor=default_actor())
    click.echo(f"{email} is now an active member of workspace {slug!r}.")


@click.group()
def invites() -> None:
    """Invitation emails.

    \b
    Example:
      reconciler invites send
    """


@invites.command("send")
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True, help="Extra attempts per run.")
@click.option("--backoff", type=click.FloatRange(min=0), default=2.0, show_default=True, help="First wait, seconds.")
@click.pass_obj
def invites_send(runtime: Runtime, retries: int, backoff: float) -> None:
    """Deliver pending invitation emails, retrying failures with exponential backoff.

    Over SMTP when RECONCILER_SMTP_URL is set, else as .eml files in RECONCILER_OUTBOX_DIR. Exit 1 when some
    emails are still pending afterwards (or when neither is set and some are pending).

    \b
    Example:
      RECONCILER_SMTP_URL=smtp://user:pass@mail:587?starttls=1 reconciler invites send
    """
    import os
    import time

    from sqlalchemy.exc import SQLAlchemyError

    from ..backends.common import one_line
    from ..errors import DeliveryInterrupted
    from ..mail import NO_TRANSPORT, delivery_line, sender_from_env, transport_from_env

    backend = _with_invitations(runtime, "invites send")
    transport = transport_from_env(os.environ)
    if transport is None:
        waiting = backend.pending_invitations()
        if waiting:
            fail(f"{waiting} invitation email(s) are pending, and {NO_TRANSPORT}", hint="then run this again")
        click.echo("No invitation emails are pending.")
        return
    keyring = runtime.keyring(required=True)
    sent, report = 0, None
    for attempt in range(retries + 1):
        transport = transport_from_env(os.environ)
        assert transport is not None
        try:
            report = backend.deliver_invitations(keyring, transport, sender=sender_from_env(os.environ))
        except DeliveryInterrupted as exc:
            _interrupted(transport, sent, exc)
        except SQLAlchemyError as exc:
            fail(f"reading the outbox failed ({one_line(exc)}); nothing was sent in this attempt", hint=_AGAIN)
        sent += len(report.sent)
        if not report.pending:
            break
        if attempt < retries:
            time.sleep(backoff * 2**attempt)
    assert report is not None and transport is not None
    click.echo(delivery_line(transport, sent))
    if report.pending:
        detail = f" (last error: {report.failed[-1][1]})" if report.failed else ""
        fail(
            f"{report.pending} invitation email(s) are still pending{detail}",
            hint="run 'reconciler invites send' again later",
        )


_AGAIN = "run 'reconciler invites send' again once the database is reachable and has space"


def _interrupted(transport: Transport, sent: int, exc: DeliveryInterrupted) -> NoReturn:
    """The outbox bookkeeping failed mid-delivery: what went out, what may go out twice, what waits."""
    from ..mail import delivery_line

    sent += len(exc.report.sent)
    if sent:
        click.echo(delivery_line(transport, sent))
    if exc.unrecorded is not None:
        note(f"the email to {exc.unrecorded} was handed over but could not be marked as sent; it will be sent again.")
    fail(f"{exc.message}; {len(exc.waiting)} email(s) stay pending", hint=_AGAIN)


@click.group()
def keys() -> None:
    """Master key maintenance.

    \b
    Example:
      reconciler keys rotate
      RECONCILER_MASTER_KEY=$NEW RECONCILER_PREVIOUS_KEYS=$OLD reconciler keys rotate
    """


@keys.command("rotate")
@lock_timeout_option()
@click.pass_obj
def keys_rotate(runtime: Runtime, lock_timeout: float) -> None:
    """Re-encrypt all metadata (and queued emails) with a new key, in one transaction.

    With the key file reconciler created beside a SQLite database (<database>.key), the command makes the new
    key itself: the old key is kept in <database>.key.previous-<UTC time> (mode 0600), and the key file holds
    the new key once everything is re-encrypted.

    With a key from RECONCILER_MASTER_KEY, RECONCILER_MASTER_KEY_FILE or --master-key-file, set the new key
    there and the old one in RECONCILER_PREVIOUS_KEYS; afterwards the old key is no longer needed.

    \b
    Example:
      reconciler keys rotate
      RECONCILER_MASTER_KEY=$NEW RECONCILER_PREVIOUS_KEYS=$OLD reconciler keys rotate
    """
    import os

    from ..keys import load_keyring
    from ..workflow import default_actor

    backend = runtime.backend()
    if not backend.SUPPORTS_KEY_ROTATION:
        raise backend.unsupported("keys rotate")
    loaded = load_keyring(runtime.database_url, environ=os.environ, master_key_file=runtime.master_key_file)
    if loaded.notice:
        inform(loaded.notice)  # worded by keys.py, prefix included
    done = backend.rotate_keys(loaded, lock_timeout=lock_timeout, actor=default_actor())
    if done.key_file is None:
        click.echo(
            f"Re-encrypted {done.metadata} metadata record(s) and {done.emails} queued email(s) with the master key "
            f"from {done.key_source}; the previous key(s) are no longer needed."
        )
        return
    click.echo(
        f"Re-encrypted {done.metadata} metadata record(s) and {done.emails} queued email(s) with a new master key, "
        f"now in {done.key_file}."
    )
    click.echo(
        f"The previous key is kept in {done.previous_file} (mode 0600): only backups made before this rotation "
        "need it. Move it away from the database, or delete it."
    )
    inform(f"Back up {done.key_file}: without it the encrypted metadata cannot be read.")


@click.group("csv")
def csv_group() -> None:
    """Bulk-invite CSV files.

    \b
    Example:
      reconciler csv template > people.csv
    """


@csv_group.command("template")
def csv_template() -> None:
    """Print a sample bulk-invite CSV (header and one row).

    \b
    Example:
      reconciler csv template > people.csv
    """
    from ..config.csvsource import CSV_TEMPLATE

    click.echo(CSV_TEMPLATE, nl=not CSV_TEMPLATE.endswith("\n"))


@click.command()
@email_argument()
@click.option("--workspace", required=True, metavar="SLUG")
@click.option("--reveal", is_flag=True, help="Show metadata values (the only command that does).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@config_option(required=False)
@click.pass_obj
def explain(runtime: Runtime, email: str, workspace: str, reveal: bool, fmt: str, config_path: Any) -> None:
    """Effective role and permissions of a member, with the group that grants each, and the
    globals.currentUser object apps see.

    With -f CONFIG the role's cause uses the declared role, as report -f does.

    \b
    Example:
      reconciler explain bob@acme.com --workspace acme
      reconciler explain bob@acme.com --workspace acme -f workspace.yaml
    """
    from ..access import declared_roles
    from ..people import explain_data, explain_text

    backend = runtime.backend()
    snapshot = backend.read_snapshot([workspace], runtime.keyring())
    if workspace not in snapshot.workspaces:
        require_workspaces([workspace], backend.list_workspaces())
    ws = snapshot.workspaces[workspace]
    member = ws.memberships.get(email.lower())
    if member is None:
        fail(f"{email} is not a member of workspace {workspace!r}")
    user = snapshot.users[member.email]
    declared = declared_roles(_declared_config(config_path)).get(workspace, {}).get(member.email)
    if reveal:
        warning("showing metadata values (--reveal).")
    if fmt == "text":
        click.echo(explain_text(ws, user, member, reveal=reveal, declared=declared))
        return
    click.echo(json.dumps(explain_data(ws, user, member, reveal=reveal, declared=declared), indent=2))


def _declared_config(config_path: Any) -> Any:
    """The configuration whose declared roles ``explain -f`` uses (roles only: its secrets are not resolved)."""
    if config_path is None:
        return None
    from ..config.loader import load_config

    return load_config(config_path, resolve_secrets=False, warn=warning)
