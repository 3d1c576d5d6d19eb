"""Choosing a backend by name (``--backend`` / ``RECONCILER_BACKEND``)."""

from __future__ import annotations

from ..errors import ReconcilerError
from .base import Backend

BACKENDS = ("builtin", "tooljet")

TOOLJET_OWNS_SCHEMA = (
    "the tooljet backend never changes ToolJet's database schema: ToolJet owns it and migrates it itself "
    "when it starts; nothing was changed"
)


def open_backend(name: str, url: str, *, create: bool = False) -> Backend:
    """The backend ``name`` on ``url``. Only ``create`` (apply) may create the database or its schema; without
    it a missing one raises :class:`~reconciler.errors.DatabaseMissing`."""
    if name == "builtin":
        from .builtin.backend import BuiltinBackend

        return BuiltinBackend(url, create=create)
    if name == "tooljet":
        from .tooljet.backend import ToolJetBackend

        return ToolJetBackend(url)
    raise ValueError(f"unknown backend {name!r}")


def upgrade_backend(name: str, url: str) -> tuple[str | None, str]:
    if name == "builtin":
        from .builtin.db import upgrade_database

        return upgrade_database(url)
    if name == "tooljet":
        raise ReconcilerError(TOOLJET_OWNS_SCHEMA, hint="upgrade ToolJet itself; see docs/tooljet.md")
    raise ValueError(f"unknown backend {name!r}")
