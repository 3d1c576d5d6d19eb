"""Concurrency (SPEC 5): one apply at a time. Real ``reconciler`` processes, started together.

- A crowd: four applies (two waiting with ``--lock-timeout``, two not waiting) and three drifts started at the
  same moment. On PostgreSQL a monitor polls ``pg_locks`` throughout: never more than one holder of the apply
  lock, and every holder is one of the applies. Waiting applies all succeed; a non-waiting one either succeeds or
  fails naming the holder (its actor and pid); exactly one apply does the work; every drift sees either the whole
  plan or nothing; the final state equals the configuration.
- A hung holder (deterministic): an apply stopped with SIGSTOP right after it took the lock. Another apply fails
  at once naming it, one with ``--lock-timeout`` waits for it, a drift runs meanwhile and sees none of its
  uncommitted work; SIGCONT, and everything completes.
- A holder killed with SIGKILL while another waits: the waiter gets the lock (it died with its holder).
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest
from helpers import Harness, asleep, wait_until
from rel_support import RECONCILER, subprocess_env
from sqlalchemy import Engine, text

from reconciler.backends.builtin.db import open_database
from reconciler.cli.plan import CHANGED_MESSAGE
from reconciler.render.text import NO_CHANGES

USERS = 800
LOCK_ERROR = re.compile(
    r"^Error: another apply holds the lock: reconciler apply by (?P<actor>[\w-]+) "
    r"\((?P<backend>PostgreSQL backend )?pid (?P<pid>\d+), since [^)]+\); "
    r"gave up after waiting 0s"
)


def config_text(users: int = USERS) -> str:
    lines = [
        "version: 1",
        "workspaces:",
        "  - slug: busy",
        "    name: Busy Co",
        "    apps: [{slug: crm, name: CRM}]",
        "    groups:",
        "      - {name: editors, granular: {apps: [{access: edit, apps: [crm]}]}}",
        "      - {name: viewers, granular: {apps: [{access: view, apps: [crm]}]}}",
        "    users:",
    ]
    for i in range(users):
        role = "admin" if i < 2 else "end-user"
        group = "editors" if i % 4 == 0 else "viewers"
        meta = f", metadata: {{n: '{i}'}}" if i % 5 == 0 else ""
        lines.append(
            f"      - {{email: p{i:04d}@busy.example, first_name: P{i}, role: {role}, groups: [{group}]{meta}}}"
        )
    return "\n".join(lines) + "\n"


@dataclass
class Proc:
    name: str
    args: list[str]
    process: subprocess.Popen
    out: Path
    err: Path
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0  # from spawn to exit

    def alive(self) -> bool:
        return self.process.poll() is None

    def finish(self, timeout: float = 120) -> Proc:
        self.returncode = self.process.wait(timeout)
        self.seconds = time.monotonic() - self.started
        self.stdout = self.out.read_text(encoding="utf-8")
        self.stderr = self.err.read_text(encoding="utf-8")
        return self


def spawn(name: str, url: str, args: list[str], directory: Path, **env: str) -> Proc:
    out, err = directory / f"{name}.out", directory / f"{name}.err"
    full = [str(RECONCILER), "--database", url, *args]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            full, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, env=subprocess_env(directory, **env)
        )
    return Proc(name, full, process, out, err)


def wait_until_waiting(proc: Proc) -> None:
    """Until ``proc`` waits for a lock: asleep between its tries (see helpers.asleep)."""
    wait_until(lambda: asleep(proc.process.pid), f"{proc.name} waited for the lock", alive=proc.alive)


def apply_args(config: Path, actor: str, lock_timeout: float) -> list[str]:
    return ["apply", "-f", str(config), "--auto-approve", "--actor", actor, "--lock-timeout", f"{lock_timeout:g}"]


@dataclass
class LockMonitor:
    """Polls PostgreSQL for the holders of the apply lock (granted advisory locks with the backend's key)."""

    url: str
    samples: int = 0
    most_at_once: int = 0
    holders: list[tuple[str, int]] = field(default_factory=list)  # (application name, backend pid), in order
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        import psycopg

        from reconciler.backends.builtin.db import normalize_url

        url = normalize_url(self.url).replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as conn:
            schema = conn.execute("SELECT current_schema()").fetchone()[0]
            key = zlib.crc32(("reconciler:" + schema).encode()) & 0x7FFFFFFF
            query = (
                "SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = %s "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            while not self.stop.is_set():
                rows = conn.execute(query, (key,)).fetchall()
                self.samples += 1
                self.most_at_once = max(self.most_at_once, len(rows))
                for name, pid in rows:
                    if not self.holders or self.holders[-1] != (name, pid):
                        self.holders.append((name, pid))
                time.sleep(0.002)

    def __enter__(self) -> LockMonitor:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def _prepare(url: str, directory: Path) -> tuple[str, Path, Harness]:
    """An initialised, empty database (the schema exists: drift never creates it) and the configuration."""
    open_database(url).dispose()
    config = directory / "busy.yaml"
    config.write_text(config_text(), encoding="utf-8")
    harness = Harness(url, directory)
    harness.config_path = config
    return url, config, harness


@pytest.fixture
def prepared(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Path, Harness]]:
    prepared = _prepare(database_url, tmp_path)
    try:
        yield prepared
    finally:
        prepared[2].close()


def drift_summary(proc: Proc) -> dict[str, int]:
    assert proc.returncode in (0, 2), proc.stderr
    return json.loads(proc.stdout)["summary"]


@pytest.mark.slow
@pytest.mark.reliability(
    area="Concurrency",
    fault="4 applies (2 with --lock-timeout 60, 2 with 0) and 3 drifts (JSON) started at the same moment "
    "(800 members to create)",
    outcome="never two lock holders (pg_locks polled every 2 ms); waiting applies succeed; a non-waiting one "
    "succeeds or fails naming the holder's actor and backend pid; exactly one apply does the work; each drift sees "
    "the whole plan or nothing; final plan empty",
    database="PostgreSQL",
)
def test_applies_and_drifts_started_together(
    postgres_url: str, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    url, config, harness = _prepare(postgres_url, tmp_path)
    try:
        _crowd(url, config, harness, tmp_path, record_property)
    finally:
        harness.close()


def _crowd(url: str, config: Path, harness: Harness, tmp_path: Path, record_property: Callable) -> None:
    full = harness.plan().plan.summary
    with LockMonitor(url) as monitor:
        procs = [spawn(f"apply-wait-{i}", url, apply_args(config, f"apply-wait-{i}", 60), tmp_path) for i in (1, 2)]
        procs += [spawn(f"apply-now-{i}", url, apply_args(config, f"apply-now-{i}", 0), tmp_path) for i in (1, 2)]
        drift_args = ["drift", "-f", str(config), "--format", "json"]
        drifts = [spawn(f"drift-{i}", url, drift_args, tmp_path) for i in (1, 2, 3)]
        for proc in procs + drifts:
            proc.finish()

    complete = [p for p in procs if "Apply complete!" in p.stdout]
    assert len(complete) == 1, [(p.name, p.returncode, p.stderr) for p in procs]
    held_by = {name.removeprefix("reconciler apply by "): pid for name, pid in monitor.holders}
    refused = []
    for proc in procs:
        if proc.returncode == 0:
            assert proc in complete or NO_CHANGES in proc.stdout, proc.stdout[-500:]
            continue
        assert proc.name.startswith("apply-now"), f"{proc.name} waited and still failed: {proc.stderr}"
        match = LOCK_ERROR.match(proc.stderr)
        assert match, proc.stderr
        assert held_by.get(match["actor"]) == int(match["pid"]), f"not the holder: {proc.stderr} {monitor.holders}"
        assert "Traceback" not in proc.stderr
        refused.append(proc.name)
    for drift in drifts:
        assert drift_summary(drift) in (full, dict.fromkeys(full, 0)), "a drift saw a half-done apply"
    harness.assert_in_sync()
    runs = harness.backend.history(20)
    # A waiter that got the lock after the first apply finds the database changed: that attempt is audited as
    # refused (in the words of an apply that planned itself, not of a saved plan), then it plans again and
    # finds nothing to do.
    assert sorted(r.result for r in runs if r.result != "refused") == ["applied"]
    assert all(r.error == CHANGED_MESSAGE for r in runs if r.result == "refused")
    assert monitor.most_at_once == 1 and monitor.samples > 50
    assert all(name.startswith("reconciler apply by apply-") for name, _ in monitor.holders), monitor.holders
    record_property(
        "measured",
        f"{len(refused)} of 4 applies refused naming the holder, 1 applied, "
        f"{sum(p.returncode == 0 for p in procs) - 1} found nothing left to do; {monitor.samples} polls of pg_locks, "
        f"{len(monitor.holders)} successive holders, never 2 at once",
    )


def wait_for_lock(url: str, holder: Proc, timeout: float = 60) -> int:
    """Until ``holder`` holds the apply lock; returns the pid a lock error names: the process on SQLite (from
    the lock-info file), the server backend on PostgreSQL (from ``pg_locks``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert holder.process.poll() is None, holder.err.read_text()
        pid = _holder_pid(url, holder.process.pid)
        if pid is not None:
            return pid
        time.sleep(0.002)
    pytest.fail("the apply never took the lock")


def _holder_pid(url: str, process_pid: int) -> int | None:
    if url.startswith("sqlite"):
        info = Path(url.removeprefix("sqlite:///")).with_suffix(".lock-info")
        try:
            return process_pid if json.loads(info.read_text())["pid"] == process_pid else None
        except (OSError, ValueError, KeyError):
            return None
    from sqlalchemy import text

    from reconciler.backends.builtin.db import create_engine_for

    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            key = zlib.crc32(("reconciler:" + conn.scalar(text("SELECT current_schema()"))).encode()) & 0x7FFFFFFF
            rows = conn.execute(
                text(
                    "SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :key"
                ),
                {"key": key},
            ).all()
    finally:
        engine.dispose()
    return rows[0][1] if rows and rows[0][0] == "reconciler apply by holder" else None


@pytest.mark.reliability(
    area="Concurrency",
    fault="the apply holding the lock hangs (SIGSTOP right after it took the lock) while another apply, a waiting "
    "apply (--lock-timeout 60) and a drift start",
    outcome="the apply fails at once naming the holder (actor; pid: the process on SQLite, the server backend on "
    "PostgreSQL; since); the drift completes and sees none of "
    "the holder's uncommitted work; after SIGCONT the holder commits, the waiter finds `No changes.`",
)
def test_a_hung_lock_holder(prepared: tuple[str, Path, Harness], tmp_path: Path) -> None:
    url, config, harness = prepared
    full = harness.plan().plan.summary
    holder = spawn("holder", url, apply_args(config, "holder", 0), tmp_path)
    try:
        named = wait_for_lock(url, holder)
        holder.process.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        refused = spawn("refused", url, apply_args(config, "refused", 0), tmp_path).finish()
        assert time.monotonic() - started < 60
        waiter = spawn("waiter", url, apply_args(config, "waiter", 60), tmp_path)
        wait_until_waiting(waiter)
        drift = spawn("drift", url, ["drift", "-f", str(config), "--format", "json"], tmp_path).finish()
        assert waiter.process.poll() is None  # still waiting
    finally:
        holder.process.send_signal(signal.SIGCONT)
    holder.finish()
    waiter.finish()

    assert refused.returncode == 1
    match = LOCK_ERROR.match(refused.stderr)
    # The pid is the holder's process on SQLite, its server backend on PostgreSQL (pg_terminate_backend-able),
    # and the message says which.
    assert match and match["actor"] == "holder" and int(match["pid"]) == named, refused.stderr
    assert bool(match["backend"]) == url.startswith("postgresql"), refused.stderr
    assert "Traceback" not in refused.stderr
    assert drift.returncode == 2 and drift_summary(drift) == full  # the holder's writes were invisible
    assert holder.returncode == 0 and "Apply complete!" in holder.stdout
    assert waiter.returncode == 0 and NO_CHANGES in waiter.stdout, waiter.stderr
    assert harness.plan().plan.empty


@pytest.mark.reliability(
    area="Concurrency",
    fault="the apply holding the lock is killed (SIGKILL) while another apply waits with --lock-timeout 60",
    outcome="the lock dies with its holder: the waiter takes it, applies the whole plan, final plan empty",
)
def test_a_killed_lock_holder_releases_the_lock(prepared: tuple[str, Path, Harness], tmp_path: Path) -> None:
    url, config, harness = prepared
    holder = spawn("holder", url, apply_args(config, "holder", 0), tmp_path)
    wait_for_lock(url, holder)
    holder.process.send_signal(signal.SIGSTOP)  # hold it for sure while the waiter starts
    waiter = spawn("waiter", url, apply_args(config, "waiter", 60), tmp_path)
    wait_until_waiting(waiter)
    holder.process.send_signal(signal.SIGKILL)
    holder.finish()
    waiter.finish()
    assert holder.returncode == -signal.SIGKILL
    assert waiter.returncode == 0 and "Apply complete!" in waiter.stdout, waiter.stderr
    assert harness.plan().plan.empty


@pytest.mark.reliability(
    area="Concurrency",
    fault="an apply starts on a brand-new database while another process is creating the schema (its schema "
    "transaction held open until the apply is seen waiting for it)",
    outcome="the apply waits for the schema, then applies; a later plan is empty",
)
def test_first_use_while_another_process_creates_the_schema(database_url: str, tmp_path: Path) -> None:
    from alembic import command

    from reconciler.backends.builtin.db import _patient, alembic_config, create_engine_for
    from reconciler.backends.common import SQLITE_BEGIN

    config = tmp_path / "busy.yaml"
    config.write_text(config_text(20), encoding="utf-8")
    engine = create_engine_for(database_url)
    name = f"second-{secrets.token_hex(4)}"  # its PostgreSQL session's application_name
    proc = None
    try:
        # what open_database's _run_upgrade does on first use (an IMMEDIATE transaction that waits for a reader
        # to finish before it commits), held open
        with (
            engine.connect() as raw,
            _patient(raw),
            raw.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"}).begin() as transaction,
        ):
            command.upgrade(alembic_config(transaction.connection), "head")
            proc = spawn("second", database_url, apply_args(config, "second", 60), tmp_path, PGAPPNAME=name)
            waiting = partial(_waits_for_the_schema, engine, proc, name)
            wait_until(waiting, "waited for the schema", alive=proc.alive)
    finally:
        engine.dispose()
        if proc is not None:
            proc.finish()  # also when the schema transaction failed: no apply is left running
    assert proc is not None
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0, proc.stderr
    harness = Harness(database_url, tmp_path)
    harness.config_path = config
    try:
        harness.assert_in_sync()
    finally:
        harness.close()


def _waits_for_the_schema(engine: Engine, proc: Proc, name: str) -> bool:
    """SQLite: the apply sleeps in the busy handler (the schema transaction holds the write lock). PostgreSQL: its
    session (``name``) waits for a lock held by the schema transaction (on another connection: a transaction would
    see pg_stat_activity as of its first read)."""
    if engine.dialect.name == "sqlite":
        return asleep(proc.process.pid)
    with engine.connect() as conn:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name AND wait_event_type = 'Lock'"
        return bool(conn.scalar(text(query), {"name": name}))


@pytest.mark.reliability(
    area="Concurrency",
    fault="SQLite: `apply --lock-timeout 30` and `drift` (of another workspace) while another connection holds an "
    "EXCLUSIVE lock (what a committing apply holds), released once both are seen waiting",
    outcome="both wait (each seen asleep in SQLite's busy handler while the lock is held) and then succeed (apply: "
    "exit 0; drift: exit 2 with the plan)",
    database="SQLite",
)
def test_sqlite_apply_and_drift_wait_for_a_committing_writer(sqlite_url: str, tmp_path: Path) -> None:
    import sqlite3

    url, config, harness = _prepare(sqlite_url, tmp_path)
    harness.close()
    # Drift looks at a workspace the apply does not touch, so its answer (drift: the workspace is missing) does
    # not depend on which of the two goes first once the lock is released.
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(
        "version: 1\nworkspaces:\n  - slug: elsewhere\n    name: Elsewhere\n    users:\n"
        "      - {email: e@elsewhere.example, first_name: E, role: admin}\n",
        encoding="utf-8",
    )
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        drift = spawn("drift", url, ["drift", "-f", str(elsewhere)], tmp_path)
        applied = spawn("apply", url, apply_args(config, "apply", 30), tmp_path)
        wait_until_waiting(drift)
        wait_until_waiting(applied)
        assert drift.alive() and applied.alive()  # neither got past the lock
        holder.execute("ROLLBACK")
        drift.finish()
        applied.finish()
    finally:
        holder.close()
    assert applied.returncode == 0, applied.stderr
    assert drift.returncode == 2, drift.stderr
    assert "Drift detected" in drift.stdout and '+ workspace "elsewhere"' in drift.stdout
