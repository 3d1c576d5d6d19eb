"""Crash safety (SPEC 5): a real ``reconciler apply`` killed with SIGKILL anywhere leaves the database exactly as
it was before or exactly as it is after a complete apply, never in between; the lock dies with the process, and
a following apply reaches ``No changes.``.

The apply changes a 1,000-member workspace in every way the executor knows (new users and invitations, role
changes both ways, groups gained and lost, metadata, archives, a destroyed group, a renamed last name). A first
run to completion (the calibration) measures when the apply takes its lock and commits; the kill points are then
spread over the whole run: during start-up and planning, inside the transaction (on PostgreSQL at each SQL
statement the executor sends, as seen in ``pg_stat_activity``; on SQLite during the reads after taking the write
lock and then at evenly spaced sizes of the growing rollback journal), at the commit, and while the invitation
emails are delivered after it.

After each kill: a full dump of every table (nothing excluded) equal to the dump before means "before";
otherwise the state must equal the calibration run's final state, compared by natural keys (ids, timestamps,
tokens and ciphertexts differ by construction; outbox delivery status is progress after the commit). Then the
plan must be the full original plan (before) or empty (after), and an apply with ``--lock-timeout 0`` must
succeed and leave an empty plan.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import KEYRING, Harness, run_cli
from rel_support import (
    RECONCILER,
    create_database,
    drop_database,
    full_dump,
    other_backends,
    postgres_base_url,
    subprocess_env,
    unique_name,
)
from sqlalchemy import func, select, text

from reconciler import ops
from reconciler.backends.builtin import models
from reconciler.backends.builtin.backend import BuiltinBackend
from reconciler.backends.builtin.db import create_engine_for
from reconciler.render.text import NO_CHANGES
from reconciler.workflow import apply_plan, load_desired, make_plan

USERS = 1_000
SLUG = "crash"
ACTOR = "crash-test"
START_POINTS = (0.15, 0.5, 0.85)  # fractions of the time until the lock is taken
COMMIT_POINTS = (0.0, 0.25, 0.6)  # fractions of the time from commit to exit (email delivery)
IN_TRANSACTION_POINTS = 16
POLL = 0.001


def generated_config(variant: int) -> str:
    """The workspace before (variant 0) and after (variant 1): variant 1 adds 10 % new members, archives 5 %,
    turns a view grant into edit (promotions), demotes some builders, renames a group (destroy + create),
    changes metadata and last names."""
    maker = "makers-2" if variant else "makers"
    lines = [
        "version: 1",
        "workspaces:",
        f"  - slug: {SLUG}",
        "    name: Crash Co",
        "    apps: [{slug: crm, name: CRM}, {slug: wiki, name: Wiki}]",
        "    data_sources: [{name: dwh}]",
        "    groups:",
        "      - {name: viewers, granular: {apps: [{access: view, apps: [wiki]}]}}",
        f"      - {{name: editors, granular: {{apps: [{{access: {'edit' if variant else 'view'}, apps: [crm]}}]}}}}",
        f"      - {{name: {maker}, permissions: {{apps: {{create: true}}}}}}",
        "    users:",
    ]
    for i in range(USERS + (USERS // 10 if variant else 0)):
        if variant and i % 20 == 19:
            continue  # archived by prune
        role = "admin" if i < 3 else "builder" if i % 7 == 0 else "end-user"
        if variant and i % 11 == 0 and role == "builder":
            role = "end-user"
        groups = (["viewers"] if i % 2 else []) + (["editors"] if i % 5 == 0 else []) + ([maker] if i % 13 == 0 else [])
        last = f"L{i}" + ("x" if variant and i % 4 == 0 else "")
        entry = f"{{email: u{i:05d}@crash.example, first_name: U{i}, last_name: {last}, role: {role}"
        entry += f", groups: [{', '.join(groups)}]"
        if i % 3 == 0:
            entry += f", metadata: {{team: t{(i + variant) % 13}, region: eu}}"
        lines.append(f"      - {entry}}}")
    return "\n".join(lines) + "\n"


# --- the two databases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One look at the apply from outside: is its lock held, which statement is the holder running
    (PostgreSQL), how large is the rollback journal (SQLite: it grows as the transaction writes)."""

    held: bool
    statement: str = ""
    journal: int = 0


Probe = Callable[[], Seen]


class Copies:
    """Makes the 'before' database once, then fresh identical copies of it, and watches the apply lock."""

    name: str

    def base(self) -> str:
        raise NotImplementedError

    def fresh(self, index: int) -> str:
        raise NotImplementedError

    def watch(self, url: str) -> Probe:
        raise NotImplementedError

    def settle(self, url: str) -> None:
        """Wait until the killed process has left no session on the server."""

    def close(self) -> None:
        pass


class SqliteCopies(Copies):
    name = "sqlite"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.base_path = directory / "base" / "reconciler.db"
        self.base_path.parent.mkdir()

    def base(self) -> str:
        return f"sqlite:///{self.base_path}"

    def fresh(self, index: int) -> str:
        target = self.directory / f"copy-{index}" / "reconciler.db"
        target.parent.mkdir()
        shutil.copyfile(self.base_path, target)
        return f"sqlite:///{target}"

    def watch(self, url: str) -> Probe:
        database = Path(url.removeprefix("sqlite:///"))
        info = database.with_suffix(".lock-info")  # written right after BEGIN IMMEDIATE, removed after the commit
        journal = Path(f"{database}-journal")

        def probe() -> Seen:
            try:
                size = journal.stat().st_size
            except OSError:
                size = 0
            return Seen(info.exists(), journal=size)

        return probe


class PostgresCopies(Copies):
    """A database per copy, made with CREATE DATABASE ... TEMPLATE: an exact copy, sequences included."""

    name = "postgres"
    HOLDER = (
        "SELECT a.query FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
        "AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )

    def __init__(self) -> None:
        postgres_base_url()  # skips when PostgreSQL is not configured
        self.base_name = unique_name("reconciler_crash")
        self.created: list[str] = []
        self.monitors: list[Any] = []

    def base(self) -> str:
        self.created.append(self.base_name)
        return create_database(self.base_name)

    def fresh(self, index: int) -> str:
        name = f"{self.base_name}_{index}"
        self.created.append(name)
        return create_database(name, template=self.base_name)

    def watch(self, url: str) -> Probe:
        import psycopg

        monitor = psycopg.connect(url, autocommit=True)
        self.monitors.append(monitor)

        def probe() -> Seen:
            row = monitor.execute(self.HOLDER).fetchone()
            return Seen(row is not None, statement=" ".join(row[0].split()) if row else "")

        return probe

    def settle(self, url: str) -> None:
        self._close_monitors()
        started = time.monotonic()
        while other_backends(url):
            assert time.monotonic() - started < 30, "the killed apply's session did not end"
            time.sleep(0.01)

    def _close_monitors(self) -> None:
        for monitor in self.monitors:
            monitor.close()
        self.monitors.clear()

    def close(self) -> None:
        self._close_monitors()
        for name in reversed(self.created):
            drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def copies(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Copies]:
    made: Copies = SqliteCopies(tmp_path) if request.param == "sqlite" else PostgresCopies()
    try:
        yield made
    finally:
        made.close()


# --- running and killing ----------------------------------------------------------------------------------


@dataclass
class Timeline:
    lock: float | None = None
    first_write: float | None = None  # SQLite: the journal appears
    journal: int = 0  # SQLite: the largest journal seen while the lock was held
    commit: float | None = None
    exit: float | None = None
    statements: list[str] = field(default_factory=list)  # PostgreSQL: each statement of the holder, once


@dataclass(frozen=True)
class KillPoint:
    """When to kill: ``after`` seconds from ``anchor`` (start, lock, commit); or as soon as the holder runs
    ``statement`` (PostgreSQL) or the journal reaches ``journal`` bytes (SQLite). A progress point whose
    moment flashes by unseen falls back to the commit."""

    anchor: str
    after: float = 0.0
    statement: str = ""
    journal: int = 0

    def describe(self) -> str:
        if self.statement:
            return f"at statement {self.statement[:45]!r}"
        if self.journal:
            return f"at {self.journal:,} journal bytes"
        return f"{self.after * 1000:.0f} ms after {self.anchor}"

    def reached(self, seen: Seen, seen_lock: bool) -> bool:
        committed = seen_lock and not seen.held
        if self.anchor == "lock":
            return seen.held
        if self.anchor == "commit":
            return committed
        if self.anchor == "statement":
            return committed or (seen.held and seen.statement.startswith(self.statement))
        if self.anchor == "journal":
            return committed or (seen.held and seen.journal >= self.journal)
        return True  # start


def start_apply(url: str, config: Path, directory: Path) -> subprocess.Popen:
    args = [str(RECONCILER), "--database", url, "apply", "-f", str(config), "--auto-approve", "--actor", ACTOR]
    with (directory / f"apply-{time.monotonic_ns()}.err").open("wb") as log:  # the child keeps its own copy
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log, env=subprocess_env(directory))


def observe(process: subprocess.Popen, probe: Probe) -> Timeline:
    """Run to completion, noting when the lock is taken and released and how the transaction progresses."""
    started = time.monotonic()
    timeline = Timeline()
    while process.poll() is None:
        seen = probe()
        now = time.monotonic() - started
        if seen.held:
            timeline.lock = timeline.lock if timeline.lock is not None else now
            if seen.journal and timeline.first_write is None:
                timeline.first_write = now
            timeline.journal = max(timeline.journal, seen.journal)
            if seen.statement and seen.statement[:60] not in timeline.statements:
                timeline.statements.append(seen.statement[:60])
        elif timeline.lock is not None and timeline.commit is None:
            timeline.commit = now
        time.sleep(POLL)
    timeline.exit = time.monotonic() - started
    assert process.returncode == 0, "the calibration apply failed"
    assert timeline.lock is not None and timeline.commit is not None, "the apply lock was never seen"
    return timeline


def kill_at(process: subprocess.Popen, point: KillPoint, probe: Probe) -> str:
    """Wait for the kill point, SIGKILL the apply, and say where it was (or that it had already exited)."""
    seen_lock = False
    anchor_time = time.monotonic() if point.anchor == "start" else None
    while process.poll() is None:
        seen = probe()
        seen_lock |= seen.held
        if anchor_time is None and point.reached(seen, seen_lock):
            anchor_time = time.monotonic()
        if anchor_time is not None and time.monotonic() - anchor_time >= point.after:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return "in transaction" if seen.held else "after commit" if seen_lock else "starting"
        time.sleep(POLL)
    return "exited before the kill"


def kill_points(timeline: Timeline) -> list[KillPoint]:
    """3 points during start-up and planning, 16 inside the transaction, 3 after the commit."""
    assert timeline.lock is not None and timeline.commit is not None and timeline.exit is not None
    points = [KillPoint("start", f * timeline.lock) for f in START_POINTS]
    inside: list[KillPoint] = []
    if timeline.statements:  # PostgreSQL: the holder's statements, evenly chosen
        count = len(timeline.statements)
        picks = sorted({round(i * (count - 1) / (IN_TRANSACTION_POINTS - 1)) for i in range(IN_TRANSACTION_POINTS)})
        inside += [KillPoint("statement", statement=timeline.statements[i]) for i in picks]
    elif timeline.journal:  # SQLite: the reads before the first write, then the journal's growth
        reads = (timeline.first_write or timeline.lock) - timeline.lock
        inside += [KillPoint("lock", f * reads) for f in (0.0, 0.5)]
        steps = IN_TRANSACTION_POINTS - len(inside)
        inside += [KillPoint("journal", journal=max(1, timeline.journal * k // steps)) for k in range(1, steps + 1)]
    window = timeline.commit - timeline.lock
    missing = IN_TRANSACTION_POINTS - len(inside)
    inside += [KillPoint("lock", window * (i + 0.5) / missing) for i in range(missing)]
    points += inside
    points += [KillPoint("commit", f * (timeline.exit - timeline.commit)) for f in COMMIT_POINTS]
    return points


# --- the state, compared ----------------------------------------------------------------------------------


def logical_state(url: str) -> dict[str, Any]:
    """The database by natural keys: what a complete apply must have written, whatever its ids and times."""
    backend = BuiltinBackend(url)
    try:
        snapshot = backend.read_snapshot([SLUG], KEYRING)
        with backend.engine.connect() as conn:
            counts = {t.name: conn.scalar(select(func.count()).select_from(t)) for t in models.metadata.sorted_tables}
            memberships = conn.execute(
                text(
                    "SELECT u.email, m.role, m.status, m.invitation_token_hash IS NOT NULL, "
                    "m.invitation_expires_at IS NOT NULL FROM memberships m JOIN users u ON u.id = m.user_id"
                )
            ).all()
            runs = conn.execute(text("SELECT actor, command, config_hash, summary, result FROM audit_runs")).all()
            changes = conn.execute(text("SELECT seq, address, action, detail FROM audit_changes")).all()
            outbox = conn.execute(
                text(
                    "SELECT o.recipient, o.subject, u.email FROM outbox o LEFT JOIN memberships m "
                    "ON m.id = o.membership_id LEFT JOIN users u ON u.id = m.user_id"
                )
            ).all()
    finally:
        backend.close()
    return {
        "workspaces": snapshot.workspaces,
        "users": snapshot.users,
        "row counts": counts,
        "memberships": sorted(tuple(r) for r in memberships),
        "audit runs": sorted(tuple(r) for r in runs),
        "audit changes": sorted(tuple(r) for r in changes),
        "outbox": sorted(tuple(r) for r in outbox),
    }


def difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    return ", ".join(k for k in a if a[k] != b.get(k)) or "none"


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine_for(url)
    try:
        return full_dump(engine)
    finally:
        engine.dispose()


# --- the test ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.reliability(
    area="Crash safety",
    fault="`reconciler apply` (1,000 members + 100 new: creates, promotions, demotions, group changes, metadata, "
    "archives, a destroyed group) killed with SIGKILL at 22 points: start-up and planning; inside the transaction "
    "at the executor's statements (PostgreSQL) or as the rollback journal grows (SQLite); at the commit; during "
    "email delivery",
    outcome="full dump of every table equals the 'before' dump, or the state equals a complete apply's; never in "
    "between; the lock is free at once (--lock-timeout 0); plan is the full plan or empty; a following apply "
    "leaves `No changes.`",
)
def test_an_apply_killed_anywhere_leaves_before_or_after(
    copies: Copies, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    begun = time.monotonic()
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    before_yaml, config = config_dir / "before.yaml", config_dir / "after.yaml"
    before_yaml.write_text(generated_config(0), encoding="utf-8")
    config.write_text(generated_config(1), encoding="utf-8")

    # 'Before': an established workspace whose members have accepted their invitations and been emailed.
    base_url = copies.base()
    harness = Harness(base_url, tmp_path / "harness")
    harness.config_path = before_yaml
    harness.apply()
    harness.execute(
        "UPDATE memberships SET status = 'active', invitation_token_hash = NULL, invitation_expires_at = NULL"
    )
    harness.execute("UPDATE outbox SET status = 'sent'")
    full_plan = harness.plan(load_desired(config)).plan
    harness.close()
    before = dump(base_url)
    desired = load_desired(config)
    assert full_plan.summary["role_changes"] > 100 and full_plan.summary["archive"] == USERS // 20

    # Calibration: one complete apply, watched.
    url = copies.fresh(0)
    assert dump(url) == before  # a copy is exact
    timeline = observe(start_apply(url, config, tmp_path), copies.watch(url))
    copies.settle(url)
    after = logical_state(url)
    invitations = sum(isinstance(op, ops.CreateMembership) for op in full_plan.ops)
    assert len(after["outbox"]) - len(before["outbox"]) == invitations > 50  # queued in the apply's transaction

    outcomes: list[tuple[str, str, str]] = []
    for index, point in enumerate(kill_points(timeline), start=1):
        url = copies.fresh(index)
        probe = copies.watch(url)
        phase = kill_at(start_apply(url, config, tmp_path), point, probe)
        copies.settle(url)
        outcome = _classify(url, before, after)
        outcomes.append((point.describe(), phase, outcome))
        _finish_with_a_following_apply(url, desired, outcome, full_plan.summary)

    # The last copy, once more through the real command line: the apply prints `No changes.`.
    result = run_cli(["--database", url, "apply", "-f", str(config), "--auto-approve"], env=_cli_env(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert NO_CHANGES in result.stdout

    killed = [o for o in outcomes if o[1] != "exited before the kill"]
    summary = "; ".join(f"{d} [{p}] -> {o}" for d, p, o in outcomes)
    assert len(killed) >= 20, summary
    assert sum(o[1] == "in transaction" for o in killed) >= 10, summary
    assert {"before", "after"} <= {o[2] for o in killed}, summary
    record_property(
        "measured",
        f"{len(killed)} kill points ({sum(o[2] == 'before' for o in killed)} left 'before', "
        f"{sum(o[2] == 'after' for o in killed)} 'after', none in between; "
        f"{sum(o[1] == 'in transaction' for o in killed)} inside the transaction); apply run "
        f"{timeline.exit:.1f} s, lock taken at {timeline.lock:.1f} s, transaction "
        f"{(timeline.commit - timeline.lock) * 1000:.0f} ms; test {time.monotonic() - begun:.0f} s",
    )


def _classify(url: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    if dump(url) == before:
        return "before"
    state = logical_state(url)
    assert state == after, f"the database is neither as before nor as after: differs in {difference(state, after)}"
    return "after"


def _finish_with_a_following_apply(url: str, desired: Any, outcome: str, full_summary: dict[str, int]) -> None:
    backend = BuiltinBackend(url)
    try:
        planned = make_plan(backend, desired, KEYRING)
        if outcome == "after":
            assert planned.plan.empty
            return
        assert planned.plan.summary == full_summary
        apply_plan(backend, planned.plan, KEYRING, actor="follow-up", command="apply", lock_timeout=0.0)
        assert make_plan(backend, desired, KEYRING).plan.empty
    finally:
        backend.close()


def _cli_env(directory: Path) -> dict[str, str | None]:
    env = subprocess_env(directory)
    return {k: env.get(k) for k in ("RECONCILER_MASTER_KEY", "RECONCILER_OUTBOX_DIR", "NO_COLOR")}


def test_kill_points_cover_start_transaction_and_commit() -> None:
    """The schedule itself: 3 start-up points, 16 inside the transaction (by progress), 3 after the commit."""
    sqlite = kill_points(Timeline(lock=2.0, first_write=2.1, journal=800_000, commit=2.5, exit=4.0))
    anchors = [p.anchor for p in sqlite]
    assert (anchors.count("start"), anchors.count("commit"), len(sqlite)) == (3, 3, 22)
    assert [p.journal for p in sqlite if p.anchor == "journal"] == [800_000 * k // 14 for k in range(1, 15)]
    statements = [f"INSERT INTO t{i} ..." for i in range(20)]
    postgres = kill_points(Timeline(lock=2.0, commit=2.5, exit=4.0, statements=statements))
    picked = [p.statement for p in postgres if p.anchor == "statement"]
    assert len(postgres) == 22 and picked[0] == statements[0] and picked[-1] == statements[-1]
    few = kill_points(Timeline(lock=2.0, commit=2.5, exit=4.0, statements=statements[:5]))
    assert len(few) == 22 and sum(p.anchor == "lock" for p in few) == 11
    assert RECONCILER.exists()
