"""Profile the stages of plan and apply with cProfile, on a generated company (issue 7).

Stages: ``load_desired`` (YAML -> DesiredState), ``read_snapshot``, ``build_plan``, ``render_text``,
``apply_plan`` from an empty database, ``apply_plan`` of the 1 % change, and the delivery of the invitation
emails that ``reconciler apply`` does after commit (``deliver_pending``, on at most ``--deliver`` emails).

For each stage it prints the wall time without the profiler, then (profiled) the functions with the most self
time and the reconciler functions with the most cumulative time, each with its share of the stage's profiled
time. The ``.prof`` files are kept in ``benchmarks/out/profile/`` (``python -m pstats FILE`` or snakeviz).

Usage::

    .venv/bin/python benchmarks/profile_stages.py --users 10000 --database sqlite
    .venv/bin/python benchmarks/profile_stages.py --users 10000 --database postgres
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import MASTER_KEY, OUT, PG_ADMIN_URL, PostgresDatabase, SqliteDatabase, config_dirs  # noqa: E402

ROOT = str(HERE.parent)


def short(key: tuple[str, int, str]) -> str:
    file, line, func = key
    if file.startswith(ROOT):
        file = file[len(ROOT) + 1 :]
    elif "site-packages/" in file:
        file = file.split("site-packages/", 1)[1]
    elif file == "~":
        return func
    else:
        file = "/".join(file.split("/")[-2:])
    return f"{file}:{line}:{func}"


def report(name: str, profile: cProfile.Profile, plain_seconds: float, top: int) -> str:
    stats = pstats.Stats(profile)
    total = stats.total_tt or 1e-9
    entries = stats.stats  # type: ignore[attr-defined]
    lines = [f"\n### {name}: {plain_seconds:.2f} s without the profiler ({total:.2f} s profiled)\n"]
    lines.append("self time (where the CPU goes):\n")
    by_self = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:top]
    for key, (_cc, calls, tottime, _cumtime, _callers) in by_self:
        lines.append(f"- {tottime / total:6.1%}  {tottime:6.2f} s  {calls:>9} calls  {short(key)}")
    lines.append("\nreconciler functions by cumulative time (who is responsible):\n")
    own = [item for item in entries.items() if item[0][0].startswith(os.path.join(ROOT, "reconciler"))]
    by_cum = sorted(own, key=lambda item: item[1][3], reverse=True)[:top]
    for key, (_cc, calls, _tottime, cumtime, _callers) in by_cum:
        lines.append(f"- {cumtime / total:6.1%}  {cumtime:6.2f} s  {calls:>9} calls  {short(key)}")
    return "\n".join(lines)


def stage(name: str, fn: Callable[[], Any], setup: Callable[[], Any] | None, top: int, out: Path) -> tuple[Any, str]:
    """Run ``fn`` once plainly (timed) and once under cProfile (``setup`` runs before each)."""
    if setup is not None:
        setup()
    start = time.perf_counter()
    fn()
    plain = time.perf_counter() - start
    if setup is not None:
        setup()
    profile = cProfile.Profile()
    result = profile.runcall(fn)
    profile.dump_stats(out / f"{name}.prof")
    text = report(name, profile, plain, top)
    print(text, flush=True)
    return result, text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg", default=PG_ADMIN_URL)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--deliver", type=int, default=500, help="emails to deliver in the delivery stage")
    args = parser.parse_args(argv)

    os.environ["RECONCILER_MASTER_KEY"] = MASTER_KEY
    from sqlalchemy import text

    from reconciler.backends.builtin.backend import BuiltinBackend
    from reconciler.backends.builtin.people import deliver_pending
    from reconciler.keys import load_keyring
    from reconciler.mail import DirectoryTransport
    from reconciler.planner import build_plan
    from reconciler.render.text import render_text
    from reconciler.workflow import apply_plan, load_desired

    out = OUT / "profile" / f"{args.database}-{args.users}"
    out.mkdir(parents=True, exist_ok=True)
    base, changed = config_dirs(args.users, args.seed)
    db = SqliteDatabase(OUT / "work" / "profile") if args.database == "sqlite" else PostgresDatabase(args.pg)
    keyring = load_keyring(db.url, environ=os.environ).keyring
    sections = [f"# profile: {args.users:,} users on {args.database}"]

    def run(name: str, fn: Callable[[], Any], setup: Callable[[], Any] | None = None) -> Any:
        result, text_ = stage(name, fn, setup, args.top, out)
        sections.append(text_)
        return result

    db.fresh()
    backend = BuiltinBackend(db.url)
    slugs = sorted(p.stem for p in base.glob("*.yaml"))
    desired = run("load_desired", lambda: load_desired(base))
    empty = backend.read_snapshot(slugs, keyring)
    plan_empty = build_plan(desired, empty, workspaces=slugs)

    def reset() -> None:
        backend.close()
        db.fresh()
        backend.__init__(db.url)  # type: ignore[misc]

    run(
        "apply_plan_from_empty",
        lambda: apply_plan(backend, plan_empty, keyring, actor="profile", command="apply"),
        setup=reset,
    )
    snapshot = run("read_snapshot", lambda: backend.read_snapshot(slugs, keyring))
    plan_same = run("build_plan_no_changes", lambda: build_plan(desired, snapshot, workspaces=slugs))
    assert plan_same.empty
    desired_changed = load_desired(changed)
    plan_changed = run("build_plan_1pct", lambda: build_plan(desired_changed, snapshot, workspaces=slugs))
    run("render_text_1pct", lambda: render_text(plan_changed))
    with backend.engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET status = 'sent' WHERE status = 'pending'"))
    backend.close()
    db.save_base()

    def restore() -> None:
        backend.close()
        db.restore_base()
        backend.__init__(db.url)  # type: ignore[misc]

    run(
        "apply_plan_1pct",
        lambda: apply_plan(backend, plan_changed, keyring, actor="profile", command="apply"),
        setup=restore,
    )

    def queue_some() -> None:
        restore()
        with backend.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE outbox SET status = 'pending' WHERE id IN "
                    f"(SELECT id FROM outbox ORDER BY id LIMIT {int(args.deliver)})"
                )
            )

    outbox = OUT / "work" / "profile-outbox"
    run(
        f"deliver_pending_{args.deliver}_emails",
        lambda: deliver_pending(backend.engine, keyring, DirectoryTransport(outbox), sender="bench@example.com"),
        setup=queue_some,
    )
    backend.close()
    db.drop()
    (out / "report.md").write_text("\n".join(sections) + "\n")
    print(f"\nwritten: {out / 'report.md'}")


if __name__ == "__main__":
    main()
