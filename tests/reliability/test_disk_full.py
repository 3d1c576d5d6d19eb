"""Disk full in the middle of an apply (SQLite): one line that says what failed and that nothing was committed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Harness, config_yaml, workspace_yaml
from sqlalchemy import Engine, event

from reconciler.render.text import NO_CHANGES


@pytest.fixture
def full_disk() -> Iterator[list[int]]:
    """While active, every new SQLite connection may not grow its database file beyond ``limit[0]`` pages, which
    is what a full disk looks like to SQLite (SQLITE_FULL: "database or disk is full")."""
    limit: list[int] = []

    def cap(dbapi_connection: object, _record: object) -> None:
        if limit and type(dbapi_connection).__module__.startswith("sqlite3"):
            dbapi_connection.execute(f"PRAGMA max_page_count = {limit[0]}")  # type: ignore[attr-defined]

    event.listen(Engine, "connect", cap)
    try:
        yield limit
    finally:
        event.remove(Engine, "connect", cap)


@pytest.mark.reliability(
    area="Faults",
    fault="SQLite: the disk fills up in the middle of an apply of 400 new members (SQLITE_FULL)",
    outcome="one line: `apply failed and was rolled back; nothing was changed (database or disk is full)`; exit 1, "
    "no traceback or internal error; the database is unchanged; after space is freed the apply succeeds",
)
def test_a_full_disk_during_the_apply_rolls_back_with_one_line(
    sqlite_url: str, tmp_path: Path, full_disk: list[int]
) -> None:
    harness = Harness(sqlite_url, tmp_path)
    try:
        harness.apply(config_yaml(workspace_yaml(users="- {email: alice@acme.com, first_name: Alice, role: admin}\n")))
        users = "- {email: alice@acme.com, first_name: Alice, role: admin}\n" + "".join(
            f"- {{email: user{i}@acme.com, first_name: User{i}, role: end-user}}\n" for i in range(400)
        )
        harness.write(config_yaml(workspace_yaml(users=users)))
        before = harness.dump()
        full_disk.append(int(harness.scalar("PRAGMA page_count")) + 2)

        result = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve")

        assert result.exit_code == 1
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert errors == ["Error: apply failed and was rolled back; nothing was changed (database or disk is full)"], (
            result.stderr
        )
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
        full_disk.clear()
        assert harness.dump() == before

        assert harness.cli("apply", "-f", str(harness.config_path), "--auto-approve").exit_code == 0
        assert harness.cli("plan", "-f", str(harness.config_path)).stdout.strip() == NO_CHANGES
    finally:
        harness.close()
