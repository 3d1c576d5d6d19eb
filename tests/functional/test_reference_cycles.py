"""Loading, planning and applying leave no garbage reference cycles behind (issue 7).

The heavy phases run with the cyclic garbage collector paused, and what a large one leaves behind is frozen
(``workflow.paused_gc``). That is only sound if they create no cycles: a cycle among frozen objects is never
freed. One such cycle kept a loaded configuration (every user and its YAML document) alive after loading: a
user's locator held its workspace, which held its users. These tests find any new one.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import KEYRING, load_benchmark_generator

from reconciler import workflow
from reconciler.backends.builtin.backend import BuiltinBackend
from reconciler.workflow import FREEZE_SURVIVORS, apply_plan, load_desired, make_plan, paused_gc


@pytest.fixture
def collector_paused() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def cyclic_garbage(step: Callable[[], Any]) -> tuple[Any, Counter[str]]:
    """Run ``step`` with the collector paused; the result, and the kinds of objects only a cycle kept alive."""
    result = step()
    gc.set_debug(gc.DEBUG_SAVEALL)  # unreachable objects go to gc.garbage instead of being freed
    try:
        gc.collect()
        kinds = Counter(type(obj).__name__ for obj in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return result, kinds


@pytest.mark.usefixtures("collector_paused")
def test_loading_a_company_leaves_no_cycles(tmp_path: Path) -> None:
    generate = load_benchmark_generator()
    generate.write_company(generate.generate_company(300, workspaces=3), tmp_path / "company")

    load_desired(tmp_path / "company")  # the first load in a process imports and builds validators
    gc.collect()

    desired, garbage = cyclic_garbage(lambda: load_desired(tmp_path / "company"))
    assert sum(len(ws.workspace.memberships) for ws in desired.workspaces.values()) > 300
    assert garbage == Counter()


@pytest.mark.usefixtures("collector_paused")
def test_plan_and_apply_leave_no_cycles(database_url: str, tmp_path: Path) -> None:
    generate = load_benchmark_generator()
    generate.write_company(generate.generate_company(300, workspaces=3), tmp_path / "company")
    desired = load_desired(tmp_path / "company")
    backend = BuiltinBackend(database_url)
    try:
        make_plan(backend, desired, KEYRING)  # the first use creates the schema and fills SQLAlchemy's caches
        gc.collect()

        planned, garbage = cyclic_garbage(lambda: make_plan(backend, desired, KEYRING))
        assert len(planned.plan.ops) > 300
        assert _beyond_sqlalchemy(garbage) == Counter()

        _, garbage = cyclic_garbage(lambda: apply_plan(backend, planned.plan, KEYRING, actor="t", command="apply"))
        assert _beyond_sqlalchemy(garbage) == Counter()
        assert make_plan(backend, desired, KEYRING).plan.empty
    finally:
        backend.close()


def _beyond_sqlalchemy(garbage: Counter[str]) -> Counter[str]:
    """SQLAlchemy leaves a few compiled-statement objects per run (a bounded handful, not per row)."""
    assert garbage.total() < 50, f"cycles grow with the data: {dict(garbage)}"
    return Counter({kind: n for kind, n in garbage.items() if kind not in _SQLALCHEMY_KINDS})


_SQLALCHEMY_KINDS = frozenset({"BindParameter", "_anonymous_label", "dict", "set", "frozenset", "list", "tuple"})


def test_a_long_duplicate_of_chain_is_loaded_without_recursion(tmp_path: Path) -> None:
    groups = [f"      - {{name: g{i}, duplicate_of: {{group: g{i + 1}, parts: [permissions]}}}}" for i in range(1_500)]
    config = tmp_path / "chain.yaml"
    config.write_text(
        "version: 1\nworkspaces:\n  - slug: acme\n    name: Acme\n    users:\n"
        "      - {email: a@x.io, first_name: A, last_name: B, role: admin}\n"
        "    groups:\n" + "\n".join(groups) + "\n      - name: g1500\n"
    )
    desired = load_desired(config)
    assert len(desired.workspaces["acme"].workspace.groups) == 1_501


def test_library_use_never_freezes_objects() -> None:
    """Freezing is for the CLI's one-shot process: in a long-running one it would keep garbage cycles forever."""
    frozen = gc.get_freeze_count()
    with paused_gc():
        survivors = [[] for _ in range(FREEZE_SURVIVORS + 1_000)]
    assert gc.get_freeze_count() == frozen
    assert len(survivors) > FREEZE_SURVIVORS


def test_the_cli_freezes_what_a_large_block_leaves_behind() -> None:
    with workflow.one_shot_process():  # what `reconciler` (cli.main) runs its command in
        frozen = gc.get_freeze_count()
        with paused_gc():
            few = [[] for _ in range(1_000)]
        assert gc.get_freeze_count() == frozen, "a small block is left to the collector"
        with paused_gc():
            many = [[] for _ in range(FREEZE_SURVIVORS + 1_000)]
        assert gc.get_freeze_count() >= frozen + len(many)
    gc.unfreeze()
    with paused_gc():  # after the command: library use again
        more = [[] for _ in range(FREEZE_SURVIVORS + 1_000)]
    assert gc.get_freeze_count() == 0
    assert few and many and more
