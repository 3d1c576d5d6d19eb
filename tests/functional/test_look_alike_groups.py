"""A custom group whose name looks like a role (issue 14) cannot be declared, but one that already exists in the
database can be renamed away with ``previously:``."""

from __future__ import annotations

from pathlib import Path

from helpers import Harness

from reconciler.render.text import NO_CHANGES

CONFIG = """
version: 1
workspaces:
  - slug: acme
    name: Acme
    groups:
      - {group}
    users:
      - {{email: alice@acme.example, first_name: Alice, role: admin}}
      - {{email: bob@acme.example, first_name: Bob, role: end-user, groups: [{member_of}]}}
"""


def test_a_look_alike_group_in_the_database_is_renamed_with_previously(database_url: str, tmp_path: Path) -> None:
    harness = Harness(database_url, tmp_path)
    try:
        harness.apply(CONFIG.format(group="{name: team}", member_of="team"))
        # made by hand, or before issue 14: the YAML can no longer declare it
        harness.execute("UPDATE groups SET name = 'End_User' WHERE name = 'team'")
        harness.write(CONFIG.format(group="{name: End_User}", member_of="End_User"))
        refused = harness.cli("validate", "-f", str(harness.config_path))
        assert refused.exit_code == 1
        assert "'End_User' looks like the role name 'end-user'" in refused.stderr

        harness.write(CONFIG.format(group="{name: eu-team, previously: [End_User]}", member_of="eu-team"))
        result = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve")
        assert result.exit_code == 0, result.output
        assert harness.groups_of("bob@acme.example") == ["eu-team"]
        assert harness.scalar("SELECT count(*) FROM groups WHERE name = 'End_User'") == 0
        assert harness.cli("plan", "-f", str(harness.config_path)).stdout.strip() == NO_CHANGES
        harness.assert_in_sync()
    finally:
        harness.close()
