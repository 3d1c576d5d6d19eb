"""What the contract scenarios share: the backend adapter's interface, configuration builders and the Scenario.

A Scenario plans and applies configurations (written as dicts, dumped to YAML and loaded by the real loader)
through ``reconciler.workflow`` exactly as the CLI does, against whichever backend it is given, and checks the
invariant of SPEC 4 after every apply: a fresh plan of the same configuration is empty. Scenarios look at the
result through ``read_snapshot`` (what any backend must answer), never at a backend's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from reconciler.backends.base import ApplyResult, Backend
from reconciler.crypto import Keyring
from reconciler.ops import Plan
from reconciler.render.text import render_text
from reconciler.state import Membership, Snapshot
from reconciler.workflow import Planned, apply_plan, load_desired, make_plan

SLUG = "lab"  # a workspace no backend's seed holds
DOMAIN = "lab.example"
VIEW_ALL = {"granular": {"apps": [{"access": "view", "apps": "all"}]}}  # not builder-level
CREATE_APPS = {"permissions": {"apps": {"create": True}}}  # builder-level (one flag, one column in ToolJet)


class BackendUnderTest:
    """One backend, as the contract suite drives it (see conftest.py for the adapters)."""

    backend: Backend
    keyring: Keyring | None

    def activate(self, slug: str, email: str) -> None:
        """The member accepts the invitation (``invited`` -> ``active``), outside reconciler."""
        raise NotImplementedError

    def check_invariants(self) -> None:
        """What the backend's own database guarantees, checked after every apply."""

    def adopt_workspaces(self, workspaces: dict[str, str]) -> None:
        """Before a plan: on a backend that does not create workspaces (``SUPPORTS_WORKSPACE_CREATION`` false),
        create those of ``workspaces`` (slug -> name) it lacks the way its own server would, as a user adopting
        them would have done before writing the configuration. The default: nothing (the plan creates them)."""

    def add_to_group(self, slug: str, email: str, group: str) -> None:
        """Someone adds a member to a custom group outside reconciler (in the UI): straight into the database."""
        raise NotImplementedError

    # --- other writers of the same rows (issue 17): SSO sign-ins, SSO/SCIM group sync, the UI ---------------

    def sso_join(self, slug: str, email: str, first_name: str, *, source: str = "saml") -> None:
        """A first single sign-on: the account and an active end-user membership, created outside reconciler
        (ToolJet's ``findOrCreateUser``, server/src/modules/auth/util.service.ts)."""
        raise NotImplementedError

    def sync_groups(self, slug: str, email: str, groups: tuple[str, ...]) -> None:
        """SSO group sync at a sign-in: the member leaves every custom group, then joins ``groups`` (ToolJet's
        ``syncUserAndGroups``, server/src/modules/auth/util.service.ts)."""
        raise NotImplementedError


def email(name: str) -> str:
    return f"{name}@{DOMAIN}"


def person(name: str, role: str, *groups: str, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"email": email(name), "first_name": name.title(), "last_name": "Lab", "role": role}
    if groups:
        entry["groups"] = list(groups)
    return entry | extra


def group(name: str, permissions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, **permissions, **extra}


def config(users: list[dict[str, Any]], groups: list[dict[str, Any]] | None = None, **settings: Any) -> dict[str, Any]:
    workspace: dict[str, Any] = {"slug": SLUG, "name": "Lab"}
    if settings:
        workspace["settings"] = settings
    if groups:
        workspace["groups"] = list(groups)
    workspace["users"] = users
    return {"version": 1, "workspaces": [workspace]}


@dataclass
class Scenario:
    under_test: BackendUnderTest
    directory: Path
    _files: int = 0
    now: datetime | None = None  # the injected clock (``expires:``); None: the machine's

    @property
    def backend(self) -> Backend:
        return self.under_test.backend

    @property
    def keyring(self) -> Keyring | None:
        return self.under_test.keyring

    def write(self, document: dict[str, Any]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files += 1
        path = self.directory / f"config-{self._files}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return path

    def plan(self, document: dict[str, Any] | Path, *, adopt: bool = True) -> Planned:
        """``adopt``: first let the backend under test create the declared workspaces it lacks, where it does not
        create workspaces itself (see ``BackendUnderTest.adopt_workspaces``)."""
        path = document if isinstance(document, Path) else self.write(document)
        desired = load_desired(path, now=self.now)
        if adopt:
            self.under_test.adopt_workspaces({slug: ws.workspace.name for slug, ws in desired.workspaces.items()})
        return make_plan(self.backend, desired, self.keyring, now=self.now)

    def adopt(self, document: dict[str, Any]) -> None:
        """Create the declared workspaces the backend lacks as ``plan`` would first (for a "nothing changed" check
        that reads the state before the first plan)."""
        desired = load_desired(self.write(document), now=self.now)
        self.under_test.adopt_workspaces({slug: ws.workspace.name for slug, ws in desired.workspaces.items()})

    def apply(self, document: dict[str, Any] | Path, **options: Any) -> tuple[Plan, ApplyResult]:
        """Plan, apply, and assert that a fresh plan of the same configuration is empty."""
        planned = self.plan(document)
        result = self.apply_plan(planned.plan, **options)
        self.assert_in_sync(document)
        return planned.plan, result

    def apply_plan(self, plan: Plan, **options: Any) -> ApplyResult:
        options.setdefault("actor", "contract")
        options.setdefault("command", "apply")
        result = apply_plan(self.backend, plan, self.keyring, **options)
        self.under_test.check_invariants()
        return result

    def assert_in_sync(self, document: dict[str, Any] | Path) -> None:
        plan = self.plan(document).plan
        assert plan.empty, render_text(plan)

    def activate(self, *names: str) -> None:
        for name in names:
            self.under_test.activate(SLUG, email(name))

    def sso_join(self, name: str, *, source: str = "saml") -> None:
        self.under_test.sso_join(SLUG, email(name), name.title(), source=source)

    def sync_groups(self, name: str, *groups: str) -> None:
        self.under_test.sync_groups(SLUG, email(name), groups)

    def write_files(self, files: dict[str, dict[str, Any]]) -> Path:
        """A configuration directory: relative path -> document. Returns the directory (for ``-f DIR``)."""
        self._files += 1
        root = self.directory / f"tree-{self._files}"
        for relative, document in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return root

    def snapshot(self) -> Snapshot:
        return self.backend.read_snapshot([SLUG], self.keyring)

    def member(self, name: str) -> Membership:
        return self.snapshot().workspaces[SLUG].memberships[email(name)]
