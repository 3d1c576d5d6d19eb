"""Hostile output (issue 14): user data reaches a reviewer's terminal as plain, visible text in every command.

Names are user data: they must never be read as rich markup (``[bold]``, ``[conceal]``) or reach the terminal as
control characters.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import Harness, config_yaml, workspace_yaml

MARKUP_NAMES = ["[bold]Mallory", "[/bold]", "[conceal]hidden[/conceal]", "[link=https://evil.example]x[/link]"]


@pytest.mark.parametrize("name", MARKUP_NAMES)
def test_users_shows_rich_markup_in_names_as_written(database_url: str, tmp_path: Path, name: str) -> None:
    """Before: `[/bold]` crashed `users` (internal error) and `[conceal]` hid the text."""
    harness = Harness(database_url, tmp_path)
    try:
        users = (
            "- {email: alice@acme.com, first_name: Alice, role: admin}\n"
            f"- {{email: bob@acme.com, first_name: {name!r}, last_name: '[red]x', role: end-user}}\n"
        )
        harness.apply(config_yaml(workspace_yaml(users=users)))
        result = harness.cli("users", "--workspace", "acme", "--no-color")
        assert result.exit_code == 0, result.output
        bob = next(line for line in result.stdout.splitlines() if "bob@acme.com" in line)
        assert f"{name} [red]x" in bob
        assert "\x1b" not in result.stdout
    finally:
        harness.close()
