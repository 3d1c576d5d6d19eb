"""Apply's safety (SPEC 5): confirmation, no TTY, one apply at a time, all-or-nothing, exit codes."""

from __future__ import annotations

import json
import os
import pty
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbtools import sqlite_file_url
from helpers import Harness, asleep, config_yaml, run_cli, workspace_yaml
from sqlalchemy import text

from reconciler.backends.builtin.backend import _read_holder
from reconciler.backends.builtin.executor import Executor
from reconciler.cli.plan import CHANGED_MESSAGE, CONFIRM_QUESTION
from reconciler.errors import ApplyError, LockTimeout
from reconciler.render.text import NO_CHANGES

RECONCILER = Path(sys.executable).with_name("reconciler")
GROUPS = """
- {name: ops, granular: {apps: [{access: view, apps: [crm]}]}}
- {name: old}
"""
USERS = """
- {email: alice@acme.com, first_name: Alice, role: admin, groups: [ops, old], metadata: {team: blue}}
- {email: bob@acme.com, first_name: Bob, role: end-user, groups: [old]}
"""
# Touches every phase of the executor: a new group, a role, a new user, group gains and losses, metadata,
# an archive and a destroyed group.
CHANGED_GROUPS = """
- {name: ops, granular: {apps: [{access: edit, apps: [crm]}]}}
- {name: new}
"""
CHANGED_USERS = """
- {email: alice@acme.com, first_name: Alice, role: admin, groups: [ops, new], metadata: {team: red}}
- {email: carol@acme.com, first_name: Carol, role: end-user, groups: [new], metadata: {k: v}}
"""


@pytest.fixture
def harness(database_url: str, tmp_path: Path) -> Iterator[Harness]:
    opened = Harness(database_url, tmp_path)
    opened.apply(config_yaml(workspace_yaml(users=USERS, groups=GROUPS)))
    opened.write(config_yaml(workspace_yaml(users=CHANGED_USERS, groups=CHANGED_GROUPS)))
    try:
        yield opened
    finally:
        opened.close()


def subprocess_env(harness: Harness) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    return env | {k: v for k, v in harness.cli_env().items() if v is not None} | {"NO_COLOR": "1"}


# --- confirmation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["no", "YES", "y", "", "yes please"])
def test_apply_answered_with_anything_but_yes_changes_nothing(
    harness: Harness, answer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reconciler.cli.plan.stdin_is_interactive", lambda: True)
    before, runs = harness.dump(), len(harness.backend.history(100))

    result = harness.cli("apply", "-f", str(harness.config_path), input=answer + "\n")

    assert result.exit_code == 1
    assert CONFIRM_QUESTION in result.stdout
    assert result.stderr == "Error: Apply cancelled: nothing was changed.\n"
    assert harness.dump() == before
    assert len(harness.backend.history(100)) == runs  # declined before the apply started: no run recorded


def test_apply_answered_yes_on_a_terminal(harness: Harness) -> None:
    """A real pseudo-terminal on stdin: the prompt is shown and ``yes`` applies."""
    for answer, code in (("no", 1), ("yes", 0)):
        result = _on_a_pty(harness, answer)
        assert result.returncode == code, result.stderr
        assert CONFIRM_QUESTION in result.stdout
    assert "Apply complete!" in result.stdout
    harness.assert_in_sync()


def _on_a_pty(harness: Harness, answer: str) -> subprocess.CompletedProcess[str]:
    controller, terminal = pty.openpty()
    try:
        os.write(controller, (answer + "\n").encode())
        return subprocess.run(
            [str(RECONCILER), "--database", harness.url, "apply", "-f", str(harness.config_path)],
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=120,
            env=subprocess_env(harness),
        )
    finally:
        os.close(terminal)
        os.close(controller)


def test_apply_without_a_tty_and_without_auto_approve_refuses_at_once(harness: Harness) -> None:
    before = harness.dump()
    started = time.monotonic()

    result = subprocess.run(
        [str(RECONCILER), "--database", harness.url, "apply", "-f", str(harness.config_path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(harness),
    )

    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "Error: cannot ask for confirmation: standard input is not a terminal"
    assert "--auto-approve" in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - started < 60  # it does not wait for an answer
    assert harness.dump() == before


# --- one apply at a time ----------------------------------------------------------------------------------


class HeldLock:
    """Holds the apply lock of ``harness``'s database in a thread, as another apply would."""

    def __init__(self, harness: Harness, actor: str, change: str | None = None) -> None:
        self.taken, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(harness, actor, change), daemon=True)
        self.error: BaseException | None = None
        self.waited = False  # release_when_waited_for saw the waiter wait

    def _hold(self, harness: Harness, actor: str, change: str | None) -> None:
        try:
            with harness.backend._locked(0, actor) as conn:
                if change is not None:
                    conn.execute(text(change))  # what the other apply writes; committed when it ends
                self.taken.set()
                self.release.wait(60)
        except BaseException as exc:  # surfaced by the test
            self.error = exc
            self.taken.set()

    def release_when_waited_for(self) -> None:
        """Release the lock once the calling thread is seen waiting for it (asleep between its tries), not after
        a fixed time; ``waited`` then says it was seen."""
        waiter = threading.get_native_id()

        def release() -> None:
            while not self.release.is_set():
                if asleep(os.getpid(), waiter):
                    self.waited = True
                    break
                time.sleep(0.005)
            self.release.set()

        threading.Thread(target=release, daemon=True).start()

    def __enter__(self) -> HeldLock:
        self.thread.start()
        assert self.taken.wait(30) and self.error is None, self.error
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self.thread.join(30)


def test_a_second_apply_fails_naming_the_holder(harness: Harness) -> None:
    before = harness.dump()
    with HeldLock(harness, "holder-of-the-lock"):
        result = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve")
    assert result.exit_code == 1
    error = result.stderr.splitlines()[0]
    # The pid is the holder's process on SQLite, the session's server process on PostgreSQL, and says which.
    pid = "(PostgreSQL backend pid " if harness.url.startswith("postgresql") else "(pid "
    assert error.startswith(f"Error: another apply holds the lock: reconciler apply by holder-of-the-lock {pid}")
    assert "since " in error and "--lock-timeout" in error
    assert harness.dump() == before


def test_a_lock_file_left_by_a_killed_apply_names_nobody(tmp_path: Path) -> None:
    """A holder killed with SIGKILL leaves its .lock-info behind (SQLite; PostgreSQL names the holder from
    pg_stat_activity); whoever holds the lock next is not that one."""
    url = sqlite_file_url(tmp_path)
    harness = Harness(url, tmp_path)
    harness.apply(config_yaml(workspace_yaml(users=USERS, groups=GROUPS)))
    harness.write(config_yaml(workspace_yaml(users=CHANGED_USERS, groups=CHANGED_GROUPS)))
    database = Path(url.removeprefix("sqlite:///"))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    database.with_suffix(".lock-info").write_text(
        f'{{"actor": "killed-earlier", "pid": {int(gone.stdout)}, "since": "2026-01-01T00:00:00+00:00"}}'
    )
    other_writer = sqlite3.connect(database, isolation_level=None)  # not reconciler: it writes no lock-info
    other_writer.execute("BEGIN IMMEDIATE")
    try:
        result = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve")
    finally:
        other_writer.execute("ROLLBACK")
        other_writer.close()
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith("Error: another apply holds the lock: another process; gave up")
    assert harness.plan().plan.summary["change"] > 0  # nothing was applied
    assert harness.cli("apply", "-f", str(harness.config_path), "--auto-approve").exit_code == 0  # lock free again
    harness.assert_in_sync()
    harness.close()


@pytest.mark.parametrize("pid", [2**70, 0, -1, True, "1", None])
def test_a_lock_info_file_with_a_nonsense_pid_names_nobody(tmp_path: Path, pid: object) -> None:
    info = tmp_path / "reconciler.lock-info"
    info.write_text(json.dumps({"actor": "someone", "pid": pid, "since": "2026-01-01T00:00:00+00:00"}))
    assert _read_holder(info) is None
    info.write_text(json.dumps({"actor": "someone", "pid": os.getpid(), "since": "2026-01-01T00:00:00+00:00"}))
    assert _read_holder(info) == f"reconciler apply by someone (pid {os.getpid()}, since 2026-01-01T00:00:00+00:00)"


def test_the_apply_page_cache_is_given_back_to_the_pool(tmp_path: Path) -> None:
    """The apply's larger SQLite page cache is restored on its pooled connection, applied or refused."""
    harness = Harness(sqlite_file_url(tmp_path), tmp_path)

    def cache_size() -> int:
        with harness.backend.engine.connect() as conn:
            return int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())

    before = cache_size()
    harness.apply(config_yaml(workspace_yaml(users=USERS, groups=GROUPS)))
    assert cache_size() == before
    other_writer = sqlite3.connect(harness.url.removeprefix("sqlite:///"), isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")
    try:
        planned = harness.plan(config_yaml(workspace_yaml(users=CHANGED_USERS, groups=CHANGED_GROUPS)))
        with pytest.raises(LockTimeout):
            harness.apply_plan(planned.plan)
    finally:
        other_writer.execute("ROLLBACK")
        other_writer.close()
    assert cache_size() == before
    harness.apply(config_yaml(workspace_yaml(users=CHANGED_USERS, groups=CHANGED_GROUPS)))
    harness.assert_in_sync()
    harness.close()


def test_a_second_apply_waits_with_lock_timeout(harness: Harness) -> None:
    with HeldLock(harness, "holder-of-the-lock") as held:
        held.release_when_waited_for()
        result = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve", "--lock-timeout", "30")
    assert result.exit_code == 0, result.stderr
    assert held.waited  # it waited for the lock, and got it when it was released
    assert harness.groups_of("carol@acme.com") == ["new"]
    harness.assert_in_sync()


RENAME = "UPDATE workspaces SET name = 'Renamed by the other apply'"


def test_a_waiting_auto_approved_apply_plans_again_after_the_other_apply(harness: Harness) -> None:
    with HeldLock(harness, "holder-of-the-lock", change=RENAME) as held:
        held.release_when_waited_for()
        result = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve", "--lock-timeout", "30")

    assert result.exit_code == 0, result.stderr
    assert held.waited
    assert "planning again" in result.stderr
    # The second plan shows, and undoes, what the other apply did.
    assert '  ~ workspace "acme"\n      ~ name: "Renamed by the other apply" -> "Acme Corp"' in result.stdout
    assert result.stdout.count("Apply complete!") == 1
    # The history keeps the refused first attempt, in the words of an apply that planned itself (it had no
    # saved plan to call stale), then the applied second one.
    refused, applied = sorted(harness.backend.history(5)[:2], key=lambda run: run.id)
    assert (refused.result, refused.command, refused.error) == ("refused", "apply", CHANGED_MESSAGE)
    assert (applied.result, applied.error) == ("applied", None)
    harness.assert_in_sync()


def test_a_waiting_interactive_apply_stops_when_the_database_changed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reconciler.cli.plan.stdin_is_interactive", lambda: True)
    before = harness.dump()
    with HeldLock(harness, "holder-of-the-lock", change=RENAME) as held:
        held.release_when_waited_for()
        result = harness.cli("apply", "-f", str(harness.config_path), "--lock-timeout", "30", input="yes\n")
    after = harness.dump()
    assert held.waited

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "Error: the database changed after the plan was made (another apply?); nothing was changed"
    )
    # What the person approved was not applied: only the other apply's change is there.
    assert harness.scalar("SELECT name FROM workspaces") == "Renamed by the other apply"
    assert {k: v for k, v in after.items() if k != "workspaces"} == {
        k: v for k, v in before.items() if k != "workspaces"
    }


# --- all or nothing ---------------------------------------------------------------------------------------


def _explode(*_args: object) -> None:
    raise RuntimeError("injected failure")


@pytest.mark.parametrize("phase", ["_write_metadata", "_remove_from_groups", "_destroy_groups"])
def test_an_exception_in_the_executor_leaves_the_database_as_it_was(
    harness: Harness, phase: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    original = Executor._create_memberships

    def create_then_note(self: Executor, items: list) -> None:
        original(self, items)
        ran.append("created")

    monkeypatch.setattr(Executor, "_create_memberships", create_then_note)
    monkeypatch.setattr(Executor, phase, _explode)
    before = harness.dump()

    result = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve")

    assert ran == ["created"]  # earlier phases did write before the failure
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: apply failed and was rolled back; nothing was changed (RuntimeError: injected failure)"
    ]
    assert "Traceback" not in result.output
    assert harness.dump() == before
    run = harness.backend.history(1)[0]
    assert (run.result, run.command) == ("failed", "apply")
    assert "injected failure" in (run.error or "")
    history = harness.cli("history")
    latest, error = history.stdout.splitlines()[:2]
    assert "  failed " in latest
    assert error.strip() == run.error

    monkeypatch.undo()
    harness.apply()
    harness.assert_in_sync()


def test_a_database_error_in_the_executor_rolls_back(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    def duplicate_user(self: Executor, items: list) -> None:
        from sqlalchemy import text

        self.conn.execute(text("INSERT INTO users (email, first_name, last_name) VALUES ('bob@acme.com', '', '')"))

    monkeypatch.setattr(Executor, "_archive", duplicate_user)
    before = harness.dump()
    with pytest.raises(ApplyError, match="apply failed and was rolled back; nothing was changed"):
        harness.apply()
    assert harness.dump() == before
    assert harness.backend.history(1)[0].result == "failed"


# --- exit codes -------------------------------------------------------------------------------------------


def test_detailed_exitcode(harness: Harness) -> None:
    plan = ["plan", "-f", str(harness.config_path), "--detailed-exitcode"]

    changes = harness.cli(*plan)
    assert changes.exit_code == 2, changes.stderr
    assert changes.stdout.splitlines()[-1].startswith("Plan: ")

    applied = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve")
    assert applied.exit_code == 0
    in_sync = harness.cli(*plan)
    assert (in_sync.exit_code, in_sync.stdout) == (0, NO_CHANGES + "\n")
    assert harness.cli(*plan[:-1]).exit_code == 0  # without the flag, changes or not, 0

    harness.config_path.write_text("version: 1\nworkspaces:\n  - slug: acme\n    grups: []\n")
    broken = harness.cli(*plan)
    assert broken.exit_code == 1
    assert broken.stderr.startswith("Error: ")
    unreachable = run_cli(["--database", "sqlite:////nonexistent/dir/x.db", *plan], env=harness.cli_env())
    assert unreachable.exit_code == 1 and unreachable.stderr.startswith("Error: ")


def test_detailed_exitcode_in_a_subprocess(harness: Harness) -> None:
    args = [str(RECONCILER), "--database", harness.url, "plan", "-f", str(harness.config_path), "--detailed-exitcode"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, env=subprocess_env(harness))
    assert result.returncode == 2, result.stderr
