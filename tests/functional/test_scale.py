"""Scale (SPEC 8): a generated 10,000-user configuration plans and applies in seconds, with a number of SQL
statements that does not grow with the number of users (bulk reads, batched writes).

Wall time is not asserted (CI machines vary); the statement counts are.
"""

from __future__ import annotations

import pytest
from helpers import Harness, count_statements

from reconciler import ops
from reconciler.render.text import NO_CHANGES

GROUPS = """\
      - {name: viewers, granular: {apps: [{access: view, apps: [wiki]}]}}
      - {name: editors, granular: {apps: [{access: edit, apps: [crm]}]}}
      - {name: makers, permissions: {apps: {create: true}}}
      - {name: analysts, granular: {data_sources: [{access: use, data_sources: [dwh]}]}}
"""


def generated_workspace(slug: str, users: int, *, variant: int = 0) -> str:
    """One workspace of ``users`` members; ``variant`` 1 changes a group, roles, metadata and removes some."""
    groups = GROUPS.replace("access: view, apps: [wiki]", "access: edit, apps: [wiki]") if variant else GROUPS
    lines = [
        f"  - slug: {slug}",
        f"    name: {slug.title()} Co",
        "    apps: [{slug: crm, name: CRM}, {slug: wiki, name: Wiki}]",
        "    data_sources: [{name: dwh}]",
        "    groups:",
        groups.rstrip("\n"),
        "    users:",
    ]
    for i in range(users):
        if variant and i % 50 == 49:
            continue  # 2% leave: archived
        lines.append(_user(slug, i, variant))
    return "\n".join(lines) + "\n"


def _user(slug: str, i: int, variant: int) -> str:
    role = "admin" if i < 3 else "builder" if i % 7 == 0 else "end-user"
    if variant and i % 11 == 0 and role == "builder":
        role = "end-user"
    groups = (["viewers"] if i % 2 else []) + (["editors"] if i % 5 == 0 else [])
    entry = f"{{email: u{i:05d}@{slug}.example, first_name: User{i}, last_name: Last{i}, role: {role}"
    entry += f", groups: [{', '.join(groups)}]"
    if i % 10 == 0:
        entry += f", metadata: {{team: t{(i + variant) % 13}, region: eu}}"
    return f"      - {entry}}}"


def generated_config(*workspaces: str) -> str:
    return "version: 1\nworkspaces:\n" + "".join(workspaces)


def _create_and_change(harness: Harness, slug: str, users: int) -> dict[str, int]:
    """Plan and apply a workspace of ``users`` members, then a change to many of them; checks the outcome of
    both and returns the number of SQL statements each plan and apply sent."""
    counts: dict[str, int] = {}
    for step, variant in (("create", 0), ("change", 1)):
        config = generated_config(generated_workspace(slug, users, variant=variant))
        with count_statements(harness.engine) as reads:
            planned = harness.plan(config)  # loading the file sends no SQL: these are the snapshot's reads
        _check_plan(planned.plan, users, variant)
        with count_statements(harness.engine) as writes:
            result = harness.apply_plan(planned.plan, allow_mass_change=True)  # the change re-roles a third
        counts[f"{step} plan"], counts[f"{step} apply"] = len(reads), len(writes)
        assert len(result.invitations) == (0 if variant else users)
    members = "FROM memberships m JOIN workspaces w ON w.id = m.workspace_id WHERE w.slug = :slug"
    statuses = dict(harness.rows(f"SELECT m.status, count(*) {members} GROUP BY m.status", slug=slug))
    assert statuses == {"invited": users - users // 50, "archived": users // 50}
    blobs = harness.scalar(
        f"SELECT count(*) FROM membership_metadata WHERE membership_id IN (SELECT m.id {members})", slug=slug
    )
    assert blobs == users // 10
    assert harness.text(harness.plan(planned.desired)) == NO_CHANGES  # the same config, not loaded again
    return counts


def _check_plan(plan: ops.Plan, users: int, variant: int) -> None:
    if not variant:
        created = [op for op in plan.ops if isinstance(op, ops.CreateMembership)]
        assert len(created) == users
        assert sum(1 for op in created if op.metadata_keys) == users // 10
        return
    summary = plan.summary
    assert summary["archive"] == users // 50
    assert summary["role_changes"] > users * 3 // 10  # the end-users of "viewers" become builders


@pytest.mark.slow
def test_ten_thousand_users_plan_and_apply_in_a_bounded_number_of_statements(harness: Harness) -> None:
    small = _create_and_change(harness, "thousand", 1_000)
    large = _create_and_change(harness, "ten-thousand", 10_000)

    # Reads are a handful of bulk queries, writes one statement per kind of change (executemany counts once).
    assert large == small, f"1,000 users: {small}; 10,000 users: {large}"
    assert small["create plan"] <= 15 and small["change plan"] <= 15
    assert small["create apply"] <= 40 and small["change apply"] <= 40
