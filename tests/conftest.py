"""Shared database fixtures: every functional test runs on SQLite, and on PostgreSQL when it is configured.

``RECONCILER_TEST_POSTGRES_URL`` (e.g. ``postgresql://root@127.0.0.1:5432/test``) names a database the tests
may create schemas in. Each PostgreSQL test gets a fresh schema ``t_<hex>``, first on its ``search_path``
(through the URL's ``options`` parameter, so every connection of every engine, subprocess included, uses it),
and the schema is dropped afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbtools import postgres_schema_url, sqlite_file_url
from helpers import Harness
from sqlalchemy import Engine


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file that does not exist yet."""
    return sqlite_file_url(tmp_path)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL on a fresh, empty schema (skipped when PostgreSQL is not configured)."""
    with postgres_schema_url() as url:
        yield url


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_file_url(tmp_path)
        return
    with postgres_schema_url() as url:
        yield url


@pytest.fixture
def harness(database_url: str, tmp_path: Path) -> Iterator[Harness]:
    """The built-in backend on ``database_url`` (SQLite and PostgreSQL), closed after the test; modules that need
    a prepared database define their own ``harness``."""
    opened = Harness(database_url, tmp_path)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on ``database_url`` with the schema created (``open_database``), disposed afterwards."""
    from reconciler.backends.builtin.db import open_database

    opened = open_database(database_url)
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """In CI (RECONCILER_REQUIRE_ALL_TESTS=1) a test skipped for a missing service is a failure, not a pass.

    Tests marked ``optional_tool`` run a tool the project does not install (OPA or conftest, issue 18): their skip
    says which tool is missing and stays a skip."""
    outcome = yield
    report = outcome.get_result()
    optional = item.get_closest_marker("optional_tool") is not None
    if report.skipped and not optional and os.environ.get("RECONCILER_REQUIRE_ALL_TESTS") == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, but CI requires every test to run: {reason}"
