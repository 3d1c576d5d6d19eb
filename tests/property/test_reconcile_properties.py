"""Property-based tests (hypothesis): random valid configurations, applied in random sequences, on SQLite.

A configuration has one or two workspaces drawn from a small universe (three apps, a data source, three group
names, six people), with random flags and grants on groups and on the builder role, random renames
(``previously:``), random roles, statuses, group memberships and metadata (absent, empty or a few keys), and
``prune: archive`` or ``none``. Between steps some invited members accept their invitation (through the real
``invite-url`` / ``accept-invite`` code), so that active admins exist and the last-admin rule has teeth.

After every step:
- the apply is refused exactly when it would leave a workspace that had an active admin with none (computed
  from the configuration, not from the plan), and a refused apply changes nothing;
- otherwise the apply leaves an empty plan;
- no workspace that had an active admin is left without one;
- the plan's role changes are exactly the changes of stored (effective) role between the snapshots before and
  after, for memberships that exist in both and are archived in neither;
- ``export`` (without and with metadata) then ``plan`` is empty.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from helpers import KEYRING, dump_tables
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.backends.builtin.backend import BuiltinBackend
from reconciler.backends.builtin.db import open_database
from reconciler.backends.builtin.people import accept_invitation, reissue_invitation
from reconciler.errors import PlanRefused
from reconciler.export import dump_config, snapshot_to_config
from reconciler.roles import active_admins, implying_groups
from reconciler.state import Snapshot
from reconciler.workflow import apply_plan, load_desired, make_plan

SLUGS = ("ws-one", "ws-two")
APPS = ("crm", "wiki", "bi")
GROUPS = ("ops", "Fin & Co's", "ünïcode group")
PEOPLE = tuple(f"p{i}@prop.example" for i in range(6))
FLAGS = ("apps.create", "folders.delete", "workspace_constants.update", "data_sources.create")
META_KEYS = ("team", "region")
META_VALUES = ("blue", "", " spaced ", "ünï", "'; DROP TABLE users; --", "x" * 300)

PROFILE = settings(
    max_examples=int(os.environ.get("RECONCILER_PROPERTY_EXAMPLES", "25")),
    deadline=None,
    database=None,
    derandomize=os.environ.get("CI") == "true",  # CI is reproducible; local runs explore
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- strategies --------------------------------------------------------------------------------------------


def _flags(draw: st.DrawFn) -> dict[str, dict[str, bool]]:
    chosen = draw(st.sets(st.sampled_from(FLAGS), max_size=2))
    out: dict[str, dict[str, bool]] = {}
    for flag in sorted(chosen):
        section, action = flag.split(".")
        out.setdefault(section, {})[action] = True
    return out


def _targets(draw: st.DrawFn, names: tuple[str, ...]) -> Any:
    if draw(st.booleans()):
        return "all"
    return sorted(draw(st.sets(st.sampled_from(names), min_size=1)))


def _granular(draw: st.DrawFn) -> dict[str, list]:
    apps = []
    for _ in range(draw(st.integers(0, 2))):
        access = draw(st.sampled_from(["view", "edit"]))
        grant: dict[str, Any] = {"access": access, "apps": _targets(draw, APPS)}
        if access == "view" and draw(st.booleans()):
            grant["hide_from_dashboard"] = True
        apps.append(grant)
    sources = []
    if draw(st.integers(0, 3)) == 0:
        sources.append({"access": draw(st.sampled_from(["use", "configure"])), "data_sources": ["dwh"]})
    return {"apps": apps, "data_sources": sources}


@st.composite
def workspaces(draw: st.DrawFn, slug: str) -> dict[str, Any]:
    group_names = sorted(draw(st.sets(st.sampled_from(GROUPS), max_size=3)))
    groups = []
    renamed: set[str] = set()
    for name in group_names:
        group: dict[str, Any] = {"name": name, "permissions": _flags(draw), "granular": _granular(draw)}
        others = [g for g in GROUPS if g not in group_names and g not in renamed]
        if others and draw(st.integers(0, 4)) == 0:
            group["previously"] = [draw(st.sampled_from(others))]
            renamed.update(group["previously"])
        groups.append(group)
    people = draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=len(PEOPLE), unique=True))
    admin = draw(st.sampled_from(people))
    users = []
    for email in people:
        user: dict[str, Any] = {"email": email, "first_name": "P" + email[1], "last_name": "Prop"}
        user["role"] = "admin" if email == admin else draw(st.sampled_from(["admin", "builder", "end-user"]))
        if email != admin and draw(st.integers(0, 4)) == 0:
            user["status"] = "archived"
        if group_names:
            user["groups"] = sorted(draw(st.sets(st.sampled_from(group_names))))
        kind = draw(st.sampled_from(["absent", "empty", "values"]))
        if kind == "empty":
            user["metadata"] = {}
        elif kind == "values":
            keys = draw(st.sets(st.sampled_from(META_KEYS), min_size=1))
            user["metadata"] = {k: draw(st.sampled_from(META_VALUES)) for k in sorted(keys)}
        users.append(user)
    workspace: dict[str, Any] = {
        "slug": slug,
        "name": slug.upper(),
        "settings": {"prune": draw(st.sampled_from(["archive", "none"]))},
        "apps": [{"slug": a, "name": draw(st.sampled_from([a.title(), a.upper()]))} for a in APPS],
        "data_sources": [{"name": "dwh"}],
        "groups": groups,
        "users": users,
    }
    if draw(st.integers(0, 3)) == 0:
        workspace["roles"] = {"builder": {"permissions": _flags(draw), "granular": _granular(draw)}}
    return workspace


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    slugs = draw(st.sampled_from([SLUGS[:1], SLUGS[1:], SLUGS]))
    return {"version": 1, "workspaces": [draw(workspaces(slug)) for slug in slugs]}


# --- the test ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def empty_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A SQLite file with the schema and nothing else, copied for every example."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    open_database(f"sqlite:///{path}").dispose()
    yield path


@pytest.mark.slow
@pytest.mark.reliability(
    area="Property-based",
    fault="random valid configurations (1-2 workspaces, flags, grants, renames, roles, statuses, groups, metadata, "
    "prune) applied in random sequences of 2-4 steps, with random members accepting their invitations between steps",
    outcome="apply refused exactly when it would leave a workspace without its last active admin (and then nothing "
    "changes), else plan empty after apply; never a workspace without an active admin; plan role changes = "
    "difference of effective roles; export (with and without metadata) then plan empty",
    database="SQLite",
)
@PROFILE
@given(steps=st.lists(configs(), min_size=2, max_size=4), data=st.data())
def test_random_sequences_of_configurations(empty_database: Path, steps: list[dict], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        database = directory / "reconciler.db"
        shutil.copyfile(empty_database, database)
        backend = BuiltinBackend(f"sqlite:///{database}", environ={"RECONCILER_BASE_URL": "https://tj.example"})
        try:
            for index, config in enumerate(steps):
                _step(backend, directory, index, config, data)
        finally:
            backend.close()


def _step(backend: BuiltinBackend, directory: Path, index: int, config: dict, data: st.DataObject) -> None:
    path = directory / f"step-{index}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    desired = load_desired(path)
    slugs = sorted(desired.workspaces)
    before = backend.read_snapshot(SLUGS, KEYRING)
    rows_before = dump_tables(backend.engine)
    planned = make_plan(backend, desired, KEYRING)
    doomed = _workspaces_losing_their_last_admin(before, config)
    try:
        apply_plan(backend, planned.plan, KEYRING, actor="hypothesis", command="apply")
    except PlanRefused as refusal:
        assert refusal.rule == "last-admin" and doomed, f"refused without reason: {refusal.message}"
        assert all(slug in refusal.message for slug in doomed[:1])
        assert dump_tables(backend.engine) == rows_before, "a refused apply changed the database"
        event("a step refused by the last-admin rule")
        _accept_some(backend, data)
        return
    assert not doomed, f"applied although it removes the last active admin of {doomed}"
    after = backend.read_snapshot(SLUGS, KEYRING)
    assert make_plan(backend, desired, KEYRING).plan.empty, "apply, then plan is not empty"
    for slug in SLUGS:
        if slug in before.workspaces and active_admins(before.workspaces[slug].memberships.values()):
            assert active_admins(after.workspaces[slug].memberships.values()), f"{slug} lost its last active admin"
    assert _listed_role_changes(planned.plan) == _role_differences(before, after, slugs)
    if planned.plan.role_changes:
        event("a step with role changes")
    if any(type(op).__name__ == "RenameGroup" for op in planned.plan.ops):
        event("a step that renames a group")
    _export_round_trip(backend, directory, index)
    _accept_some(backend, data)


def _workspaces_losing_their_last_admin(before: Snapshot, config: dict) -> list[str]:
    """From the configuration: workspaces with active admins where no active member is an admin after the plan
    (the state after the plan counts: an active member promoted to admin takes over)."""
    doomed = []
    for ws in config["workspaces"]:
        current = before.workspaces.get(ws["slug"])
        admins = active_admins(current.memberships.values()) if current else []
        if not admins:
            continue
        declared = {u["email"]: u for u in ws["users"]}
        keeps = ws["settings"]["prune"] == "none"
        active = [e for e, m in current.memberships.items() if m.status == "active"]
        staying = [
            e
            for e in active
            if (e in declared and declared[e]["role"] == "admin" and declared[e].get("status") != "archived")
            or (e not in declared and keeps and e in admins)
        ]
        if not staying:
            doomed.append(ws["slug"])
    return doomed


def _listed_role_changes(plan: Any) -> set[tuple[str, str, str, str]]:
    return {(c.workspace, c.email, c.old, c.new) for c in plan.role_changes}


def _role_differences(before: Snapshot, after: Snapshot, slugs: list[str]) -> set[tuple[str, str, str, str]]:
    found = set()
    for slug in slugs:
        old_ws, new_ws = before.workspaces.get(slug), after.workspaces[slug]
        if old_ws is None:
            continue
        for email, old in old_ws.memberships.items():
            new = new_ws.memberships[email]
            if old.role != new.role:  # archived memberships and those being (un)archived included (issue 13)
                found.add((slug, email, old.role, new.role))
    return found


def _export_round_trip(backend: BuiltinBackend, directory: Path, index: int) -> None:
    snapshot = backend.read_snapshot(backend.list_workspaces(), KEYRING)
    assert not _end_users_in_builder_level_groups(snapshot), "rule 1: an end-user sits in a builder-level group"
    for with_metadata in (False, True):
        exported = directory / f"export-{index}-{with_metadata}.yaml"
        text = dump_config(snapshot_to_config(snapshot, with_metadata=with_metadata), with_metadata=with_metadata)
        exported.write_text(text, encoding="utf-8")
        planned = make_plan(backend, load_desired(exported), KEYRING)
        assert planned.plan.empty, f"export (with_metadata={with_metadata}) then plan is not empty"


def _end_users_in_builder_level_groups(snapshot: Snapshot) -> list[tuple[str, str]]:
    return [
        (slug, email)
        for slug, ws in snapshot.workspaces.items()
        for email, member in ws.memberships.items()
        if member.role == "end-user" and member.status != "archived" and implying_groups(member.groups, ws.groups)
    ]


def _accept_some(backend: BuiltinBackend, data: st.DataObject) -> None:
    """Some invited members accept: a fresh link (invite-url), then accept-invite with its token."""
    snapshot = backend.read_snapshot(SLUGS, KEYRING)
    invited = sorted(
        (slug, email)
        for slug, ws in snapshot.workspaces.items()
        for email, m in ws.memberships.items()
        if m.status == "invited"
    )
    if not invited:
        return
    for slug, email in data.draw(st.lists(st.sampled_from(invited), unique=True), label="accepting"):
        link, _ = reissue_invitation(backend.engine, email, slug, base_url="https://tj.example")
        token = urlsplit(link).path.rsplit("/", 1)[1]
        assert accept_invitation(backend.engine, token) == (slug, email)


# --- regressions found by the properties above ---------------------------------------------------------------

REGRESSION_BEFORE = """
version: 1
workspaces:
  - slug: acme
    name: Acme
    apps: [{slug: crm, name: CRM}]
    settings: {prune: none}
    groups:
      - {name: g, granular: {apps: [{access: view, apps: [crm]}]}}
    users:
      - {email: a@x.example, first_name: A, role: admin}
      - {email: u@x.example, first_name: U, role: end-user, groups: [g]}
"""
REGRESSION_AFTER = """
version: 1
workspaces:
  - slug: acme
    name: Acme
    apps: [{slug: crm, name: CRM}]
    settings: {prune: none}
    groups:
      - {name: g, granular: {apps: [{access: edit, apps: [crm]}]}}
    users:
      - {email: a@x.example, first_name: A, role: admin}
"""


@pytest.mark.reliability(
    area="Property-based",
    fault="(found by the property test) prune: none; a group gains edit access while one of its end-user members "
    "is no longer in the file (unmanaged)",
    outcome="the plan lists the member's affected role change end-user -> builder (or refuses); the database never "
    "holds an end-user in a builder-level group; export then plan is empty",
    database="SQLite",
)
def test_a_group_turning_builder_level_promotes_its_unmanaged_end_users(sqlite_url: str, tmp_path: Path) -> None:
    from helpers import Harness

    harness = Harness(sqlite_url, tmp_path)
    try:
        harness.apply(REGRESSION_BEFORE)
        planned = harness.plan(REGRESSION_AFTER)
        harness.apply_plan(planned.plan)
        snapshot = harness.backend.read_snapshot(["acme"], KEYRING)
        assert not _end_users_in_builder_level_groups(snapshot)
        assert [(c.email, c.old, c.new) for c in planned.plan.role_changes] == [("u@x.example", "end-user", "builder")]
    finally:
        harness.close()
