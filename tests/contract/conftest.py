"""The backend contract suite: scenarios written once, run against every backend.

``backend_under_test`` is parametrised with every backend: the in-memory fake (``tests/fakes.py``), the built-in
backend on SQLite and on PostgreSQL, and the ToolJet backend on each schema variant of
``tests/tooljet/tooljet_harness.py``. Adding a backend means adding one adapter and one line to ``BACKENDS``.

An adapter gives the scenarios what differs between backends and nothing else: the ``Backend`` instance, the
keyring the workflow passes it (the built-in backend encrypts metadata with it; the ToolJet backend uses ToolJet's
LOCKBOX_MASTER_KEY and gets none), how a member accepts an invitation (outside reconciler, so outside the
contract), the backend's own invariants to check after each apply, and, for a backend that does not create
workspaces (ToolJet), how its own server would have created the scenario's. The starting state is the same for
all: every scenario declares its own workspace (``lab``), which no seed holds, and its own people
(``@lab.example``); the ToolJet adapter creates ``lab`` the way ToolJet's workspace setup does before the first
plan.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from dbtools import postgres_schema_url, sqlite_file_url
from helpers import KEYRING
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tooljet"))  # its helper modules, not a package

from contract_support import BackendUnderTest, Scenario
from fakes import MemoryBackend
from lockbox_reference import TEST_LOCKBOX_KEY
from tooljet_harness import VARIANTS, ToolJetDb, create_workspace_as_tooljet, fresh_schema, load_sql

from reconciler.state import Membership, Metadata, User

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("builtin-sqlite", id="builtin-sqlite"),
    pytest.param("builtin-postgres", id="builtin-postgres", marks=pytest.mark.postgres),
    *(pytest.param(f"tooljet-{v}", id=f"tooljet-{v}", marks=pytest.mark.postgres) for v in VARIANTS),
]


class MemoryUnderTest(BackendUnderTest):
    def __init__(self) -> None:
        self.backend: MemoryBackend = MemoryBackend()
        self.keyring = KEYRING  # nothing is encrypted in memory; the key signs saved plans, as the CLI's would

    def activate(self, slug: str, email: str) -> None:
        self.backend.accept_invitation(slug, email)

    def sso_join(self, slug: str, email: str, first_name: str, *, source: str = "saml") -> None:
        store = self.backend.store
        store.users.setdefault(email, User(email, first_name, "Lab"))
        ws = store.workspaces[slug]
        ws.memberships[email] = Membership(email, "end-user", "active", frozenset(), Metadata.EMPTY)
        store.workspaces[slug] = replace(ws, sso_sources={**ws.sso_sources, email: source})

    def sync_groups(self, slug: str, email: str, groups: tuple[str, ...]) -> None:
        ws = self.backend.store.workspaces[slug]
        ws.memberships[email] = replace(ws.memberships[email], groups=frozenset(groups))

    def add_to_group(self, slug: str, email: str, group: str) -> None:
        ws = self.backend.store.workspaces[slug]
        member = ws.memberships[email]
        ws.memberships[email] = replace(member, groups=member.groups | {group})


class BuiltinUnderTest(BackendUnderTest):
    def __init__(self, url: str) -> None:
        from reconciler.backends.builtin.backend import BuiltinBackend

        self.backend: BuiltinBackend = BuiltinBackend(url)
        self.keyring = KEYRING

    def activate(self, slug: str, email: str) -> None:
        """Through the real ``invite-url`` and ``accept-invite`` code."""
        from reconciler.backends.builtin.people import accept_invitation, reissue_invitation

        link, _ = reissue_invitation(self.backend.engine, email, slug, base_url="https://lab.example")
        assert accept_invitation(self.backend.engine, urlsplit(link).path.rsplit("/", 1)[1]) == (slug, email)

    def sso_join(self, slug: str, email: str, first_name: str, *, source: str = "saml") -> None:
        """The built-in schema has no sign-ins: another writer's rows, written straight into its tables."""
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from reconciler.backends.builtin import models

        with Session(self.backend.engine) as session, session.begin():
            workspace = session.scalars(select(models.Workspace).where(models.Workspace.slug == slug)).one()
            user = session.scalars(select(models.User).where(models.User.email == email)).one_or_none()
            user = user or models.User(email=email, first_name=first_name, last_name="Lab")
            session.add(models.Membership(workspace_id=workspace.id, user=user, role="end-user", status="active"))

    def sync_groups(self, slug: str, email: str, groups: tuple[str, ...]) -> None:
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from reconciler.backends.builtin import models

        with Session(self.backend.engine) as session, session.begin():
            member = session.scalars(
                select(models.Membership)
                .join(models.Workspace, models.Workspace.id == models.Membership.workspace_id)
                .join(models.User, models.User.id == models.Membership.user_id)
                .where(models.Workspace.slug == slug, models.User.email == email)
            ).one()
            member.groups = list(
                session.scalars(
                    select(models.Group).where(
                        models.Group.workspace_id == member.workspace_id,
                        models.Group.kind == "custom",
                        models.Group.name.in_(groups),
                    )
                )
            )

    def add_to_group(self, slug: str, email: str, group: str) -> None:
        with self.backend.engine.begin() as conn:
            added = conn.execute(
                text(
                    "INSERT INTO group_members (group_id, membership_id) SELECT g.id, m.id FROM groups g "
                    "JOIN workspaces w ON w.id = g.workspace_id JOIN memberships m ON m.workspace_id = w.id "
                    "JOIN users u ON u.id = m.user_id WHERE w.slug = :slug AND g.name = :group AND u.email = :email"
                ),
                {"slug": slug, "group": group, "email": email},
            )
            assert added.rowcount == 1


class ToolJetUnderTest(BackendUnderTest):
    def __init__(self, db: ToolJetDb) -> None:
        self.db = db
        self.backend = db.backend()
        self.keyring = None  # ToolJet's metadata is encrypted with LOCKBOX_MASTER_KEY

    def activate(self, slug: str, email: str) -> None:
        """What accepting in ToolJet writes: the membership and (for a new account) the user become active."""
        accepted = self.db.query(
            "UPDATE organization_users ou SET status = 'active', invitation_token = NULL FROM users u, organizations o "
            "WHERE ou.user_id = u.id AND ou.organization_id = o.id AND u.email = :email AND o.slug = :slug "
            "AND ou.status = 'invited' RETURNING ou.id",
            email=email,
            slug=slug,
        )
        assert len(accepted) == 1, f"{email} is not invited to {slug}"
        self.db.query(
            "UPDATE users SET status = 'active', invitation_token = NULL WHERE email = :email AND status = 'invited' "
            "RETURNING id",
            email=email,
        )

    def check_invariants(self) -> None:
        self.db.check_tooljet_invariants()

    def adopt_workspaces(self, workspaces: dict[str, str]) -> None:
        """The ToolJet backend refuses to create workspaces: create the scenario's in ToolJet's way first
        (``create_workspace_as_tooljet``: organizations, sso_configs, default groups and their granular rows)."""
        existing = set(self.backend.list_workspaces())
        for slug, name in workspaces.items():
            if slug not in existing:
                create_workspace_as_tooljet(self.db.url, slug, name or slug)

    def sso_join(self, slug: str, email: str, first_name: str, *, source: str = "saml") -> None:
        """What ToolJet's first SSO sign-in writes (``findOrCreateUser`` and ``getUserStatusAndSource``,
        server/src/modules/auth/util.service.ts, server/src/modules/users/constants/lifecycle.ts): an active
        account whose source is the provider, an active membership with source ``signup``, the end-user default
        group, and the SSO profile in ``user_details.sso_user_info``."""
        assert source in ("google", "git", "openid", "ldap", "saml")
        org = self.db.one("SELECT id::text FROM organizations WHERE slug = :slug", slug=slug)
        self.db.query(
            "INSERT INTO users (email, first_name, last_name, status, source, user_type, organization_id) "
            f"VALUES (:email, :first, 'Lab', 'active', '{source}', 'workspace', CAST(:org AS uuid)) "
            "ON CONFLICT (email) DO NOTHING RETURNING id",
            email=email,
            first=first_name,
            org=org,
        )
        user = self.db.one("SELECT id::text FROM users WHERE email = :email", email=email)
        self.db.query(
            "INSERT INTO organization_users (organization_id, user_id, role, status, source) "
            "VALUES (CAST(:org AS uuid), CAST(:user AS uuid), 'all-users', 'active', 'signup') RETURNING id",
            org=org,
            user=user,
        )
        self.db.query(
            "INSERT INTO group_users (user_id, group_id) SELECT CAST(:user AS uuid), g.id FROM permission_groups g "
            "WHERE g.organization_id = CAST(:org AS uuid) AND g.type = 'default' AND g.name = 'end-user' RETURNING id",
            org=org,
            user=user,
        )
        self.db.query(
            "INSERT INTO user_details (user_id, organization_id, sso_user_info) "
            "VALUES (CAST(:user AS uuid), CAST(:org AS uuid), CAST(:info AS json)) RETURNING id",
            org=org,
            user=user,
            info=f'{{"sub": "{email}"}}',
        )

    def sync_groups(self, slug: str, email: str, groups: tuple[str, ...]) -> None:
        """``syncUserAndGroups``: out of every custom group of the workspace, then into the IdP's groups."""
        params = {"slug": slug, "email": email, "names": list(groups)}
        self.db.query(
            "DELETE FROM group_users gu USING permission_groups g, organizations o, users u "
            "WHERE gu.group_id = g.id AND g.organization_id = o.id AND o.slug = :slug AND g.type = 'custom' "
            "AND gu.user_id = u.id AND u.email = :email RETURNING gu.id",
            slug=slug,
            email=email,
        )
        self.db.query(
            "INSERT INTO group_users (user_id, group_id) SELECT u.id, g.id FROM users u, permission_groups g "
            "JOIN organizations o ON o.id = g.organization_id WHERE u.email = :email AND o.slug = :slug "
            "AND g.type = 'custom' AND g.name = ANY(CAST(:names AS varchar[])) RETURNING id",
            **params,
        )

    def add_to_group(self, slug: str, email: str, group: str) -> None:
        """What ToolJet's "add users to group" writes: a group_users row (group-permissions/repository.ts)."""
        added = self.db.query(
            "INSERT INTO group_users (user_id, group_id) SELECT u.id, g.id FROM users u, permission_groups g "
            "JOIN organizations o ON o.id = g.organization_id WHERE u.email = :email AND o.slug = :slug "
            "AND g.name = :group RETURNING id",
            email=email,
            slug=slug,
            group=group,
        )
        assert len(added) == 1


@pytest.fixture(params=BACKENDS)
def backend_under_test(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BackendUnderTest]:
    monkeypatch.setenv("RECONCILER_OUTBOX_DIR", str(tmp_path / "outbox"))
    for name in ("RECONCILER_MASTER_KEY", "RECONCILER_SMTP_URL", "RECONCILER_BASE_URL", "SUB_PATH"):
        monkeypatch.delenv(name, raising=False)
    kind: str = request.param
    if kind == "memory":
        yield MemoryUnderTest()
    elif kind == "builtin-sqlite":
        yield from _closing(BuiltinUnderTest(sqlite_file_url(tmp_path)))
    elif kind == "builtin-postgres":
        with postgres_schema_url() as url:
            yield from _closing(BuiltinUnderTest(url))
    else:
        variant = kind.removeprefix("tooljet-")
        with fresh_schema() as (url, schema, admin):
            load_sql(url, f"schema_{variant}.sql", "seed_common.sql", f"seed_groups_{variant}.sql")
            load_sql(url, "seed_group_users.sql")
            monkeypatch.setenv("LOCKBOX_MASTER_KEY", TEST_LOCKBOX_KEY)
            monkeypatch.setenv("TOOLJET_HOST", "https://tooljet.lab.example")
            monkeypatch.setenv("RECONCILER_TOOLJET_AUDIT_SCHEMA", f"{schema}_audit")  # dropped with the schema
            yield from _closing(ToolJetUnderTest(ToolJetDb(url, schema, variant, tmp_path, admin)))


def _closing(under_test: BackendUnderTest) -> Iterator[BackendUnderTest]:
    try:
        yield under_test
    finally:
        under_test.backend.close()


@pytest.fixture
def scenario(backend_under_test: BackendUnderTest, tmp_path: Path) -> Scenario:
    return Scenario(backend_under_test, tmp_path / "config")
