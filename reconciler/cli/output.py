"""What the command line says to the person running it: the ``Error:``, ``Hint:``, ``Warning:`` and ``Note:`` lines.

Stage: CLI. A command's result (a plan, a report, a table) goes to standard output; every line addressed to the
person goes to standard error, through this module only, so that a result can be piped. The library words some
lines itself, prefix included (a backend's ``after_commit`` lines, a key file's notice, the invitation base-URL
warning): :func:`inform` writes those as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NoReturn

import click

from ..errors import ReconcilerError
from ..safetext import escape


def inform(line: str) -> None:
    """One line on standard error, as it is."""
    click.echo(line, err=True)


def warning(message: str) -> None:
    inform(f"Warning: {message}")


def note(message: str) -> None:
    inform(f"Note: {message}")


def errors(lines: Iterable[str], hints: Iterable[str] = ()) -> None:
    """An error's lines (one ``Error:`` each) and its hints (one ``Hint:`` each). User text in any error shows as
    written, never as terminal control."""
    for line in lines:
        inform(f"Error: {escape(line)}")
    for hint in hints:
        inform(f"Hint: {escape(hint)}")


def fail(message: str, hint: str | None = None) -> NoReturn:
    """Refuse the command: the edge (``app.ReconcilerGroup``) prints the error and exits 1."""
    raise ReconcilerError(message, hint=hint)
