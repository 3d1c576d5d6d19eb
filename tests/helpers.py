"""Shared helpers for the functional and CLI tests: a harness that plans and applies configs written as YAML
strings into a temporary directory, full table dumps, and a CliRunner wrapper.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import Engine, event, select, text

from reconciler.backends.base import ApplyResult
from reconciler.backends.builtin import models
from reconciler.backends.builtin.backend import BuiltinBackend
from reconciler.crypto import Keyring, decrypt_metadata
from reconciler.desired import DesiredState
from reconciler.ops import Plan
from reconciler.render.text import NO_CHANGES, render_text
from reconciler.workflow import Planned, apply_plan, load_desired, make_plan

MASTER_KEY_HEX = "5e" * 32
KEYRING = Keyring(bytes.fromhex(MASTER_KEY_HEX))
AUDIT_TABLES = frozenset({"audit_runs", "audit_changes"})
BENCHMARK_GENERATOR = Path(__file__).resolve().parents[1] / "benchmarks" / "generate.py"


def load_benchmark_generator() -> ModuleType:
    """``benchmarks/generate.py`` (not a package) as a module: realistic synthetic companies for tests too."""
    spec = importlib.util.spec_from_file_location("reconciler_benchmarks_generate", BENCHMARK_GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def dedent(yaml_text: str) -> str:
    return textwrap.dedent(yaml_text).lstrip("\n")


def indent(snippet: str, spaces: int) -> str:
    snippet = dedent(snippet)
    return textwrap.indent(snippet if snippet.endswith("\n") else snippet + "\n", " " * spaces)


def workspace_yaml(
    *,
    users: str,
    groups: str = "",
    settings: str = "",
    slug: str = "acme",
    name: str = "Acme Corp",
    apps: str = "[{slug: invoices, name: Invoices}, {slug: crm, name: CRM}]",
    data_sources: str = "[{name: warehouse}]",
    extra: str = "",
) -> str:
    """One workspace entry (a list item under ``workspaces:``) with the given YAML snippets."""
    parts = [f"  - slug: {slug}\n    name: {name}\n    apps: {apps}\n    data_sources: {data_sources}\n"]
    if settings:
        parts.append("    settings:\n" + indent(settings, 6))
    if groups:
        parts.append("    groups:\n" + indent(groups, 6))
    parts.append("    users:\n" + indent(users, 6))
    if extra:
        parts.append(indent(extra, 4))
    return "".join(parts)


def config_yaml(*workspaces: str) -> str:
    return "version: 1\nworkspaces:\n" + "".join(workspaces)


@dataclass
class Harness:
    """Plans and applies through the library (``workflow``) against one database, with a fixed master key."""

    url: str
    directory: Path
    keyring: Keyring | None = KEYRING
    backend: BuiltinBackend = field(init=False)
    config_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.backend = BuiltinBackend(self.url)
        self.config_path = self.directory / "config" / "workspace.yaml"
        self.config_path.parent.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        self.backend.close()

    @property
    def engine(self) -> Engine:
        return self.backend.engine

    # --- config, plan, apply ---------------------------------------------------------------------

    def write(self, yaml_text: str) -> Path:
        self.config_path.write_text(dedent(yaml_text), encoding="utf-8")
        return self.config_path

    def desired(self, yaml_text: str | None = None, *, strict_roles: bool = False) -> DesiredState:
        if yaml_text is not None:
            self.write(yaml_text)
        return load_desired(self.config_path, strict_roles=strict_roles)

    def plan(self, config: str | DesiredState | None = None) -> Planned:
        """Plan a YAML text (written to the config file), an already loaded config, or the current file."""
        desired = config if isinstance(config, DesiredState) else self.desired(config)
        return make_plan(self.backend, desired, self.keyring)

    def text(self, planned: Planned) -> str:
        names = {slug: ws.workspace.name for slug, ws in planned.desired.workspaces.items()}
        return render_text(planned.plan, workspace_names=names)

    def apply(self, yaml_text: str | None = None, **options: Any) -> tuple[Plan, ApplyResult]:
        planned = self.plan(yaml_text)
        return planned.plan, self.apply_plan(planned.plan, **options)

    def apply_plan(self, plan: Plan, **options: Any) -> ApplyResult:
        options.setdefault("actor", "tests")
        options.setdefault("command", "apply")
        return apply_plan(self.backend, plan, self.keyring, **options)

    def cli_env(self, **overrides: str | None) -> dict[str, str | None]:
        """The CLI's environment: this harness's key (if any) and an outbox directory inside the test's."""
        env: dict[str, str | None] = {
            "RECONCILER_OUTBOX_DIR": str(self.directory / "outbox"),
            "RECONCILER_MASTER_KEY": MASTER_KEY_HEX if self.keyring == KEYRING else None,
        }
        return env | overrides

    def cli(self, *args: str, input: str | None = None, **env: str | None) -> Result:
        """``reconciler --database URL ARGS...`` in-process; ``env`` overrides :meth:`cli_env`."""
        return run_cli(["--database", self.url, *args], env=self.cli_env(**env), input=input)

    def assert_in_sync(self, desired: DesiredState | None = None) -> None:
        """The invariant of SPEC 4: right after an apply, a fresh plan is empty."""
        planned = self.plan(desired)
        assert self.text(planned) == NO_CHANGES
        assert planned.plan.empty

    # --- looking at the database -----------------------------------------------------------------

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def execute(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(sql), params)

    def dump(self, *, exclude: frozenset[str] = AUDIT_TABLES) -> dict[str, list[tuple[Any, ...]]]:
        return dump_tables(self.engine, exclude=exclude)

    def membership(self, email: str, slug: str = "acme") -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT m.id, m.role, m.status, m.invitation_token_hash, m.invitation_expires_at "
                    "FROM memberships m JOIN users u ON u.id = m.user_id JOIN workspaces w ON w.id = m.workspace_id "
                    "WHERE u.email = :email AND w.slug = :slug"
                ),
                {"email": email, "slug": slug},
            ).one()
        return dict(row._mapping)

    def groups_of(self, email: str, slug: str = "acme") -> list[str]:
        return [
            name
            for (name,) in self.rows(
                "SELECT g.name FROM group_members gm JOIN groups g ON g.id = gm.group_id "
                "JOIN memberships m ON m.id = gm.membership_id JOIN users u ON u.id = m.user_id "
                "JOIN workspaces w ON w.id = m.workspace_id WHERE u.email = :email AND w.slug = :slug ORDER BY g.name",
                email=email,
                slug=slug,
            )
        ]

    def metadata_of(self, email: str, slug: str = "acme") -> dict[str, str] | None:
        membership_id = self.membership(email, slug)["id"]
        blob = self.scalar("SELECT ciphertext FROM membership_metadata WHERE membership_id = :m", m=membership_id)
        if blob is None:
            return None
        assert self.keyring is not None
        return decrypt_metadata(self.keyring, membership_id, blob)


def dump_tables(engine: Engine, *, exclude: frozenset[str] = AUDIT_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the schema (but ``exclude``), sorted, for before/after comparisons."""
    dump: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in models.metadata.sorted_tables:
            if table.name in exclude:
                continue
            dump[table.name] = sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
    return dump


@contextmanager
def count_statements(engine: Engine) -> Iterator[list[str]]:
    """Collect every SQL statement sent on ``engine`` (an executemany counts once)."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def run_cli(args: list[str], *, env: Mapping[str, str | None], input: str | None = None) -> Result:
    """Invoke the CLI in-process; stdout and stderr stay apart (``result.stdout``, ``result.stderr``).

    ``env`` must name ``RECONCILER_OUTBOX_DIR``, so that invitation emails never land in the working directory.
    """
    from reconciler.cli import cli

    assert "RECONCILER_OUTBOX_DIR" in env
    return CliRunner().invoke(cli, args, env=dict(env), input=input, catch_exceptions=False)


# --- waiting for a lock, observed ------------------------------------------------------------------------

_SLEEP_SYSCALLS = {"x86_64": {35, 230}, "aarch64": {101, 115}}  # nanosleep, clock_nanosleep


def asleep(pid: int, tid: int | None = None) -> bool:
    """Whether the process ``pid`` (or its thread ``tid``) is asleep in ``nanosleep``: how a command waiting for a
    lock spends its time between tries (SQLite's busy handler and the PostgreSQL apply lock's poll both sleep;
    nothing else on the way to the lock does). Tests wait on this instead of a fixed sleep (Linux /proc)."""
    task = Path(f"/proc/{pid}/task/{tid or pid}")
    try:
        wchan = (task / "wchan").read_text()
        if wchan not in ("", "0"):
            return "nanosleep" in wchan
        number = (task / "syscall").read_text().split()[0]
    except (OSError, IndexError):
        return False
    import platform

    return number.isdigit() and int(number) in _SLEEP_SYSCALLS.get(platform.machine(), set())


def wait_until(condition: Callable[[], bool], what: str, *, alive: Callable[[], bool], timeout: float = 60) -> None:
    """Poll ``condition`` until it holds; fail if ``alive`` stops holding first (the process ended) or after
    ``timeout`` seconds (a safety net against hanging, not a timing assumption)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert alive(), f"ended before it {what}"
        if time.monotonic() > deadline:
            raise AssertionError(f"never {what} within {timeout:g} s")
        time.sleep(0.005)
