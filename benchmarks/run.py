"""Benchmarks of issue 7: plan and apply against the input floor and against naive baselines.

For each size and database this measures, each figure the median of ``--runs`` runs, each run in a fresh
process (wall time, CPU time, and the peak resident set of that process, from ``os.wait4``):

- ``floor``: the YAML parsed with PyYAML's ``CSafeLoader`` plus one bulk read of the rows a plan needs
  (plain SELECTs on a DBAPI cursor, fetched as tuples). The least any planner has to do.
- ``plan`` with no changes and with 1 % of memberships changed, as a command (``reconciler plan``, a
  subprocess) and as library calls (``load_desired`` + ``make_plan``, imports done before the clock starts).
- ``apply`` from an empty database and of the 1 % change, as a command (``reconciler apply --auto-approve``,
  which also delivers the invitation emails after commit, to ``RECONCILER_OUTBOX_DIR``) and as library calls
  (``load_desired`` + ``make_plan`` + ``apply_plan``: one transaction, invitations queued but not delivered).
- two baselines: the naive planner (a DeepDiff of the whole desired state against the whole database state as
  nested dicts, 1 % changed), and a naive apply from empty (one ORM object per row, a flush after each).

Usage::

    .venv/bin/python benchmarks/run.py --sizes 1000,10000 --databases sqlite,postgres --runs 3
    .venv/bin/python benchmarks/run.py --table benchmarks/out/results-*.jsonl   # re-render earlier results

Raw results go to ``benchmarks/out/results-<time>.jsonl``, the table to ``benchmarks/out/table-<time>.md``.
PostgreSQL runs create (and drop) the databases ``reconciler_bench`` and ``reconciler_bench_base`` through
``--pg`` (an admin URL). The figures for sizes above ``--max-orm-users`` extrapolate the row-by-row baseline
from the largest size measured on the same database (seconds per flush x flushes needed), marked as such.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reconciler.backends.builtin.models import FLAG_COLUMNS as BUILTIN_FLAG_COLUMNS

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
RECONCILER = Path(sys.executable).with_name("reconciler")
MASTER_KEY = "b3" * 32  # a fixed benchmark key (RECONCILER_MASTER_KEY), never a real one
PG_ADMIN_URL = "postgresql://root@127.0.0.1:5432/test"
PG_DB, PG_BASE_DB = "reconciler_bench", "reconciler_bench_base"

KINDS: dict[str, str] = {
    "floor": "floor: CSafeLoader parse + bulk read (tuples)",
    "plan_lib_same": "plan, no changes, library",
    "plan_cmd_same": "plan, no changes, command",
    "plan_lib_changed": "plan, 1 % changed, library",
    "plan_cmd_changed": "plan, 1 % changed, command",
    "apply_lib_empty": "apply from empty, library (one transaction)",
    "apply_cmd_empty": "apply from empty, command (incl. email delivery)",
    "apply_lib_changed": "apply 1 % change, library",
    "apply_cmd_changed": "apply 1 % change, command",
    "baseline_deepdiff": "baseline: DeepDiff planner, 1 % changed",
    "baseline_orm": "baseline: row-by-row ORM apply from empty",
}
HEAVY = frozenset({"apply_cmd_empty", "baseline_orm", "baseline_deepdiff"})  # --heavy-runs of these
# Stage timings that workers report, shown as indented rows under their figure.
STAGES: dict[str, list[tuple[str, str]]] = {
    "floor": [("parse", "parse"), ("read", "bulk read"), ("parse_nogc", "(info, not in the floor) parse, gc off")],
    "plan_lib_same": [("load", "load_desired"), ("read", "read_snapshot"), ("diff", "build_plan")],
    "plan_lib_changed": [("load", "load_desired"), ("read", "read_snapshot"), ("diff", "build_plan")],
    "apply_lib_empty": [("plan", "load + plan"), ("apply", "apply_plan")],
    "apply_lib_changed": [("plan", "load + plan"), ("apply", "apply_plan")],
    "baseline_deepdiff": [("build", "parse + read + decrypt into dicts"), ("diff", "DeepDiff")],
    "baseline_orm": [("parse", "parse"), ("write", "row-by-row writes")],
}


@dataclass
class Measurement:
    size: int
    database: str
    kind: str
    run: int
    seconds: float
    rss_mb: float
    ok: bool = True
    cpu: float | None = None  # CPU seconds of the process (command) or of the timed section (worker)
    load: float | None = None  # 1-minute load average when the run started (the machine may be shared)
    stages: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


# --- child processes ------------------------------------------------------------------------------


@dataclass
class Child:
    seconds: float  # wall clock
    code: int
    rss_mb: float  # peak resident set of that process
    cpu: float  # user + system CPU seconds of that process
    load: float
    stdout: str


def run_child(argv: list[str], env: dict[str, str], log: Path) -> Child:
    """Run ``argv`` to completion, measured with ``os.wait4`` (its own rusage, not its siblings')."""
    log.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    with log.open("wb") as stdout, log.with_suffix(".err").open("wb") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=env)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Child(seconds, process.returncode, usage.ru_maxrss / 1024, cpu, load, log.read_text(errors="replace"))


def child_env(outbox: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    env.update(RECONCILER_MASTER_KEY=MASTER_KEY, RECONCILER_OUTBOX_DIR=str(outbox), NO_COLOR="1")
    return env


# --- databases ------------------------------------------------------------------------------------


class Database:
    """A working database that can be emptied, saved as the base state, and restored from it."""

    name: str
    url: str

    def fresh(self) -> None:
        raise NotImplementedError

    def save_base(self) -> None:
        raise NotImplementedError

    def restore_base(self) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError


class SqliteDatabase(Database):
    name = "sqlite"

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "bench.db"
        self.base = directory / "bench-base.db"
        self.url = f"sqlite:///{self.path}"

    def _remove(self, path: Path) -> None:
        for suffix in ("", "-journal", "-wal", "-shm", ".key", ".lock-info"):
            Path(str(path) + suffix).unlink(missing_ok=True)

    def fresh(self) -> None:
        self._remove(self.path)

    def save_base(self) -> None:
        shutil.copyfile(self.path, self.base)

    def restore_base(self) -> None:
        self._remove(self.path)
        shutil.copyfile(self.base, self.path)

    def drop(self) -> None:
        self._remove(self.path)
        self._remove(self.base)


class PostgresDatabase(Database):
    name = "postgres"

    def __init__(self, admin_url: str) -> None:
        from sqlalchemy.engine import make_url

        self.admin = make_url(admin_url).set(drivername="postgresql")
        self.url = self.admin.set(database=PG_DB).render_as_string(hide_password=False)

    def _sql(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.admin.render_as_string(hide_password=False), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def fresh(self) -> None:
        self._sql(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)", f"CREATE DATABASE {PG_DB}")

    def save_base(self) -> None:
        self._sql(
            f"DROP DATABASE IF EXISTS {PG_BASE_DB} WITH (FORCE)", f"CREATE DATABASE {PG_BASE_DB} TEMPLATE {PG_DB}"
        )

    def restore_base(self) -> None:
        self._sql(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)", f"CREATE DATABASE {PG_DB} TEMPLATE {PG_BASE_DB}")

    def drop(self) -> None:
        self._sql(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)", f"DROP DATABASE IF EXISTS {PG_BASE_DB} WITH (FORCE)")


# --- the runner -----------------------------------------------------------------------------------


def config_dirs(size: int, seed: int) -> tuple[Path, Path]:
    """The generated company of ``size`` users and its 1 % variant (cached under out/data while unchanged)."""
    sys.path.insert(0, str(HERE))
    from generate import generate_company, mutate, write_company

    root = OUT / "data" / f"{size}"
    base, changed, stamp = root / "base", root / "changed", root / "params.json"
    params = json.dumps({"users": size, "seed": seed, "generator": _generator_hash()})
    if not (stamp.exists() and stamp.read_text() == params):
        company = generate_company(size, seed=seed)
        write_company(company, base)
        write_company(mutate(company, seed=seed), changed)
        stamp.write_text(params)
    return base, changed


def _generator_hash() -> str:
    import hashlib

    return hashlib.sha256((HERE / "generate.py").read_bytes()).hexdigest()[:16]


def settle_outbox(url: str) -> None:
    """Mark the invitation emails queued by a library apply as sent, as ``invites send`` would have.

    Otherwise the next command apply would deliver all of them after its commit, and time that instead.
    """
    from sqlalchemy import create_engine, text

    engine = create_engine(_sqlalchemy_url(url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET status = 'sent' WHERE status = 'pending'"))
    engine.dispose()


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        self.work = OUT / "work"
        self.results: list[Measurement] = []
        self.jsonl = OUT / f"results-{self.stamp}.jsonl"
        self.outbox = self.work / "outbox"

    def record(self, m: Measurement) -> None:
        self.results.append(m)
        with self.jsonl.open("a") as handle:
            handle.write(json.dumps(asdict(m)) + "\n")
        stages = " ".join(f"{k}={v:.2f}" for k, v in m.stages.items())
        flag = "" if m.ok else "  FAILED"
        head = f"  {m.database:8} {m.size:>7} {m.kind:20} run {m.run}:"
        cpu = f"{m.cpu:7.2f}" if m.cpu is not None else "      –"
        print(
            f"{head} {m.seconds:8.2f} s (cpu {cpu}) {m.rss_mb:6.0f} MB load {m.load:4.1f}  {stages}{flag}", flush=True
        )

    def command(self, db: Database, size: int, kind: str, run: int, args: list[str], expect: str = "") -> None:
        if kind.startswith("apply"):
            shutil.rmtree(self.outbox, ignore_errors=True)
        log = self.work / "logs" / f"{db.name}-{size}-{kind}-{run}.out"
        child = run_child([str(RECONCILER), "--database", db.url, *args], child_env(self.outbox), log)
        ok = child.code == 0 and expect in child.stdout
        if not ok:
            print(f"    see {log} and {log.with_suffix('.err')}", flush=True)
        summary = next((line for line in reversed(child.stdout.splitlines()) if line.strip()), "")
        info = {"last_line": summary[:200]}
        self.record(
            Measurement(size, db.name, kind, run, child.seconds, child.rss_mb, ok, child.cpu, child.load, info=info)
        )

    def worker(self, db: Database | None, size: int, kind: str, run: int, mode: str, config: Path) -> None:
        name, url = (db.name, db.url) if db is not None else ("-", "-")
        log = self.work / "logs" / f"{db.name if db else 'nodb'}-{size}-{kind}-{run}.out"
        argv = [sys.executable, str(Path(__file__).resolve()), "worker", mode, str(config), url]
        child = run_child(argv, child_env(self.outbox), log)
        lines = [line for line in child.stdout.splitlines() if line.startswith("{")]
        if child.code != 0 or not lines:
            print(f"    worker failed, see {log} and {log.with_suffix('.err')}", flush=True)
            self.record(Measurement(size, name, kind, run, child.seconds, child.rss_mb, False, load=child.load))
            return
        report = json.loads(lines[-1])
        total, cpu, stages = report.pop("total"), report.pop("cpu"), report.pop("stages")
        self.record(Measurement(size, name, kind, run, total, child.rss_mb, True, cpu, child.load, stages, report))

    def runs(self, size: int, kind: str) -> int:
        runs = self.args.runs_100k if size >= 100_000 else self.args.runs
        return min(runs, self.args.heavy_runs) if kind in HEAVY else runs

    def wanted(self, kind: str, size: int, run: int) -> bool:
        if self.args.only and kind not in self.args.only:
            return False
        if kind == "apply_cmd_empty" and size > self.args.max_command_apply_users:
            return False
        if kind == "baseline_orm" and size > self.args.max_orm_users:
            return False
        if kind == "baseline_deepdiff" and size > self.args.max_deepdiff_users:
            return False
        return run < self.runs(size, kind)

    def bench(self, size: int, db: Database) -> None:
        base, changed = config_dirs(size, self.args.seed)
        runs = max(self.runs(size, kind) for kind in KINDS)
        print(f"\n== {size} users on {db.name} ==", flush=True)
        for r in range(runs):
            if self.wanted("baseline_orm", size, r):
                db.fresh()
                self.worker(db, size, "baseline_orm", r, "orm", base)
        counted = any(m.kind == "orm_rows" and m.size == size for m in self.results)
        if size > self.args.max_orm_users and not counted and (not self.args.only or "baseline_orm" in self.args.only):
            self.worker(None, size, "orm_rows", 0, "orm-count", base)  # for the extrapolation
        applied = False
        for r in range(runs):
            if self.wanted("apply_cmd_empty", size, r):
                db.fresh()
                self.command(db, size, "apply_cmd_empty", r, ["apply", "-f", str(base), "--auto-approve"])
            if self.wanted("apply_lib_empty", size, r) or (r == 0 and not self.wanted("apply_cmd_empty", size, 0)):
                db.fresh()  # the library apply always runs once at least: it sets up the base state
                self.worker(db, size, "apply_lib_empty", r, "apply", base)
                applied = True
        assert applied or self.wanted("apply_cmd_empty", size, 0)
        settle_outbox(db.url)
        db.save_base()
        for r in range(runs):  # interleaved, so that a busy moment of the machine hits every figure alike
            if self.wanted("floor", size, r):
                self.worker(db, size, "floor", r, "floor", base)
            if self.wanted("plan_lib_same", size, r):
                self.worker(db, size, "plan_lib_same", r, "plan", base)
            if self.wanted("plan_cmd_same", size, r):
                self.command(db, size, "plan_cmd_same", r, ["plan", "-f", str(base)], expect="No changes.")
            if self.wanted("plan_lib_changed", size, r):
                self.worker(db, size, "plan_lib_changed", r, "plan", changed)
            if self.wanted("plan_cmd_changed", size, r):
                self.command(db, size, "plan_cmd_changed", r, ["plan", "-f", str(changed)], expect="Plan:")
            if self.wanted("baseline_deepdiff", size, r):
                self.worker(db, size, "baseline_deepdiff", r, "deepdiff", changed)
        for r in range(runs):
            if self.wanted("apply_lib_changed", size, r):
                db.restore_base()
                self.worker(db, size, "apply_lib_changed", r, "apply", changed)
            if self.wanted("apply_cmd_changed", size, r):
                db.restore_base()
                self.command(db, size, "apply_cmd_changed", r, ["apply", "-f", str(changed), "--auto-approve"])
        if not self.args.keep:
            db.drop()

    def run(self) -> str:
        OUT.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        print(f"results: {self.jsonl}", flush=True)
        for size in self.args.sizes:
            for name in self.args.databases:
                db: Database = (
                    SqliteDatabase(self.work / "sqlite") if name == "sqlite" else PostgresDatabase(self.args.pg)
                )
                self.bench(size, db)
        shutil.rmtree(self.outbox, ignore_errors=True)
        print(f"\nbenchmark time: {time.perf_counter() - started:.0f} s\n", flush=True)
        table = render_tables(self.results)
        (OUT / f"table-{self.stamp}.md").write_text(table)
        return table


# --- tables ---------------------------------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt_s(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def medians(results: list[Measurement]) -> dict[tuple[str, int, str], dict[str, Any]]:
    """(database, size, kind) -> {"seconds", "cpu", "rss_mb", "runs", "ok", stage: seconds, ...}.

    Later results of the same (database, size, kind) replace earlier ones (several result files may be given).
    """
    grouped: dict[tuple[str, int, str], list[Measurement]] = {}
    for m in results:
        grouped.setdefault((m.database, m.size, m.kind), []).append(m)
    out: dict[tuple[str, int, str], dict[str, Any]] = {}
    for key, items in grouped.items():
        good = [m for m in items if m.ok]
        entry: dict[str, Any] = {
            "seconds": _median([m.seconds for m in good]),
            "cpu": _median([m.cpu for m in good if m.cpu is not None]),
            "rss_mb": _median([m.rss_mb for m in good]),
            "load": _median([m.load for m in good if m.load is not None]),
            "runs": len(good),
            "ok": len(good) == len(items),
        }
        for stage in {s for m in good for s in m.stages}:
            entry[stage] = _median([m.stages[stage] for m in good if stage in m.stages])
        for name in ("flushes",):
            values = [m.info[name] for m in good if name in m.info]
            if values:
                entry[name] = values[0]
        out[key] = entry
    _extrapolate_orm(out)
    return out


def _extrapolate_orm(table: dict[tuple[str, int, str], dict[str, Any]]) -> None:
    """Row-by-row baseline at a size not measured: seconds per flush at the largest measured size x flushes."""
    for (_db, size, kind), rows in list(table.items()):
        if kind != "orm_rows" or "flushes" not in rows:
            continue
        for db in {k[0] for k in table if k[2] == "baseline_orm"}:
            if (db, size, "baseline_orm") in table:
                continue
            measured = [k for k in table if k[0] == db and k[2] == "baseline_orm" and table[k].get("flushes")]
            if not measured:
                continue
            source = table[max(measured, key=lambda k: k[1])]
            scale = rows["flushes"] / source["flushes"]
            table[(db, size, "baseline_orm")] = {
                "seconds": source["write"] * scale + rows["parse"],
                "write": source["write"] * scale,
                "parse": rows["parse"],
                "cpu": None,
                "rss_mb": None,
                "runs": 0,
                "ok": True,
                "extrapolated": f"from {max(measured, key=lambda k: k[1])[1]:,} users",
            }


def render_tables(results: list[Measurement]) -> str:
    """One Markdown table per database: a row per figure; wall time, CPU time and peak RSS per size."""
    table = medians(results)
    sizes = sorted({m.size for m in results})
    parts = []
    for database in sorted({m.database for m in results if m.database != "-"}, key=lambda d: d != "sqlite"):
        header = "| figure (median) | " + " | ".join(f"{s:,}: wall s | CPU s | RSS MB" for s in sizes) + " |"
        rows = [f"### {database}\n", header, "|---|" + "---:|---:|---:|" * len(sizes)]
        for kind, label in KINDS.items():
            if not any((database, s, kind) in table for s in sizes):
                continue
            cells = []
            for s in sizes:
                e = table.get((database, s, kind))
                if e is None:
                    cells += ["–", "–", "–"]
                    continue
                mark = "" if e["ok"] else " (failed)"
                if e.get("extrapolated"):
                    mark = " (extrapolated)"
                rss = f"{e['rss_mb']:.0f}" if e.get("rss_mb") is not None else "–"
                cells += [_fmt_s(e["seconds"]) + mark, _fmt_s(e.get("cpu")), rss]
            rows.append(f"| {label} | " + " | ".join(cells) + " |")
            for stage, stage_label in STAGES.get(kind, []):
                cells = []
                for s in sizes:
                    e = table.get((database, s, kind))
                    cells += [_fmt_s(e.get(stage)) if e else "–", "", ""]
                if any(c not in ("–", "") for c in cells):
                    rows.append(f"| &nbsp;&nbsp;↳ {stage_label} | " + " | ".join(cells) + " |")
        parts.append("\n".join(rows))
    parts.append(render_ratios(table, sizes))
    loads = [m.load for m in results if m.load is not None]
    if loads:
        parts.append(
            f"Load average (1 min) at the start of the runs: median {statistics.median(loads):.1f}, "
            f"max {max(loads):.1f} on {os.cpu_count()} CPUs."
        )
    return "\n\n".join(parts) + "\n"


NOGC_FLOOR = ("parse_nogc", "read")  # the floor with PyYAML's parse run with the garbage collector off


def render_ratios(table: dict, sizes: list[int]) -> str:
    """The figures the targets of issue 7 are stated in."""

    def get(db: str, size: int, kind: str, stage: str | tuple[str, ...] = "seconds") -> float | None:
        e = table.get((db, size, kind))
        if e is None:
            return None
        if isinstance(stage, str):
            return e.get(stage)
        parts = [e.get(s) for s in stage]  # a sum of stages
        return None if None in parts else sum(parts)  # type: ignore[arg-type]

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}x" if a is not None and b else "–"

    databases = sorted({k[0] for k in table if k[0] != "-"}, key=lambda d: d != "sqlite")
    rows = ["### ratios\n", "| ratio | " + " | ".join(f"{db} {s:,}" for db in databases for s in sizes) + " |"]
    rows.append("|---|" + "---:|" * (len(databases) * len(sizes)))
    specs = [
        ("plan no changes, command / floor", "plan_cmd_same", "seconds", "floor", "seconds"),
        ("… by CPU time", "plan_cmd_same", "cpu", "floor", "cpu"),
        ("plan no changes, command / floor parsed with gc off", "plan_cmd_same", "seconds", "floor", NOGC_FLOOR),
        ("plan no changes, library / floor", "plan_lib_same", "seconds", "floor", "seconds"),
        ("… by CPU time", "plan_lib_same", "cpu", "floor", "cpu"),
        ("row-by-row ORM / apply library, from empty", "baseline_orm", "seconds", "apply_lib_empty", "seconds"),
        ("row-by-row ORM writes / apply_plan", "baseline_orm", "write", "apply_lib_empty", "apply"),
        ("DeepDiff / build_plan (diff step only)", "baseline_deepdiff", "diff", "plan_lib_changed", "diff"),
        ("DeepDiff planner / library plan (end to end)", "baseline_deepdiff", "seconds", "plan_lib_changed", "seconds"),
    ]
    for label, ka, sa, kb, sb in specs:
        cells = [ratio(get(db, s, ka, sa), get(db, s, kb, sb)) for db in databases for s in sizes]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    if 10_000 in sizes and 100_000 in sizes:
        header = " | ".join(f"{db} wall | {db} CPU" for db in databases)
        rows.append(f"\n| growth 10k -> 100k (target <= 12x) | {header} |")
        rows.append("|---|" + "---:|---:|" * len(databases))
        for kind, label in KINDS.items():
            cells = [
                ratio(get(db, 100_000, kind, stage), get(db, 10_000, kind, stage))
                for db in databases
                for stage in ("seconds", "cpu")
            ]
            if any(c != "–" for c in cells):
                rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


_CLOCK: dict[str, float] = {}


def _start_clock() -> float:
    """Start the timed section of a worker; returns the wall-clock start (CPU time is kept for ``_cpu``)."""
    _CLOCK["cpu"] = time.process_time()
    return time.perf_counter()


def _cpu() -> float:
    return time.process_time() - _CLOCK.get("cpu", 0.0)


# --- workers (run in a child process each, so that their peak RSS is their own) -------------------------

FLAG_COLUMNS = list(BUILTIN_FLAG_COLUMNS.values())  # the groups table's flag columns, in FLAG_NAMES order
FLOOR_QUERIES = {
    "users": "SELECT id, email, first_name, last_name FROM users",
    "workspaces": "SELECT id, slug, name, status FROM workspaces",
    "apps": "SELECT workspace_id, id, slug, name FROM apps",
    "data_sources": "SELECT workspace_id, id, name FROM data_sources",
    "groups": f"SELECT workspace_id, id, name, kind, {', '.join(FLAG_COLUMNS)} FROM groups",
    "app_grants": "SELECT id, group_id, position, access, all_apps, hide_from_dashboard FROM app_grants",
    "app_grant_apps": "SELECT grant_id, app_id FROM app_grant_apps",
    "data_source_grants": "SELECT id, group_id, position, access, all_data_sources FROM data_source_grants",
    "data_source_grant_sources": "SELECT grant_id, data_source_id FROM data_source_grant_sources",
    "memberships": "SELECT m.workspace_id, m.id, u.email, m.role, m.status FROM memberships m "
    "JOIN users u ON u.id = m.user_id",
    "group_members": "SELECT membership_id, group_id FROM group_members",
    "metadata": "SELECT membership_id, ciphertext FROM membership_metadata",
}


def _sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1] if url.startswith("postgresql://") else url


def parse_yaml(config: Path) -> list[Any]:
    import yaml

    return [yaml.load(p.read_bytes(), Loader=yaml.CSafeLoader) for p in sorted(config.glob("*.yaml"))]


def bulk_read(url: str) -> dict[str, list[tuple]]:
    from sqlalchemy import create_engine

    engine = create_engine(_sqlalchemy_url(url))
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        rows = {}
        for name, sql in FLOOR_QUERIES.items():
            cursor.execute(sql)
            rows[name] = cursor.fetchall()
        cursor.close()
    finally:
        raw.close()
        engine.dispose()
    return rows


def worker_floor(config: Path, url: str) -> dict[str, Any]:
    import gc

    import sqlalchemy  # noqa: F401 - imported before the clock, like the library workers
    import yaml  # noqa: F401

    start = _start_clock()
    docs = parse_yaml(config)
    parsed = time.perf_counter()
    rows = bulk_read(url)
    end = time.perf_counter()
    cpu = _cpu()
    # For information (not part of the floor): the same parse with the cyclic garbage collector off.
    del docs
    gc.collect()
    gc.disable()
    again = time.perf_counter()
    docs = parse_yaml(config)
    parse_nogc = time.perf_counter() - again
    gc.enable()
    return {
        "total": end - start,
        "cpu": cpu,
        "stages": {"parse": parsed - start, "read": end - parsed, "parse_nogc": parse_nogc},
        "rows": sum(len(v) for v in rows.values()),
        "documents": len(docs),
    }


def _timed_reads(backend: Any, into: list[float]) -> None:
    original = backend.read_snapshot

    def read_snapshot(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - start)

    backend.read_snapshot = read_snapshot


def _library_plan(config: Path, url: str) -> tuple[Any, Any, Any, dict[str, float]]:
    from reconciler.backends.builtin.backend import BuiltinBackend
    from reconciler.keys import load_keyring
    from reconciler.workflow import load_desired, make_plan

    start = _start_clock()
    desired = load_desired(config)
    loaded = time.perf_counter()
    keyring = load_keyring(url, environ=os.environ).keyring
    backend = BuiltinBackend(url)
    opened = time.perf_counter()
    reads: list[float] = []
    _timed_reads(backend, reads)
    planned = make_plan(backend, desired, keyring)
    end = time.perf_counter()
    stages = {
        "load": loaded - start,
        "open": opened - loaded,
        "read": reads[0],
        "diff": end - opened - reads[0],
        "plan": end - start,
    }
    return backend, keyring, planned, stages


_ONE_SHOT = contextlib.ExitStack()  # a worker process runs inside workflow.one_shot_process until it exits


def _import_library() -> None:
    import reconciler.backends.builtin.backend
    import reconciler.config.checks
    import reconciler.config.loader
    import reconciler.planner
    import reconciler.render.jsonplan
    import reconciler.render.text
    import reconciler.workflow

    # A worker is a one-shot process like the `reconciler` command, and does what its main() does: freeze what
    # large phases leave behind (workflow.paused_gc). Without it, at 100k users, apply from empty takes about
    # 1.2 s more and plan 0.4-1.3 s more (docs/performance.md).
    _ONE_SHOT.enter_context(reconciler.workflow.one_shot_process())


def worker_plan(config: Path, url: str) -> dict[str, Any]:
    _import_library()
    from reconciler.render.text import render_text

    backend, _keyring, planned, stages = _library_plan(config, url)
    cpu = _cpu()
    backend.close()
    start = time.perf_counter()
    render_text(planned.plan)
    return {
        "total": stages["plan"],
        "cpu": cpu,
        "stages": {k: v for k, v in stages.items() if k != "plan"},
        "ops": len(planned.plan.ops),
        "render_text": time.perf_counter() - start,
    }


def worker_apply(config: Path, url: str) -> dict[str, Any]:
    _import_library()
    from reconciler.workflow import apply_plan

    backend, keyring, planned, stages = _library_plan(config, url)
    start = time.perf_counter()
    result = apply_plan(backend, planned.plan, keyring, actor="benchmark", command="apply")
    applied = time.perf_counter() - start
    cpu = _cpu()
    backend.close()
    return {
        "total": stages["plan"] + applied,
        "cpu": cpu,
        "stages": {"plan": stages["plan"], "apply": applied},
        "ops": len(planned.plan.ops),
        "invitations": len(result.invitations),
    }


# --- the naive planner: DeepDiff over nested dicts ------------------------------------------------------

ALL_FLAGS = list(BUILTIN_FLAG_COLUMNS)  # state.FLAG_NAMES, in the same order as FLAG_COLUMNS
DEFAULT_BUILDER = {
    "flags": sorted(ALL_FLAGS),
    "apps": [{"access": "edit", "apps": "all", "hide": False}],
    "data_sources": [{"access": "configure", "data_sources": "all"}],
}


def _perms(entry: dict | None) -> dict[str, Any]:
    entry = entry or {}
    flags = sorted(
        f"{section}.{action}"
        for section, actions in (entry.get("permissions") or {}).items()
        for action, on in actions.items()
        if on
    )
    granular = entry.get("granular") or {}
    apps = [
        {
            "access": g["access"],
            "apps": g["apps"] if g["apps"] == "all" else sorted(g["apps"]),
            "hide": bool(g.get("hide_from_dashboard")),
        }
        for g in granular.get("apps", [])
    ]
    sources = [
        {
            "access": g["access"],
            "data_sources": g["data_sources"] if g["data_sources"] == "all" else sorted(g["data_sources"]),
        }
        for g in granular.get("data_sources", [])
    ]
    return {"flags": flags, "apps": apps, "data_sources": sources}


def _builder_level(perms: dict[str, Any]) -> bool:
    return bool(perms["flags"]) or any(g["access"] == "edit" for g in perms["apps"]) or bool(perms["data_sources"])


def desired_dicts(docs: list[Any]) -> dict[str, Any]:
    """The configuration as nested dicts, in the shape of ``current_dicts`` (effective roles computed)."""
    workspaces: dict[str, Any] = {}
    users: dict[str, list[str]] = {}
    for doc in docs:
        for ws in doc["workspaces"]:
            groups = {g["name"]: _perms(g) for g in ws.get("groups", [])}
            elevated = {name for name, perms in groups.items() if _builder_level(perms)}
            members = {}
            for u in ws.get("users", []):
                email = u["email"].lower()
                users.setdefault(email, [u["first_name"], u.get("last_name", "")])
                role = u["role"]
                if role == "end-user" and elevated.intersection(u.get("groups", [])):
                    role = "builder"
                entry: dict[str, Any] = {
                    "role": role,
                    "status": "archived" if u.get("status") == "archived" else "active",
                    "groups": sorted(u.get("groups", [])),
                }
                if "metadata" in u:
                    entry["metadata"] = u["metadata"]
                members[email] = entry
            builder = (ws.get("roles") or {}).get("builder")
            workspaces[ws["slug"]] = {
                "name": ws["name"],
                "status": ws.get("status", "active"),
                "apps": {a["slug"]: a["name"] for a in ws.get("apps", [])},
                "data_sources": sorted(d["name"] for d in ws.get("data_sources", [])),
                "builder": _perms(builder) if builder else DEFAULT_BUILDER,
                "groups": groups,
                "members": members,
            }
    return {"workspaces": workspaces, "users": users}


def current_dicts(rows: dict[str, list[tuple]], keyring: Any) -> dict[str, Any]:
    """The database rows (``bulk_read``) as nested dicts, metadata decrypted."""
    from reconciler.crypto import decrypt_metadata

    app_slug = {app_id: slug for _ws, app_id, slug, _name in rows["apps"]}
    source_name = {ds_id: name for _ws, ds_id, name in rows["data_sources"]}
    grant_apps: dict[int, list[str]] = {}
    for grant_id, app_id in rows["app_grant_apps"]:
        grant_apps.setdefault(grant_id, []).append(app_slug[app_id])
    grant_sources: dict[int, list[str]] = {}
    for grant_id, ds_id in rows["data_source_grant_sources"]:
        grant_sources.setdefault(grant_id, []).append(source_name[ds_id])
    perms: dict[int, dict[str, Any]] = {}
    for _ws, group_id, _name, _kind, *flags in rows["groups"]:
        on = sorted(flag for flag, value in zip(ALL_FLAGS, flags, strict=True) if value)
        perms[group_id] = {"flags": on, "apps": [], "data_sources": []}
    for grant_id, group_id, _position, access, all_apps, hide in sorted(rows["app_grants"], key=lambda r: (r[1], r[2])):
        apps = "all" if all_apps else sorted(grant_apps.get(grant_id, []))
        perms[group_id]["apps"].append({"access": access, "apps": apps, "hide": bool(hide)})
    for grant_id, group_id, _pos, access, all_ds in sorted(rows["data_source_grants"], key=lambda r: (r[1], r[2])):
        targets = "all" if all_ds else sorted(grant_sources.get(grant_id, []))
        perms[group_id]["data_sources"].append({"access": access, "data_sources": targets})
    slug_of = {ws_id: slug for ws_id, slug, _n, _s in rows["workspaces"]}
    workspaces = {
        slug: {"name": name, "status": status, "apps": {}, "data_sources": [], "groups": {}, "members": {}}
        for _id, slug, name, status in rows["workspaces"]
    }
    for ws_id, _id, slug, name in rows["apps"]:
        workspaces[slug_of[ws_id]]["apps"][slug] = name
    for ws_id, _id, name in sorted(rows["data_sources"], key=lambda r: r[2]):
        workspaces[slug_of[ws_id]]["data_sources"].append(name)
    group_name = {}
    for ws_id, group_id, name, kind, *_flags in rows["groups"]:
        group_name[group_id] = name
        if kind == "custom":
            workspaces[slug_of[ws_id]]["groups"][name] = perms[group_id]
        elif name == "builder":
            workspaces[slug_of[ws_id]]["builder"] = perms[group_id]
    groups_of: dict[str, list[str]] = {}
    for membership_id, group_id in rows["group_members"]:
        groups_of.setdefault(membership_id, []).append(group_name[group_id])
    blobs = dict(rows["metadata"])
    for ws_id, membership_id, email, role, status in rows["memberships"]:
        entry: dict[str, Any] = {
            "role": role,
            "status": "archived" if status == "archived" else "active",
            "groups": sorted(groups_of.get(membership_id, [])),
        }
        if membership_id in blobs:
            entry["metadata"] = decrypt_metadata(keyring, membership_id, blobs[membership_id])
        workspaces[slug_of[ws_id]]["members"][email] = entry
    users = {email: [first, last] for _id, email, first, last in rows["users"]}
    return {"workspaces": workspaces, "users": users}


def worker_deepdiff(config: Path, url: str) -> dict[str, Any]:
    import sqlalchemy  # noqa: F401
    import yaml  # noqa: F401
    from deepdiff import DeepDiff

    from reconciler.keys import load_keyring

    keyring = load_keyring(url, environ=os.environ).keyring
    start = _start_clock()
    desired = desired_dicts(parse_yaml(config))
    current = current_dicts(bulk_read(url), keyring)
    built = time.perf_counter()
    diff = DeepDiff(current, desired)
    end = time.perf_counter()
    changes = sum(len(v) for v in diff.to_dict().values())
    return {"total": end - start, "stages": {"build": built - start, "diff": end - built}, "changes": changes}


# --- the naive apply: one ORM object per row, a flush after each -----------------------------------------


def worker_orm(config: Path, url: str, *, dry: bool = False) -> dict[str, Any]:
    """Write the configuration from empty, one ORM object (or link row) per flush.

    ``dry`` only counts the flushes it would make (no database), to extrapolate to sizes not measured.
    """
    import yaml  # noqa: F401
    from sqlalchemy.orm import Session

    from reconciler.backends.builtin import models
    from reconciler.backends.builtin.db import open_database
    from reconciler.backends.builtin.executor import INVITATION_TTL, new_token
    from reconciler.crypto import encrypt_metadata
    from reconciler.keys import load_keyring

    keyring = load_keyring(url, environ=os.environ).keyring
    engine = None if dry else open_database(url)  # the schema, before the clock starts
    start = _start_clock()
    docs = parse_yaml(config)
    parsed = time.perf_counter()
    flushes = 0
    now = models.utcnow()
    with Session(engine) as session:

        def flush() -> None:
            nonlocal flushes
            flushes += 1
            if not dry:
                session.flush()

        def put(obj: Any) -> Any:
            if not dry:
                session.add(obj)
            flush()
            return obj

        def grants(group: models.Group, perms: dict[str, Any], apps: dict, sources: dict) -> None:
            nonlocal flushes
            for position, g in enumerate(perms["apps"]):
                grant = put(
                    models.AppGrant(
                        group_id=group.id,
                        position=position,
                        access=g["access"],
                        all_apps=g["apps"] == "all",
                        hide_from_dashboard=g["hide"],
                        apps=[],
                    )
                )
                for slug in [] if g["apps"] == "all" else g["apps"]:
                    grant.apps.append(apps[slug])
                    flush()
            for position, g in enumerate(perms["data_sources"]):
                targets = g["data_sources"]
                grant = put(
                    models.DataSourceGrant(
                        group_id=group.id,
                        position=position,
                        access=g["access"],
                        all_data_sources=targets == "all",
                        data_sources=[],
                    )
                )
                for name in [] if targets == "all" else targets:
                    grant.data_sources.append(sources[name])
                    flush()

        def group_row(ws_id: str, name: str, kind: str, perms: dict[str, Any]) -> models.Group:
            flags = {column: flag in perms["flags"] for flag, column in zip(ALL_FLAGS, FLAG_COLUMNS, strict=True)}
            return put(models.Group(workspace_id=ws_id, name=name, kind=kind, **flags))

        users: dict[str, models.User] = {}
        for doc in docs:
            for ws in doc["workspaces"]:
                workspace = put(models.Workspace(slug=ws["slug"], name=ws["name"], status=ws.get("status", "active")))
                apps = {
                    a["slug"]: put(models.App(workspace_id=workspace.id, slug=a["slug"], name=a["name"]))
                    for a in ws.get("apps", [])
                }
                sources = {
                    d["name"]: put(models.DataSource(workspace_id=workspace.id, name=d["name"]))
                    for d in ws.get("data_sources", [])
                }
                builder = (ws.get("roles") or {}).get("builder")
                role_perms = {
                    "admin": {**DEFAULT_BUILDER},
                    "builder": _perms(builder) if builder else DEFAULT_BUILDER,
                    "end-user": {
                        "flags": [],
                        "apps": [{"access": "view", "apps": "all", "hide": False}],
                        "data_sources": [],
                    },
                }
                for name, perms in role_perms.items():
                    grants(group_row(workspace.id, name, "role", perms), perms, apps, sources)
                groups = {}
                elevated = set()
                for g in ws.get("groups", []):
                    perms = _perms(g)
                    groups[g["name"]] = group_row(workspace.id, g["name"], "custom", perms)
                    grants(groups[g["name"]], perms, apps, sources)
                    if _builder_level(perms):
                        elevated.add(g["name"])
                for u in ws.get("users", []):
                    email = u["email"].lower()
                    user = users.get(email)
                    if user is None:
                        user = users[email] = put(
                            models.User(email=email, first_name=u["first_name"], last_name=u.get("last_name", ""))
                        )
                    role = u["role"]
                    if role == "end-user" and elevated.intersection(u.get("groups", [])):
                        role = "builder"
                    archived = u.get("status") == "archived"
                    token_hash = None if archived else new_token()[1]
                    membership = put(
                        models.Membership(
                            id=models.new_uuid(),
                            workspace_id=workspace.id,
                            user_id=user.id,
                            role=role,
                            status="archived" if archived else "invited",
                            invitation_token_hash=token_hash,
                            invitation_expires_at=None if archived else now + INVITATION_TTL,
                            groups=[],
                        )
                    )
                    for name in u.get("groups", []):
                        membership.groups.append(groups[name])
                        flush()
                    if u.get("metadata") and dry:
                        flush()
                    elif u.get("metadata"):
                        blob = encrypt_metadata(keyring, membership.id, u["metadata"])
                        put(models.MembershipMetadata(membership_id=membership.id, ciphertext=blob))
        if not dry:
            session.commit()
    end = time.perf_counter()
    if engine is not None:
        engine.dispose()
    return {"total": end - start, "stages": {"parse": parsed - start, "write": end - parsed}, "flushes": flushes}


WORKERS = {
    "floor": worker_floor,
    "plan": worker_plan,
    "apply": worker_apply,
    "deepdiff": worker_deepdiff,
    "orm": worker_orm,
    "orm-count": lambda config, url: worker_orm(config, url, dry=True),
}


def worker_main(argv: list[str]) -> None:
    mode, config, url = argv
    report = WORKERS[mode](Path(config), url)
    report.setdefault("cpu", _cpu())
    print(json.dumps(report))


# --- command line ---------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmarks of plan and apply (issue 7).")
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated user counts (default: 1000,10000)")
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the table shows the median")
    parser.add_argument("--runs-100k", type=int, default=1, help="runs per figure at 100,000 users and more")
    parser.add_argument(
        "--heavy-runs", type=int, default=3, help="at most this many runs of the slow baselines and command apply"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg", default=PG_ADMIN_URL, help="PostgreSQL URL used to create the bench databases")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(KINDS)}")
    parser.add_argument(
        "--max-command-apply-users",
        type=int,
        default=10_000,
        help="largest size for 'apply from empty, command' (it delivers one invitation email per member)",
    )
    parser.add_argument(
        "--max-orm-users", type=int, default=10_000, help="largest size for the ORM baseline (extrapolated above)"
    )
    parser.add_argument("--max-deepdiff-users", type=int, default=1_000_000, help="largest size for DeepDiff")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--table", type=Path, nargs="+", help="only render the table of earlier results-*.jsonl")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.databases = [d for d in args.databases.split(",") if d]
    args.only = {k for k in args.only.split(",") if k}
    unknown = (args.only - KINDS.keys()) | (set(args.databases) - {"sqlite", "postgres"})
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")
    return args


def load_results(paths: list[Path]) -> list[Measurement]:
    return [Measurement(**json.loads(line)) for path in paths for line in path.read_text().splitlines() if line]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        worker_main(argv[1:])
        return
    args = parse_args(argv)
    if args.table:
        print(render_tables(load_results(args.table)))
        return
    print(Runner(args).run())


if __name__ == "__main__":
    main()
