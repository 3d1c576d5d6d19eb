"""Benchmark: the access report of a 10,000-member workspace, generated and opened in headless Chromium.

Run from the repository root (not part of the test suite; figures go to docs/report.md):

    .venv/bin/python benchmarks/report_bench.py                 # 10,000 members on a temporary SQLite file
    .venv/bin/python benchmarks/report_bench.py --members 2000 --database postgresql://root@127.0.0.1/test

Steps: write a configuration with N members (20 apps, 6 data sources, 25 custom groups, two metadata keys per
member), apply it (setup, timed separately), then time ``reconciler report`` end to end (a subprocess: start-up,
snapshot read with metadata decryption, model, rendering, writing) for each format, and finally open the HTML
page in headless Chromium: time to the load event, to the script's ``report-ready`` mark (first matrix page on
screen), and the latency of a search, of the next page and of showing every row. Results are printed and
written to benchmarks/out/report_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "report"))
MASTER_KEY = "7b" * 32
APPS, DATA_SOURCES, GROUPS = 20, 6, 25


def group_yaml(index: int, rng: random.Random) -> str:
    apps = sorted(rng.sample(range(APPS), 3))
    kind = index % 5
    viewed = ", ".join(f"app-{a:02d}" for a in apps)
    grants = f"      granular:\n        apps:\n          - {{access: view, apps: [{viewed}]}}\n"
    if kind == 0:  # builder-level: edit on one app and use of a data source
        grants += f"          - {{access: edit, apps: [app-{apps[0]:02d}]}}\n"
        grants += f"        data_sources:\n          - {{access: use, data_sources: [ds-{index % DATA_SOURCES}]}}\n"
    elif kind == 1:
        grants = grants.replace("access: view,", "access: view, hide_from_dashboard: true,")
    return f"    - name: group-{index:02d}\n{grants}"


def user_yaml(index: int, rng: random.Random) -> str:
    role = "admin" if index % 100 == 0 else ("builder" if index % 5 == 0 else "end-user")
    groups = sorted(rng.sample(range(GROUPS), rng.randint(0, 3)))
    names = ", ".join(f"group-{g:02d}" for g in groups)
    return (
        f"    - {{email: user{index:05d}@bench.example, first_name: User, last_name: N{index}, role: {role}, "
        f"groups: [{names}], metadata: {{team: t{index % 40}, badge: b{index}}}}}\n"
    )


def write_config(path: Path, members: int) -> None:
    rng = random.Random(42)
    apps = "".join(f"    - {{slug: app-{a:02d}, name: App {a:02d}}}\n" for a in range(APPS))
    sources = "".join(f"    - {{name: ds-{d}}}\n" for d in range(DATA_SOURCES))
    parts = [
        "version: 1\nworkspaces:\n- slug: bench\n  name: Benchmark\n",
        f"  apps:\n{apps}  data_sources:\n{sources}  groups:\n",
        *(group_yaml(g, rng) for g in range(GROUPS)),
        "  users:\n",
        *(user_yaml(i, rng) for i in range(members)),
    ]
    path.write_text("".join(parts), encoding="utf-8")


def timed(function: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def apply_config(url: str, config: Path) -> float:
    from reconciler.backends.builtin.backend import BuiltinBackend
    from reconciler.crypto import Keyring
    from reconciler.workflow import apply_plan, load_desired, make_plan

    backend = BuiltinBackend(url)
    keyring = Keyring(bytes.fromhex(MASTER_KEY))
    try:
        start = time.perf_counter()
        planned = make_plan(backend, load_desired(config), keyring)
        apply_plan(backend, planned.plan, keyring, actor="bench", command="apply", allow_mass_change=True)
        return time.perf_counter() - start
    finally:
        backend.close()


def run_report(url: str, fmt: str, out: Path, repeat: int) -> float:
    """Wall time of the whole command, best of ``repeat`` runs (other load on the machine only adds)."""
    env = os.environ | {"RECONCILER_MASTER_KEY": MASTER_KEY}
    command = [str(ROOT / ".venv" / "bin" / "reconciler"), "--database", url, "report", "--workspace", "bench"]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([*command, "--format", fmt, "-o", str(out)], env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def stages(url: str) -> dict[str, float]:
    """In-process time of each stage: snapshot read (with decryption), model, and each renderer."""
    from reconciler.backends.builtin.backend import BuiltinBackend
    from reconciler.crypto import Keyring
    from reconciler.report import RENDERERS, build_report

    backend = BuiltinBackend(url)
    try:
        figures, snapshot = {}, None
        figures["read_snapshot_s"], snapshot = timed(
            backend.read_snapshot, ["bench"], Keyring(bytes.fromhex(MASTER_KEY))
        )
        figures["build_report_s"], report = timed(build_report, snapshot)
        figures["profiles"] = len(report.workspaces[0].profiles)
        for name, render in RENDERERS.items():
            figures[f"render_{name}_s"], _ = timed(render, report)
        return figures
    finally:
        backend.close()


# Acts on the first workspace's controls and resolves with the milliseconds until the re-rendered page is painted.
ACT = """(selector, value, event) => new Promise(done => {
  const section = document.querySelector('section.workspace');
  const start = performance.now();
  section.addEventListener('report:rendered', () => requestAnimationFrame(() => done(performance.now() - start)),
    {once: true});
  const control = section.querySelector(selector);
  if (value === null) { control.click(); } else { control.value = value; control.dispatchEvent(new Event(event)); }
})"""


def act(page: Any, selector: str, value: str | None, event: str = "change") -> float:
    return page.evaluate(f"({ACT})({json.dumps(selector)}, {json.dumps(value)}, {json.dumps(event)})")


def measure_browser(html: Path, repeat: int) -> dict[str, float]:
    from report_browser import Browser

    browser = Browser(width=1400, height=1000)
    try:
        loads, readies = [], []
        for _ in range(repeat):  # a fresh tab each time; the best run counts
            page = browser.new_page()
            start = time.perf_counter()
            page.navigate(html.as_uri())
            loads.append(time.perf_counter() - start)
            readies.append(page.evaluate("performance.getEntriesByName('report-ready')[0].startTime"))
        figures = {"load_event_s": min(loads), "ready_ms_after_navigation_start": min(readies)}
        figures["search_ms"] = act(page, "input.filter-text", "user0421", "input")
        figures["clear_search_ms"] = act(page, "input.filter-text", "", "input")
        figures["next_page_ms"] = act(page, "button.page-next", None)
        figures["all_rows_ms"] = act(page, "select.page-size", "all")
        figures["console_errors"] = len(page.console_errors())
        figures["network_requests"] = len(page.network_requests())
        return figures
    finally:
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--database", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best one counts")
    args = parser.parse_args()
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/bench.db"
        config = Path(tmp) / "bench.yaml"
        write_config(config, args.members)
        results: dict[str, Any] = {"members": args.members, "database": url.split(":", 1)[0]}
        results["apply_setup_s"] = apply_config(url, config)
        results["stages"] = stages(url)
        for fmt in ("html", "csv", "json"):
            target = out / f"report-{args.members}.{fmt}"
            results[f"report_{fmt}_s"] = run_report(url, fmt, target, args.repeat)
            results[f"report_{fmt}_bytes"] = target.stat().st_size
        if not args.skip_browser:
            results["chromium"] = measure_browser(out / f"report-{args.members}.html", args.repeat)
    (out / "report_bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
