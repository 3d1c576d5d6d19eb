"""Where master keys come from (SPEC §6): a key file, the environment, or a key file beside a SQLite database.

This is the only module that reads keys from the outside world; ``crypto.py`` stays pure. The environment is
passed in as a mapping so that callers (and tests) decide what it is.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from reconciler.crypto import KEY_BYTES, Keyring, parse_master_key
from reconciler.errors import SecretError

__all__ = [
    "MASTER_KEY_ENV",
    "PREVIOUS_KEYS_ENV",
    "KeyringResult",
    "load_keyring",
    "require_keyring",
    "sqlite_key_path",
]

MASTER_KEY_ENV = "RECONCILER_MASTER_KEY"
PREVIOUS_KEYS_ENV = "RECONCILER_PREVIOUS_KEYS"


@dataclass(frozen=True)
class KeyringResult:
    """The keyring, if any, and a message for the CLI to print once on stderr (key created, loose mode)."""

    keyring: Keyring | None
    notice: str | None = None


def load_keyring(
    database_url: str,
    *,
    environ: Mapping[str, str],
    master_key_file: str | None = None,
    create: bool = False,
) -> KeyringResult:
    """Find the master key: ``master_key_file``, else ``RECONCILER_MASTER_KEY``, else ``<sqlite db>.key``.

    ``create`` is set by commands that are about to encrypt: only they may create the SQLite key file, so that
    a read-only command never leaves a key behind. PostgreSQL never gets an implicit key: a key that lives on
    one machine while the data is shared would lock everyone else out.
    """
    previous = _previous_keys(environ)
    if master_key_file is not None:
        current, notice = _read_key_file(master_key_file, source=f"--master-key-file {master_key_file}")
        return KeyringResult(Keyring(current, previous), notice)
    env_value = environ.get(MASTER_KEY_ENV, "")
    if env_value.strip():  # an empty variable counts as unset, as it does in most shells and compose files
        return KeyringResult(Keyring(parse_master_key(env_value, source=MASTER_KEY_ENV), previous))

    key_path = sqlite_key_path(database_url)
    if key_path is None:
        return KeyringResult(None)
    if os.path.exists(key_path):
        current, notice = _read_key_file(key_path, source=f"the master key file {key_path}")
        return KeyringResult(Keyring(current, previous), notice)
    if not create:
        return KeyringResult(None)
    current = _create_key_file(key_path)
    notice = (
        f"Created a master key for the metadata encryption at {key_path} (mode 0600). "
        "Back it up: without it the encrypted metadata cannot be read."
    )
    return KeyringResult(Keyring(current, previous), notice)


def require_keyring(result: KeyringResult) -> Keyring:
    """The keyring, or the error that stops plan/apply before anything is written unencrypted."""
    if result.keyring is None:
        raise SecretError(
            "metadata is configured but no master key is available",
            hint=f"set {MASTER_KEY_ENV} (64 hex characters) or pass --master-key-file",
        )
    return result.keyring


def sqlite_key_path(database_url: str) -> str | None:
    """``<database path>.key`` for a file-based SQLite URL; None for in-memory SQLite and other databases."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if url.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):  # sqlite:///file:path?uri=true
        database = database[len("file:") :]
    if database in ("", ":memory:"):
        return None
    return database + ".key"


def _previous_keys(environ: Mapping[str, str]) -> tuple[bytes, ...]:
    entries = [entry for entry in environ.get(PREVIOUS_KEYS_ENV, "").split(",") if entry.strip()]
    return tuple(
        parse_master_key(entry, source=f"{PREVIOUS_KEYS_ENV} (entry {index})")
        for index, entry in enumerate(entries, start=1)
    )


def _read_key_file(path: str, *, source: str) -> tuple[bytes, str | None]:
    """The key, and a warning when others may read the file (it is still used: refusing helps nobody)."""
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            text = handle.read(4096)  # a key is 65 bytes; a path to something huge must not be read whole
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError as exc:
        raise SecretError(
            f"{source} cannot be read: {exc.strerror or exc}",
            hint="check the path and its permissions",
        ) from None
    key = parse_master_key(text, source=source)
    notice = None
    if mode & 0o077:
        notice = (
            f"Warning: the master key file {path} can be read by other users (mode {mode:04o}); "
            f"restrict it with: chmod 600 {path}"
        )
    return key, notice


def _create_key_file(path: str) -> bytes:
    """Write a new key so that no reader ever sees a partial file.

    The key goes to a private temporary file first, which is then hard-linked into place: the link fails if
    another process got there first, in which case its key wins and is read back. Filesystems without hard
    links fall back to writing the final file directly with O_EXCL.
    """
    key = secrets.token_bytes(KEY_BYTES)
    content = (key.hex() + "\n").encode("ascii")
    temp_path = f"{path}.{secrets.token_hex(8)}.tmp"
    try:
        _write_exclusive(temp_path, content)
        try:
            os.link(temp_path, path)
        except FileExistsError:
            return _read_key_file(path, source=f"the master key file {path}")[0]
        except OSError:
            _write_exclusive(path, content)
    except FileExistsError:
        return _read_key_file(path, source=f"the master key file {path}")[0]
    except OSError as exc:
        raise SecretError(
            f"cannot create the master key file {path}: {exc.strerror or exc}",
            hint=f"create the directory or set {MASTER_KEY_ENV}",
        ) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
    return key


def _write_exclusive(path: str, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        if hasattr(os, "fchmod"):  # the umask can only remove bits, but make the mode exact and explicit
            os.fchmod(fd, 0o600)
        os.write(fd, content)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)
