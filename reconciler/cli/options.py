"""Options that several commands share (the global ones are in ``app``).

Stage: CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def config_option(required: bool = True) -> Any:
    return click.option(
        "-f",
        "--file",
        "config_path",
        type=click.Path(path_type=Path),
        required=required,
        help="Configuration file, or a directory of *.yaml/*.yml files.",
    )


def workspace_option() -> Any:
    return click.option(
        "--workspace", "workspaces", multiple=True, metavar="SLUG", help="Only this workspace (repeatable)."
    )


def email_argument() -> Any:
    """An EMAIL argument in the stored and compared form (NFC, lower-case), as the configuration's addresses are:
    ``José@ACME.com`` typed in its decomposed form still finds the member."""

    def normalise(_ctx: Any, _param: Any, value: str) -> str:
        from ..config.identity import normalise_email

        return normalise_email(value.strip())

    return click.argument("email", callback=normalise)


def all_workspaces_option() -> Any:
    return click.option("--all-workspaces", is_flag=True, help="Every workspace in the database.")


def duration_callback(option: str, *, off: bool = False) -> Any:
    """A click callback reading a duration (3600, 90m, 24h, 7d); with ``off``, ``off`` (or 0) gives None."""

    def parse(_ctx: Any, _param: Any, value: str) -> Any:
        from ..workflow import parse_duration

        if off and value.strip() in ("off", "0"):
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None

    return parse


def duration_option(flag: str, default: str, help: str, *, off: bool = False) -> Any:
    """A ``DURATION`` option (3600, 90m, 24h, 7d), read by :func:`duration_callback`; with ``off``, ``off`` (or 0)
    turns it off (None)."""
    return click.option(
        flag,
        default=default,
        show_default=True,
        metavar="DURATION",
        callback=duration_callback(flag, off=off),
        help=help,
    )


def expiring_option() -> Any:
    """``--expiring-within DURATION``: what ``plan`` and ``drift`` list as expiring soon (issue 18)."""
    return duration_option(
        "--expiring-within", "7d", "List access that expires within this window (3600, 90m, 24h, 14d)."
    )


def hygiene_options() -> Any:
    """``--stale-invites`` and ``--not-signed-in`` (issue 18): what ``drift`` and ``report`` flag; ``off`` turns
    one off."""
    not_signed_in = duration_option(
        "--not-signed-in",
        "90d",
        "Flag active members not signed in for this long, where the backend records sign-ins (off: never).",
        off=True,
    )
    stale_invites = duration_option(
        "--stale-invites", "30d", "Flag invitations pending longer than this (off: never).", off=True
    )
    return lambda command: stale_invites(not_signed_in(command))


def lock_timeout_option(default: float = 0.0, help: str = "Seconds to wait for another apply.") -> Any:
    return click.option("--lock-timeout", type=click.FloatRange(min=0), default=default, show_default=True, help=help)
