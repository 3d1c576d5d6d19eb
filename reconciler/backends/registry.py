"""Choosing a backend by name (``--backend`` / ``RECONCILER_BACKEND``): the one place that knows the names.

Each backend is imported only when it is chosen, so that ``reconciler --help`` does not load a database driver.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import Backend


def _builtin() -> type[Backend]:
    from .builtin.backend import BuiltinBackend

    return BuiltinBackend


def _tooljet() -> type[Backend]:
    from .tooljet.backend import ToolJetBackend

    return ToolJetBackend


_LOADERS: dict[str, Callable[[], type[Backend]]] = {"builtin": _builtin, "tooljet": _tooljet}
BACKENDS = tuple(_LOADERS)


def backend_class(name: str) -> type[Backend]:
    """The class of the backend ``name``, whose capabilities (``CREATES_SCHEMA``, ...) can be asked before one
    is opened."""
    if name not in _LOADERS:
        raise ValueError(f"unknown backend {name!r}")
    return _LOADERS[name]()


def open_backend(name: str, url: str, *, create: bool = False) -> Backend:
    """The backend ``name`` on ``url``. Only ``create`` (apply) may create the database or its schema; without
    it a missing one raises :class:`~reconciler.errors.DatabaseMissing`."""
    return backend_class(name).open(url, create=create)


def upgrade_backend(name: str, url: str) -> tuple[str | None, str]:
    """``db upgrade``: (revision before, revision after), or the backend's refusal."""
    return backend_class(name).upgrade_schema(url)
