"""The files a configuration reads: its YAML files, its ``users_csv`` files and its ``{file:}`` secrets.

Stage: config, before parsing. One place decides which files may be read and reads them (docs/security.md,
"Files the configuration reads"):

- **Where.** ``users_csv`` files and ``{file:}`` secrets must resolve, symbolic links followed, to a file inside
  the configuration's directory (the ``-f`` root) or inside a directory the workspace allows
  (``settings.csv_dirs`` for CSV files, ``settings.secret_dirs`` for secrets): :func:`confine`.
- **What.** Only regular files are read. FIFOs, devices, sockets and directories are refused from ``stat``,
  before anything is opened for reading (a FIFO would block forever, ``/dev/zero`` never ends); so is anything
  under ``/proc``, ``/sys`` or ``/dev``, whose files look regular but are not (``/proc/self/environ`` holds the
  environment, master key included). The file is then opened with ``O_NONBLOCK`` and checked again with
  ``fstat`` (it may have been swapped in between).
- **How much.** The size limit is checked with ``stat`` before reading, and reading stops one byte past it.
- **Key files.** A file whose name ends in ``.key``, or whose content is a 64-hex-digit key (the format of
  reconciler's master key), is never read as YAML or CSV, and no error shows anything of it.

Errors are :class:`FileRefused` (the message names the file's kind or size, never its content) or ``OSError``.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from ..errors import FileRefused, FileTooLarge

__all__ = [
    "KEY_FILE_MESSAGE",
    "FileRefused",
    "FileTooLarge",
    "allowed_roots",
    "confine",
    "is_key_name",
    "looks_like_key",
    "read_limited",
    "read_regular_file",
]

PSEUDO_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
KEY_FILE_MESSAGE = (
    "file looks like a key file (its name ends in .key, or it holds a 64-hex-digit key): it is not read as "
    "configuration, and nothing of it is shown"
)
_KEY_CONTENT = re.compile(rb"\s*[0-9A-Fa-f]{64}\s*")
_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def read_regular_file(path: Path, *, max_bytes: int, refuse_keys: bool = True) -> bytes:
    """The content of ``path`` if it is a regular file of at most ``max_bytes`` bytes (see the module docstring).

    ``refuse_keys``: refuse key files (YAML and CSV files; secrets are never shown, so they may be anything).
    Raises :class:`FileRefused`, or ``OSError`` when the file cannot be found or opened.
    """
    real = Path(os.path.realpath(path))
    if any(real == root or real.is_relative_to(root) for root in PSEUDO_ROOTS):
        raise FileRefused(f"file is a special file ({real}): only regular files are read")
    if refuse_keys and (is_key_name(path) or is_key_name(real)):
        raise FileRefused(KEY_FILE_MESSAGE)
    _check(os.stat(path), max_bytes)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        _check(os.fstat(fd), max_bytes)  # the same file that is read (it may have been replaced since stat)
        data = read_limited(handle, max_bytes + 1)
    if len(data) > max_bytes:  # it grew while being read
        raise FileTooLarge(None, max_bytes)
    if refuse_keys and looks_like_key(data):
        raise FileRefused(KEY_FILE_MESSAGE)
    return data


def read_limited(handle: BinaryIO, limit: int, chunk: int = 1 << 16) -> bytes:
    """At most ``limit`` bytes from ``handle``, in chunks.

    ``handle.read(limit)`` would allocate a buffer of ``limit`` bytes up front (16 MiB for every small file).
    """
    parts: list[bytes] = []
    total = 0
    while total < limit:
        part = handle.read(min(chunk, limit - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def _check(status: os.stat_result, max_bytes: int) -> None:
    for test, kind in _KINDS:
        if test(status.st_mode):
            raise FileRefused(f"file is {kind}, not a regular file")
    if not stat.S_ISREG(status.st_mode):
        raise FileRefused("file is not a regular file")
    if status.st_size > max_bytes:
        raise FileTooLarge(status.st_size, max_bytes)


def is_key_name(path: Path) -> bool:
    return path.name.lower().endswith(".key")


def looks_like_key(data: bytes) -> bool:
    """Whether ``data`` is one 64-hex-digit key (reconciler's master key file, ``<database>.key``)."""
    return len(data) < 256 and _KEY_CONTENT.fullmatch(data) is not None


def allowed_roots(config_root: Path, base_dir: Path, extra_dirs: Iterable[str]) -> list[Path]:
    """The directories a workspace's files may be read from, symlinks resolved: the configuration's directory
    first, then ``extra_dirs`` (a ``settings`` list; relative ones from the YAML file's directory ``base_dir``)."""
    roots = [config_root, *(Path(base_dir, d) for d in extra_dirs)]
    return [Path(os.path.realpath(r)) for r in roots]


def confine(written: Path, roots: Sequence[Path]) -> tuple[Path, str | None]:
    """``written`` with symlinks resolved, and None when it is inside one of ``roots``; else why it is not
    (``outside the configuration's directory /cfg`` and, for a link, where it leads)."""
    real = Path(os.path.realpath(written))
    if any(real.is_relative_to(root) for root in roots):
        return real, None
    through_link = Path(os.path.abspath(written)) != real
    return real, f"is outside the configuration's directory {roots[0]}" + (
        f" (it resolves to {real})" if through_link else ""
    )
