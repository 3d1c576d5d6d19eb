"""The files a configuration reads (issue 14): users_csv confined like {file:} secrets, regular files only with a
size limit checked before reading, and nothing of a key file (or of a file that is no CSV) in any error.

The same checks run in real processes, with time and memory bounds, in tests/reliability/test_hostile_input.py.
"""

from __future__ import annotations

import os
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.config.files import FileRefused, FileTooLarge, confine, read_regular_file
from reconciler.config.loader import load_config
from reconciler.errors import ConfigError

KEY = "5e" * 32
PASSWD_LINE = "root:x:0:0:root:/root:/bin/bash"


def lines_of(path: Path, *, resolve: bool = False) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        within_seconds(10, lambda: load_config(path, resolve_secrets=resolve, environ={}))
    return caught.value.lines()


def within_seconds(limit: float, call: Callable[[], Any]) -> Any:
    """``call()`` in a thread: a call that blocks (a FIFO opened for reading) fails the test instead of hanging."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"still running after {limit} s (blocked on a FIFO?)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def workspace(directory: Path, *, users_csv: str = "[]", settings: str = "{}", metadata: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "workspace.yaml"
    meta = f", metadata: {metadata}" if metadata else ""
    path.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            workspaces:
              - slug: acme
                name: Acme
                settings: {settings}
                users:
                  - {{email: alice@acme.example, first_name: Alice, role: admin{meta}}}
                users_csv: {users_csv}
            """
        ),
        encoding="utf-8",
    )
    return path


# --- read_regular_file ------------------------------------------------------------------------------------


def test_a_fifo_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(FileRefused, match=r"^file is a FIFO \(named pipe\), not a regular file$"):
        within_seconds(5, lambda: read_regular_file(fifo, max_bytes=100))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/dev/zero", "file is a special file (/dev/zero): only regular files are read"),
        ("/dev/urandom", "file is a special file (/dev/urandom): only regular files are read"),
        ("/proc/self/environ", "file is a special file (/proc/"),  # looks regular (size 0): the master key is there
        ("/proc/self/status", "file is a special file (/proc/"),
    ],
)
def test_devices_and_proc_files_are_refused(path: str, message: str) -> None:
    with pytest.raises(FileRefused) as caught:
        read_regular_file(Path(path), max_bytes=1 << 20)
    assert caught.value.message.startswith(message)


def test_a_link_to_a_device_is_refused(tmp_path: Path) -> None:
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    with pytest.raises(FileRefused, match="special file"):
        read_regular_file(tmp_path / "zero.txt", max_bytes=100)


def test_the_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with big.open("wb") as handle:
        handle.truncate(2 * 1024**3)  # 2 GB, sparse
    started = time.monotonic()
    with pytest.raises(FileTooLarge) as caught:
        read_regular_file(big, max_bytes=1000)
    assert time.monotonic() - started < 1
    assert caught.value.message == "file is 2,147,483,648 bytes, larger than the limit of 1,000 bytes"


@pytest.mark.parametrize(("name", "content"), [("db.key", "anything\n"), ("master.txt", KEY + "\n"), ("k", KEY)])
def test_key_files_are_refused_unless_asked(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(FileRefused) as caught:
        read_regular_file(path, max_bytes=1000)
    assert "key file" in caught.value.message and KEY[:8] not in caught.value.message
    assert read_regular_file(path, max_bytes=1000, refuse_keys=False) == content.encode()


def test_confine_resolves_links_before_checking(tmp_path: Path) -> None:
    root = tmp_path / "cfg"
    (root / "data").mkdir(parents=True)
    (root / "data" / "people.csv").write_text("x")
    (root / "link.csv").symlink_to("/etc/hostname")
    assert confine(root / "data" / "people.csv", [root]) == (root / "data" / "people.csv", None)
    assert (
        confine(root / "data" / ".." / ".." / "x.csv", [root])[1] == f"is outside the configuration's directory {root}"
    )
    real, why = confine(root / "link.csv", [root])
    assert (
        real == Path("/etc/hostname")
        and why == f"is outside the configuration's directory {root} (it resolves to {real})"
    )


# --- users_csv -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/etc/passwd", "/proc/self/environ", "../outside.csv"])
def test_users_csv_outside_the_configuration_is_refused_without_reading_it(tmp_path: Path, target: str) -> None:
    (tmp_path / "outside.csv").write_text(PASSWD_LINE + "\n")
    path = workspace(tmp_path / "cfg", users_csv=f"[{target!r}]")
    [line] = lines_of(path)
    assert line.startswith(f"{path}:8:17: workspaces[0].users_csv[0]: CSV file {target!r} is outside the configuration")
    assert line.endswith("(to read CSV files from another directory, list it in this workspace's settings.csv_dirs, "
                         "e.g. csv_dirs: [/srv/hr-exports])")  # fmt: skip
    assert "root:x" not in line and "PATH=" not in line


def test_a_committed_link_to_a_file_outside_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "people.csv").symlink_to("/etc/passwd")
    path = workspace(tmp_path / "cfg", users_csv="[people.csv]")
    [line] = lines_of(path)
    assert "CSV file 'people.csv' is outside the configuration's directory" in line
    assert "(it resolves to /etc/passwd)" in line and "root:" not in line


def test_csv_dirs_allows_a_directory(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "people.csv").write_text("Full Name,Email,Role\nBob Lee,bob@acme.example,End User\n")
    path = workspace(tmp_path / "cfg", users_csv=f"[{exports / 'people.csv'}]", settings=f"{{csv_dirs: [{exports}]}}")
    desired = load_config(path, resolve_secrets=False)
    assert sorted(desired.workspaces["acme"].workspace.memberships) == ["alice@acme.example", "bob@acme.example"]


def test_secret_dirs_does_not_open_a_directory_to_csv(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "db_password").write_text("hunter2\n")
    path = workspace(
        tmp_path / "cfg", users_csv=f"[{secrets / 'db_password'}]", settings=f"{{secret_dirs: [{secrets}]}}"
    )
    [line] = lines_of(path)
    assert "is outside the configuration's directory" in line and "hunter2" not in line


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        (PASSWD_LINE + "\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n", None),
        ("PATH=/usr/bin\x00RECONCILER_MASTER_KEY=" + KEY + "\x00HOME=/root", None),
        ("Email;Role;Full Name\n", "the file must be comma-separated"),
    ],
)
def test_a_file_that_is_no_csv_is_not_quoted(tmp_path: Path, content: str, shown: str | None) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "people.csv").write_text(content)
    path = workspace(tmp_path / "cfg", users_csv="[people.csv]")
    [line] = lines_of(path)
    assert line.startswith(
        f"{tmp_path}/cfg/people.csv:1: row 1: the first row is not a CSV header: none of its cells names a known "
        "column (its content is not shown)"
    )
    assert "root:x" not in line and "/bin/bash" not in line and "PATH" not in line and KEY[:10] not in line
    if shown:
        assert shown in line


@pytest.mark.parametrize("name", ["people.csv", "people.key"])
def test_a_key_file_named_as_csv_is_not_read(tmp_path: Path, name: str) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "master.key").write_text(KEY + "\n")
    if name != "master.key":
        (tmp_path / "cfg" / name).symlink_to("master.key")
    path = workspace(tmp_path / "cfg", users_csv=f"[{name}]")
    [line] = lines_of(path)
    assert f"CSV file {name!r} looks like a key file" in line and "5e5e" not in line


def test_a_fifo_as_csv_is_refused_without_hanging(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    os.mkfifo(tmp_path / "cfg" / "people.csv")
    [line] = lines_of(workspace(tmp_path / "cfg", users_csv="[people.csv]"))
    assert line.endswith("workspaces[0].users_csv[0]: CSV file 'people.csv' is a FIFO (named pipe), not a regular file")


# --- YAML files and {file:} secrets ---------------------------------------------------------------------------


def test_a_yaml_link_to_the_key_file_shows_nothing_of_it(tmp_path: Path) -> None:
    (tmp_path / "reconciler.db.key").write_text(KEY + "\n")
    (tmp_path / "evil.yaml").symlink_to("reconciler.db.key")
    [line] = lines_of(tmp_path / "evil.yaml")
    assert line == (
        f"{tmp_path}/evil.yaml: file looks like a key file (its name ends in .key, or it holds a 64-hex-digit key): "
        "it is not read as configuration, and nothing of it is shown"
    )


def test_a_yaml_file_that_is_one_string_is_not_quoted(tmp_path: Path) -> None:
    (tmp_path / "token.yaml").write_text("ghp_" + "A1b2C3d4" * 5 + "\n")
    [line] = lines_of(tmp_path / "token.yaml")
    assert line == f"{tmp_path}/token.yaml:1:1: expected a mapping with 'version' and 'workspaces', got a string"


def test_a_fifo_given_with_f_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    assert lines_of(tmp_path / "pipe.yaml") == [
        f"{tmp_path}/pipe.yaml: file is a FIFO (named pipe), not a regular file"
    ]


def test_secret_files_must_be_regular_and_small(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    directory.mkdir()
    os.mkfifo(directory / "pipe.txt")
    with (directory / "big.txt").open("wb") as handle:
        handle.truncate(2 * 1024**3)
    (directory / "zero.txt").symlink_to("/dev/zero")
    path = workspace(
        directory,
        settings="{secret_dirs: [/dev]}",
        metadata="{a: {file: pipe.txt}, b: {file: big.txt}, c: {file: zero.txt}}",
    )
    lines = lines_of(path, resolve=True)
    assert [line.split(": ", 2)[2] for line in lines] == [
        "secret file 'pipe.txt' is a FIFO (named pipe), not a regular file",
        "the secret's value is longer than 2000 characters",
        "secret file 'zero.txt' is a special file (/dev/zero): only regular files are read",
    ]


def test_a_secret_file_named_like_a_key_is_refused_at_validate(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "reconciler.db.key").write_text(KEY + "\n")
    path = workspace(tmp_path / "cfg", metadata="{k: {file: reconciler.db.key}}")
    [line] = lines_of(path)
    assert "secret file 'reconciler.db.key' is named like a key file" in line
