"""On SQLite an apply must not fail because a reader (drift, plan, export) is mid-read when it commits."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli

CONFIG = """\
version: 1
workspaces:
  - slug: acme
    name: Acme
    users:
      - {email: a@acme.example, first_name: A, role: admin}
"""


def test_apply_commits_after_a_concurrent_reader_finishes(sqlite_url: str, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    runner = CliRunner()
    assert runner.invoke(cli, ["--database", sqlite_url, "apply", "-f", str(config), "--auto-approve"]).exit_code == 0
    config.write_text(CONFIG + "      - {email: b@acme.example, first_name: B, role: builder}\n")

    path = sqlite_url.removeprefix("sqlite:///")
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM memberships").fetchone()  # holds a SHARED lock
    applied = threading.Event()
    waited: list[bool] = []

    def finish_read_once_the_apply_waits_to_commit() -> None:
        while not applied.is_set():
            if _writer_waits_for_readers(path):
                waited.append(True)
                break
            time.sleep(0.005)
        reader.execute("COMMIT")

    thread = threading.Thread(target=finish_read_once_the_apply_waits_to_commit)
    thread.start()
    try:
        result = runner.invoke(
            cli, ["--database", sqlite_url, "apply", "-f", str(config), "--auto-approve", "--lock-timeout", "0"]
        )
    finally:
        applied.set()
        thread.join()
        reader.close()
    assert result.exit_code == 0, result.output
    assert waited, "the apply committed without waiting for the reader"
    plan = runner.invoke(cli, ["--database", sqlite_url, "plan", "-f", str(config)])
    assert plan.output.strip() == "No changes. The database matches the configuration."


def _writer_waits_for_readers(path: str) -> bool:
    """Whether a writer is waiting to commit: it holds SQLite's PENDING lock, which keeps new readers out (a read
    that does not wait fails at once) until the readers it waits for are done."""
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("SELECT count(*) FROM memberships").fetchone()
    except sqlite3.OperationalError as exc:
        return "locked" in str(exc)
    finally:
        probe.close()
    return False
