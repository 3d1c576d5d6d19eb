"""Issue 16: group names ToolJet refuses are refused on every backend, with ToolJet's words, at the group's name.

ToolJet: server/src/modules/group-permissions/util.service.ts ``validateCreateGroupOperation`` compares the
trimmed name (dto/index.ts trims it) exactly with ``USER_ROLE`` (RESERVED_KEYWORDS_FOR_GROUP_NAME) and
``HUMANIZED_USER_LIST`` = End-user, Builder, Admin (DEFAULT_GROUP_NAME) from constants/index.ts and error.ts.
"""

from __future__ import annotations

import pytest
from contract_support import SLUG, Scenario, config, group, person

from reconciler.errors import ConfigError


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("admin", "Group name cannot be same as reserved keywords"),
        ("builder", "Group name cannot be same as reserved keywords"),
        ("end-user", "Group name cannot be same as reserved keywords"),
        ("End-user", "Group name already exists"),
        ("Builder", "Group name already exists"),
        ("Admin", "Group name already exists"),
        ("finance ", "ToolJet trims group names"),
    ],
)
def test_group_names_toolJet_refuses_are_refused_at_the_name(scenario: Scenario, name: str, words: str) -> None:
    start = config([person("alice", "admin")], [group("finance", {})])
    scenario.apply(start)
    before = scenario.snapshot()

    with pytest.raises(ConfigError) as caught:
        scenario.plan(config([person("alice", "admin")], [group("finance", {}), group(name, {})]))

    message = str(caught.value)
    assert "workspaces[0].groups[1].name" in message and words in message, message
    assert scenario.snapshot() == before
    assert set(before.workspaces[SLUG].groups) == {"finance"}
