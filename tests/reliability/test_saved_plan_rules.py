"""Saved plans edited by hand: apply re-checks the rails and the role rules on the plan's own ops (issue 14).

A saved plan stripped of its signature and edited, applied with ``--allow-unsigned`` against the current state
fingerprint: whatever its role changes, grants or warnings say, apply computes the state after the plan from the
ops and the snapshot, under its lock. Unarchiving the only active admin (who would be invited again) is refused by
the last-admin rule; putting an end-user into a builder-level group without promoting them is refused by SPEC 1
rule 1, naming the member and the group. Nothing changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import Harness, dedent

from reconciler.backends.builtin.people import accept_invitation, reissue_invitation
from reconciler.render.text import NO_CHANGES
from reconciler.roles import LAST_ADMIN_MESSAGE

CONFIG = """
version: 1
workspaces:
  - slug: acme
    name: Acme Corp
    apps: [{slug: crm, name: CRM}]
    groups:
      - {name: ops, permissions: {apps: {create: true}}, granular: {apps: [{access: edit, apps: [crm]}]}}
      - {name: viewers, granular: {apps: [{access: view, apps: [crm]}]}}
    users:
      - {email: alice@acme.example, first_name: Alice, role: admin}
      - {email: bob@acme.example, first_name: Bob, role: admin}
      - {email: dan@acme.example, first_name: Dan, role: end-user, groups: [viewers]}
"""


def unarchive_alice(document: dict) -> None:
    """Turn the plan's one op into an unarchive of alice, the only active admin (bob is invited)."""
    document["ops"] = [{"kind": "UnarchiveMembership", "workspace": "acme", "email": "alice@acme.example"}]


def dan_joins_ops(document: dict) -> None:
    """Give dan (end-user) the builder-level group ``ops`` with no role change."""
    document["ops"] = [
        {
            "kind": "UpdateMembership",
            "workspace": "acme",
            "email": "dan@acme.example",
            "role": None,
            "groups_added": ["ops"],
            "groups_removed": [],
            "metadata_changes": [],
            "metadata_sources": [],
        }
    ]


def viewers_turn_builder_level(document: dict) -> None:
    """Make dan's group ``viewers`` builder-level (an edit grant) with no role change for dan."""
    for op in document["ops"]:
        if op["kind"] == "UpdateGroup":
            for grant in op["after"]["app_grants"]:
                grant["access"] = "edit"
    document["ops"] = [op for op in document["ops"] if op["kind"] == "UpdateGroup"]
    document["role_changes"], document["grants"], document["warnings"], document["notes"] = [], [], [], []


EDITS: dict[str, tuple[Callable[[dict], None], str]] = {
    "unarchive the only active admin": (unarchive_alice, LAST_ADMIN_MESSAGE),
    "an end-user joins a builder-level group": (
        dan_joins_ops,
        'the plan would leave end-user dan@acme.example in builder-level group "ops" (apps.create, edit on crm) '
        "in workspace 'acme' without promoting them",
    ),
    "an end-user's group turns builder-level": (
        viewers_turn_builder_level,
        'the plan would leave end-user dan@acme.example in builder-level group "viewers" (edit on all apps) '
        "in workspace 'acme' without promoting them",
    ),
}


@pytest.mark.parametrize("edit", list(EDITS))
@pytest.mark.reliability(
    area="Lock-out protection",
    fault="a saved plan stripped of its signature and edited by hand (current fingerprint): it unarchives the only "
    "active admin (invited again), puts an end-user into a builder-level group, or makes an end-user's group "
    "builder-level, with no role change",
    outcome="with --allow-unsigned, apply recomputes the state after the plan from its ops under the lock: refused "
    "with the last-admin message / `the plan would leave end-user ... in builder-level group ...`; every table "
    "unchanged",
)
def test_a_hand_edited_plan_cannot_break_the_role_rules(database_url: str, tmp_path: Path, edit: str) -> None:
    harness = Harness(database_url, tmp_path)
    try:
        harness.apply(dedent(CONFIG))
        link, _ = reissue_invitation(harness.engine, "alice@acme.example", "acme", base_url="https://tj.example")
        accept_invitation(harness.engine, urlsplit(link).path.rsplit("/", 1)[1])
        change = dedent(CONFIG).replace(
            "granular: {apps: [{access: view, apps: [crm]}]}}", "granular: {apps: [{access: view, apps: all}]}}"
        )
        harness.write(change)
        plan_file = tmp_path / "plan.json"
        made = harness.cli("plan", "-f", str(harness.config_path), "--out", str(plan_file))
        assert made.exit_code == 0, made.output
        document = json.loads(plan_file.read_text())
        document.pop("signature", None)  # unsigned (the unarchive sends an invitation: the key stays)
        tamper, message = EDITS[edit]
        tamper(document)
        plan_file.write_text(json.dumps(document))
        before = harness.dump()

        result = harness.cli("apply", str(plan_file), "--allow-unsigned")

        assert result.exit_code == 1, result.output
        assert f"Error: {message}" in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert harness.dump() == before
        assert harness.membership("alice@acme.example")["status"] == "active"
        assert harness.membership("dan@acme.example")["role"] == "end-user"
        assert harness.groups_of("dan@acme.example") == ["viewers"]
        assert harness.cli("apply", "-f", str(harness.config_path), "--auto-approve").exit_code == 0
        assert harness.cli("plan", "-f", str(harness.config_path)).stdout.strip().startswith(NO_CHANGES)
    finally:
        harness.close()
