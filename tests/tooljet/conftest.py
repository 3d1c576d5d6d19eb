"""Fixtures for the ToolJet backend: a fresh PostgreSQL schema per test holding a seeded ToolJet database.

Each test gets a schema ``tj_<hex>`` first on the search_path (through the URL's ``options``), with ToolJet's
enum types and tables created inside it from ``sql/schema_<variant>.sql`` and the seed data from ``sql/seed_*``.
Tests parametrised with ``tooljet`` run once per supported variant. Without ``RECONCILER_TEST_POSTGRES_URL``
they are skipped: the ToolJet backend only exists on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lockbox_reference import TEST_LOCKBOX_KEY
from tooljet_harness import VARIANTS, ToolJetDb, fresh_schema, load_sql


@pytest.fixture(autouse=True)
def tooljet_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ToolJet's key and host, an outbox in the test's directory, and no stray settings from the caller."""
    monkeypatch.setenv("LOCKBOX_MASTER_KEY", TEST_LOCKBOX_KEY)
    monkeypatch.setenv("TOOLJET_HOST", "https://tooljet.acme.example")
    monkeypatch.setenv("RECONCILER_OUTBOX_DIR", str(tmp_path / "outbox"))
    for name in ("SUB_PATH", "RECONCILER_SMTP_URL", "RECONCILER_TOOLJET_AUDIT_SCHEMA", "RECONCILER_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=VARIANTS)
def tooljet(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ToolJetDb]:
    """A seeded ToolJet database of each supported variant."""
    with fresh_schema() as (url, schema, admin):
        variant = request.param
        load_sql(url, f"schema_{variant}.sql", "seed_common.sql", f"seed_groups_{variant}.sql", "seed_group_users.sql")
        db = ToolJetDb(url, schema, variant, tmp_path, admin)
        try:
            yield db
        finally:
            db.close()


@pytest.fixture(params=VARIANTS)
def tooljet_edge(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ToolJetDb]:
    """A seeded ToolJet database of each variant plus ``seed_edge.sql``: states ToolJet can hold that the tool
    never writes (issue 16: two default groups or none, unreadable metadata, an app without a slug, ...)."""
    with fresh_schema() as (url, schema, admin):
        variant = request.param
        load_sql(
            url,
            f"schema_{variant}.sql",
            "seed_common.sql",
            f"seed_groups_{variant}.sql",
            "seed_group_users.sql",
            "seed_edge.sql",
        )
        db = ToolJetDb(url, schema, variant, tmp_path, admin)
        try:
            yield db
        finally:
            db.close()


@pytest.fixture
def empty_schema() -> Iterator[str]:
    """A URL on an empty schema (for refusal tests)."""
    with fresh_schema() as (url, _schema, _admin):
        yield url
