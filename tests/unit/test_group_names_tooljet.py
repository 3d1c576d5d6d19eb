"""Issue 16 L2: ToolJet trims group names (group-permissions/dto/index.ts), so a declared name with spaces is
refused, while a former name in ``previously`` may keep them (an old group so named can be renamed away)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reconciler.config import models


@pytest.mark.parametrize("name", ["finance ", " finance", "\u00a0finance"])
def test_a_group_name_with_spaces_around_it_is_refused_with_the_trimmed_name(name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        models.Group.model_validate({"name": name})
    assert "ToolJet trims group names, so it would be the group 'finance'" in str(caught.value)


def test_a_former_name_may_keep_its_spaces() -> None:
    group = models.Group.model_validate({"name": "finance", "previously": ["finance "]})
    assert group.previously == ["finance "]
