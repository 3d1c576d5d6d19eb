"""Where master keys come from (SPEC §6): a key file, the environment, or a key file beside a SQLite database.

This is the only module that reads keys from the outside world; ``crypto.py`` stays pure. The environment is
passed in as a mapping so that callers (and tests) decide what it is.

It also replaces the SQLite key file when ``keys rotate`` rotates it, in steps that keep the data readable
whenever the process stops: the old key is copied to ``<key file>.previous-<UTC time>`` and the new one written
to ``<key file>.new`` (both mode 0600 and synced) *before* anything is re-encrypted; the re-encryption commits;
then ``.new`` is renamed over the key file. Until that rename, loading the key file also loads ``.new`` as a
decryption key, so data committed under the new key stays readable, and the next ``keys rotate`` resumes with
that same new key instead of making another.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from reconciler.crypto import KEY_BYTES, Keyring, parse_master_key
from reconciler.errors import ReconcilerError, SecretError

__all__ = [
    "MASTER_KEY_ENV",
    "MASTER_KEY_FILE_ENV",
    "PREVIOUS_KEYS_ENV",
    "KeyFileRotation",
    "KeyringResult",
    "abandon_key_file_rotation",
    "finish_key_file_rotation",
    "load_keyring",
    "require_keyring",
    "sqlite_key_path",
    "stage_key_file_rotation",
]

MASTER_KEY_ENV = "RECONCILER_MASTER_KEY"
MASTER_KEY_FILE_ENV = "RECONCILER_MASTER_KEY_FILE"
PREVIOUS_KEYS_ENV = "RECONCILER_PREVIOUS_KEYS"
STAGED_SUFFIX = ".new"  # <key file>.new: the next key of an unfinished key-file rotation
PREVIOUS_SUFFIX = ".previous-"  # <key file>.previous-<UTC time>: a key that a rotation replaced


@dataclass(frozen=True)
class KeyringResult:
    """The keyring, if any, and a message for the CLI to print once on stderr (key created, loose mode).

    ``key_file`` is the SQLite key file the current key was read from (or created as), when that is where it
    came from: the one key source that ``keys rotate`` replaces itself.
    """

    keyring: Keyring | None
    notice: str | None = None
    key_file: str | None = None


@dataclass(frozen=True)
class Rotation:
    """What ``keys rotate`` did: records re-encrypted, and for the SQLite key file, where the keys now are."""

    metadata: int
    emails: int
    key_source: str
    key_file: str | None = None  # the key file that now holds the new key
    previous_file: str | None = None  # where the replaced key was kept


def load_keyring(
    database_url: str,
    *,
    environ: Mapping[str, str],
    master_key_file: str | None = None,
    create: bool = False,
    holds_encrypted_data: Callable[[], bool] | None = None,
) -> KeyringResult:
    """Find the master key: ``master_key_file``, else ``RECONCILER_MASTER_KEY_FILE``, else
    ``RECONCILER_MASTER_KEY``, else ``<sqlite db>.key``.

    ``create`` is set by commands that are about to encrypt: only they may create the SQLite key file, so that
    a read-only command never leaves a key behind. PostgreSQL never gets an implicit key: a key that lives on
    one machine while the data is shared would lock everyone else out.

    ``holds_encrypted_data`` says whether the database already holds encrypted values (metadata, queued emails):
    then the key file is never created, since a new key would open none of them and new values written under
    it would leave the database with two keys. The key file was lost, and the error says which key is missing.
    """
    previous = _previous_keys(environ)
    env_file = environ.get(MASTER_KEY_FILE_ENV, "").strip()
    if master_key_file is not None or env_file:
        # The option wins over the variable, as every option does over its variable.
        if master_key_file is not None:
            path, source = master_key_file, f"--master-key-file {master_key_file}"
        else:
            path, source = env_file, f"{MASTER_KEY_FILE_ENV} ({env_file})"
        current, notice = _read_key_file(path, source=source)
        return KeyringResult(Keyring(current, previous, source=source), notice)
    env_value = environ.get(MASTER_KEY_ENV, "")
    if env_value.strip():  # an empty variable counts as unset, as it does in most shells and compose files
        current = parse_master_key(env_value, source=MASTER_KEY_ENV)
        return KeyringResult(Keyring(current, previous, source=MASTER_KEY_ENV))

    key_path = sqlite_key_path(database_url)
    if key_path is None:
        return KeyringResult(None)
    source = _key_file_source(key_path)
    notices: list[str] = []
    if os.path.exists(key_path):
        current, notice = _read_key_file(key_path, source=source)
        notices += [notice] if notice else []
    elif not create:
        return KeyringResult(None)
    elif holds_encrypted_data is not None and holds_encrypted_data():
        raise SecretError(
            f"the master key is missing: the database holds encrypted metadata or invitation emails, but its key "
            f"file {key_path} does not exist; a new key would not open them, so none is created",
            hint=f"restore {key_path} from a backup, or provide the key with {MASTER_KEY_ENV} (64 hex digits) or "
            f"{MASTER_KEY_FILE_ENV} (or --master-key-file)",
        )
    else:
        current = _create_key_file(key_path)
        notices.append(
            f"Created a master key for the metadata encryption at {key_path} (mode 0600). "
            "Back it up: without it the encrypted metadata cannot be read."
        )
    staged = _staged_key(key_path)
    if staged is not None:
        previous = (*previous, staged)
        notices.append(
            f"Warning: a rotation of the master key file {key_path} did not finish ({key_path}{STAGED_SUFFIX} "
            "exists); both keys are used to read. Finish it with: reconciler keys rotate"
        )
    return KeyringResult(Keyring(current, previous, source=source), "\n".join(notices) or None, key_path)


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


def _key_file_source(key_path: str) -> str:
    return f"the key file {key_path}"


def _staged_key(key_path: str) -> bytes | None:
    """The new key of an unfinished rotation of ``key_path``, if one was left behind."""
    staged_path = key_path + STAGED_SUFFIX
    if not os.path.exists(staged_path):
        return None
    return _read_key_file(staged_path, source=f"the new key file {staged_path}")[0]


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
    """Write a new key so that no reader ever sees a partial file; if another process got there first, its
    key wins and is read back."""
    key = secrets.token_bytes(KEY_BYTES)
    try:
        _publish(path, key, replace=False)
    except FileExistsError:
        return _read_key_file(path, source=_key_file_source(path))[0]
    except OSError as exc:
        raise SecretError(
            f"cannot create the master key file {path}: {exc.strerror or exc}",
            hint=f"create the directory or set {MASTER_KEY_ENV}",
        ) from None
    return key


def _publish(path: str, key: bytes, *, replace: bool) -> None:
    """Write ``key`` to ``path`` (mode 0600) so that no reader ever sees a partial file.

    The key goes to a private temporary file first (synced), which is then renamed over ``path``
    (``replace``) or hard-linked into place, which fails with FileExistsError if ``path`` exists.
    Filesystems without hard links fall back to writing the final file directly with O_EXCL.
    """
    content = (key.hex() + "\n").encode("ascii")
    temp_path = f"{path}.{secrets.token_hex(8)}.tmp"
    try:
        _write_exclusive(temp_path, content)
        if replace:
            os.replace(temp_path, path)
        else:
            try:
                os.link(temp_path, path)
            except FileExistsError:
                raise
            except OSError:
                _write_exclusive(path, content)
        _sync_directory(path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)


def _sync_directory(path: str) -> None:
    """Make a rename or a new name in ``path``'s directory durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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


# --- rotating the SQLite key file ------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyFileRotation:
    """A staged rotation of the SQLite key file (see the module docstring for the steps and why).

    ``keyring`` holds the new key as current and the old one for decryption: what the re-encryption uses.
    ``resumed`` says the new key was left by an interrupted rotation and is being reused.
    """

    key_file: str
    staged_file: str
    previous_file: str
    keyring: Keyring = field(repr=False)
    resumed: bool = False


def stage_key_file_rotation(key_file: str, keyring: Keyring) -> KeyFileRotation:
    """Keep the current key in ``<key file>.previous-<UTC time>`` and write the new key to ``<key file>.new``.

    ``keyring`` is what :func:`load_keyring` returned for ``key_file``: its current key is the one being
    replaced. A ``.new`` file left by an interrupted rotation is reused, never replaced, since data may already
    be encrypted with it. Nothing is re-encrypted here; call :func:`finish_key_file_rotation` after commit.
    """
    try:
        previous_file = _keep_previous(key_file, keyring.current)
        staged_file = key_file + STAGED_SUFFIX
        staged = _staged_key(key_file)
        resumed = staged is not None
        if staged is None:
            staged = secrets.token_bytes(KEY_BYTES)
            _publish(staged_file, staged, replace=True)
    except OSError as exc:
        raise SecretError(
            f"cannot write beside the master key file {key_file}: {exc.strerror or exc}; nothing was changed",
            hint="check the permissions of its directory",
        ) from None
    # Messages name the key file: it is the key the user knows, and the one that opens data not yet rotated.
    new = Keyring(staged, (keyring.current, *keyring.previous), source=keyring.source)
    return KeyFileRotation(key_file, staged_file, previous_file, new, resumed)


def finish_key_file_rotation(rotation: KeyFileRotation) -> None:
    """After the re-encryption committed: the new key replaces the old one in the key file, atomically."""
    try:
        os.replace(rotation.staged_file, rotation.key_file)
    except OSError as exc:
        raise SecretError(
            f"the metadata is now encrypted with the key in {rotation.staged_file}, but it could not be renamed to "
            f"{rotation.key_file}: {exc.strerror or exc}",
            hint=f"rename it by hand (mv {rotation.staged_file} {rotation.key_file}); until then both are used",
        ) from None
    _sync_directory(rotation.key_file)


def abandon_key_file_rotation(rotation: KeyFileRotation) -> None:
    """The re-encryption did not happen (refused before it began): drop the new key this run made."""
    if not rotation.resumed:
        with contextlib.suppress(OSError):
            os.unlink(rotation.staged_file)


def _keep_previous(key_file: str, key: bytes) -> str:
    """``<key file>.previous-<UTC time>`` holding ``key``; an existing copy of the same key is reused."""
    directory = os.path.dirname(os.path.abspath(key_file))
    prefix = os.path.basename(key_file) + PREVIOUS_SUFFIX
    for name in sorted(os.listdir(directory)):
        if name.startswith(prefix) and not name.endswith(".tmp"):
            candidate = os.path.join(os.path.dirname(key_file), name)
            with contextlib.suppress(ReconcilerError):
                if _read_key_file(candidate, source=candidate)[0] == key:
                    return candidate
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(100):
        path = f"{key_file}{PREVIOUS_SUFFIX}{stamp}" + (f"-{attempt}" if attempt else "")
        try:
            _publish(path, key, replace=False)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{key_file}{PREVIOUS_SUFFIX}{stamp}")
