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

    reader = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM memberships").fetchone()  # holds a SHARED lock

    def finish_read() -> None:
        time.sleep(1.0)
        reader.execute("COMMIT")

    thread = threading.Thread(target=finish_read)
    thread.start()
    try:
        result = runner.invoke(
            cli, ["--database", sqlite_url, "apply", "-f", str(config), "--auto-approve", "--lock-timeout", "0"]
        )
    finally:
        thread.join()
        reader.close()
    assert result.exit_code == 0, result.output
    plan = runner.invoke(cli, ["--database", sqlite_url, "plan", "-f", str(config)])
    assert plan.output.strip() == "No changes. The database matches the configuration."
