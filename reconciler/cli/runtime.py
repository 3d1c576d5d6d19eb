"""The state one command invocation shares: the global options, the open backend and the loaded master key.

Stage: CLI. The group (``app``) creates the :class:`Runtime`; every command receives it (``click.pass_obj``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, overload

from .output import inform

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..crypto import Keyring
    from ..keys import KeyringResult


@dataclass
class Runtime:
    database_url: str
    backend_name: str
    master_key_file: str | None
    debug: bool
    color: bool
    _backend: Backend | None = None
    _keys: dict[bool, KeyringResult] = field(default_factory=dict)
    _notices_shown: set[str] = field(default_factory=set)

    def backend(self, *, create: bool = False) -> Backend:
        """The database. Only ``create`` (``apply``) may create it or its schema (SPEC 3); every other command
        gets :class:`~reconciler.errors.DatabaseMissing` for a database that does not exist yet."""
        if self._backend is None:
            from ..backends.registry import open_backend

            self._backend = open_backend(self.backend_name, self.database_url, create=create)
        return self._backend

    def backend_or_absent(self) -> tuple[Backend, str | None]:
        """For ``plan``: the database, or an empty stand-in for one that does not exist yet, with a note."""
        from ..errors import DatabaseMissing

        try:
            return self.backend(), None
        except DatabaseMissing as exc:
            from ..backends.registry import backend_class

            kind = backend_class(self.backend_name)
            if not kind.CREATES_SCHEMA:
                raise
            note = f"{exc.message}; this plan starts from an empty state, and 'reconciler apply' will create it."
            return kind.absent(self.database_url, exc), note

    @overload
    def keyring(self, *, create: bool = False, required: Literal[True]) -> Keyring: ...

    @overload
    def keyring(self, *, create: bool = False, required: bool = False) -> Keyring | None: ...

    def keyring(self, *, create: bool = False, required: bool = False) -> Keyring | None:
        """The master key (created beside a SQLite database with ``create``); ``required``: an error without one.
        A notice about the key file (created, readable by others) is printed once."""
        from ..keys import load_keyring, require_keyring

        result = self._keys.get(create)
        if result is None:
            result = load_keyring(
                self.database_url,
                environ=os.environ,
                master_key_file=self.master_key_file,
                create=create,
                holds_encrypted_data=self._holds_encrypted_data,
            )
            self._keys[create] = result
        if result.notice and result.notice not in self._notices_shown:
            self._notices_shown.add(result.notice)
            inform(result.notice)
        return require_keyring(result) if required else result.keyring

    def _holds_encrypted_data(self) -> bool:
        """Whether the database holds encrypted values (asked before a key file is created for it)."""
        from ..errors import DatabaseMissing

        try:
            backend = self.backend()
        except DatabaseMissing:
            return False
        return backend.holds_encrypted_data()

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
