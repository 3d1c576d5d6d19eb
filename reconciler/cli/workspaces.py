"""Which workspaces a command reads: ``--workspace`` (repeatable) or ``--all-workspaces``, checked against the database.

Stage: CLI. The one place, and the one wording, of workspace selection for the commands that read the database
(``users``, ``explain``, ``invite-url``, ``export``, ``report``). An unknown workspace is an
:class:`~reconciler.errors.UnknownWorkspace`, the error ``plan``, ``apply`` and ``drift`` get from the
configuration too.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NoReturn

from ..errors import UnknownWorkspace
from .output import fail

DATABASE = "the database"


def require_workspaces(requested: Collection[str], known: Collection[str]) -> None:
    """Refuse workspaces the database does not hold."""
    missing = set(requested) - set(known)
    if missing:
        raise UnknownWorkspace(missing, known, DATABASE)


def selected_workspaces(known: Sequence[str], requested: Collection[str], all_workspaces: bool) -> list[str] | None:
    """``--all-workspaces``: every workspace in the database; ``--workspace``: those, each checked; neither: None
    (the command picks a default or calls :func:`no_selection`); both: refused."""
    if requested and all_workspaces:
        fail("give either --workspace SLUG (repeatable) or --all-workspaces, not both")
    if all_workspaces:
        return list(known)
    if requested:
        require_workspaces(requested, known)
        return sorted(set(requested))
    return None


def no_selection(known: Collection[str], *alternatives: str) -> NoReturn:
    """Refuse a command that was told no workspace; ``alternatives`` are its other ways to name them."""
    choices = ["--workspace SLUG (repeatable)", "--all-workspaces", *alternatives]
    fail(
        f"give {', '.join(choices[:-1])} or {choices[-1]}",
        hint=f"workspaces in {DATABASE}: " + (", ".join(sorted(known)) or "none"),
    )
