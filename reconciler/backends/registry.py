"""Choosing a backend by name (``--backend`` / ``RECONCILER_BACKEND``)."""

from __future__ import annotations

from .base import Backend

BACKENDS = ("builtin",)


def open_backend(name: str, url: str) -> Backend:
    if name == "builtin":
        from .builtin.backend import BuiltinBackend

        return BuiltinBackend(url)
    raise ValueError(f"unknown backend {name!r}")


def upgrade_backend(name: str, url: str) -> tuple[str | None, str]:
    if name == "builtin":
        from .builtin.db import upgrade_database

        return upgrade_database(url)
    raise ValueError(f"unknown backend {name!r}")
