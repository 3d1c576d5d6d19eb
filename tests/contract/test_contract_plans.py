"""Plans as artefacts on every backend: saved plans and stale ones, metadata states, export round trips, history."""

from __future__ import annotations

import pytest
from contract_support import CREATE_APPS, SLUG, VIEW_ALL, Scenario, config, email, group, person

from reconciler.errors import StalePlan
from reconciler.export import dump_config, snapshot_to_config
from reconciler.render.jsonplan import dump_saved_plan, load_saved_plan
from reconciler.state import Metadata
from reconciler.workflow import STALE_MESSAGE


def save_and_load(scenario: Scenario, document: dict) -> tuple:
    planned = scenario.plan(document)
    text = dump_saved_plan(planned.plan, scenario.keyring)
    return planned.plan, load_saved_plan(text, scenario.keyring, allow_unsigned=scenario.keyring is None)


def test_a_saved_plan_applies_and_a_stale_one_is_refused(scenario: Scenario) -> None:
    start = config([person("alice", "admin"), person("bob", "end-user")])
    scenario.apply(start)
    promoted = config([person("alice", "admin"), person("bob", "builder")])

    made, loaded = save_and_load(scenario, promoted)

    assert (loaded.ops, loaded.role_changes, loaded.state_fingerprint) == (
        made.ops,
        made.role_changes,
        made.state_fingerprint,
    )
    scenario.apply_plan(loaded, command="apply PLANFILE")
    scenario.assert_in_sync(promoted)
    assert scenario.member("bob").role == "builder"
    run = scenario.backend.history(1)[0]
    assert (run.result, run.command, run.summary["change"], run.summary["role_changes"]) == (
        "applied",
        "apply PLANFILE",
        1,
        1,
    )

    with_carol = config([person("alice", "admin"), person("bob", "builder"), person("carol", "end-user")])
    _, stale = save_and_load(scenario, with_carol)
    scenario.apply(config([person("alice", "admin"), person("bob", "builder", first_name="Robert")]))
    before = scenario.snapshot()

    with pytest.raises(StalePlan) as caught:
        scenario.apply_plan(stale, command="apply PLANFILE")

    assert caught.value.message == STALE_MESSAGE
    assert scenario.snapshot() == before
    assert email("carol") not in before.workspaces[SLUG].memberships
    assert scenario.backend.history(1)[0].result == "refused"


def test_metadata_absent_is_left_alone_empty_removes_it_and_values_replace_it(scenario: Scenario) -> None:
    def with_metadata(**alice: object) -> dict:
        return config([person("alice", "admin", **alice), person("bob", "end-user")])

    scenario.apply(with_metadata(metadata={"team": "ops", "badge": "A-1"}))
    assert scenario.member("alice").metadata == Metadata.of({"team": "ops", "badge": "A-1"})
    assert scenario.member("bob").metadata == Metadata.EMPTY

    scenario.assert_in_sync(with_metadata())  # no `metadata:` key: whatever is stored stays
    assert scenario.member("alice").metadata == Metadata.of({"team": "ops", "badge": "A-1"})

    plan, _ = scenario.apply(with_metadata(metadata={"team": "dev"}))

    (update,) = plan.ops
    assert sorted((c.key, c.kind) for c in update.metadata_changes) == [("badge", "remove"), ("team", "change")]
    assert scenario.member("alice").metadata == Metadata.of({"team": "dev"})

    plan, _ = scenario.apply(with_metadata(metadata={}))

    (update,) = plan.ops
    assert [(c.key, c.kind) for c in update.metadata_changes] == [("team", "remove")]
    assert scenario.member("alice").metadata == Metadata.EMPTY


@pytest.mark.parametrize("with_metadata", [False, True], ids=["without-metadata", "with-metadata"])
def test_export_then_plan_is_empty(scenario: Scenario, with_metadata: bool) -> None:
    groups = [group("makers", CREATE_APPS), group("viewers", VIEW_ALL)]
    members = [
        person("alice", "admin", "viewers", metadata={"team": "ops"}),
        person("bob", "builder", "makers"),
        person("carol", "end-user", "makers", "viewers"),  # stored, and exported, as builder
        person("dave", "end-user", metadata={"note": "yes: 'quoted' # not a comment"}),
        person("erin", "end-user", "viewers", status="archived"),
    ]
    scenario.apply(config(members, groups))
    scenario.activate("alice")

    exported = snapshot_to_config(scenario.snapshot(), with_metadata=with_metadata)
    path = scenario.directory / "exported.yaml"
    path.write_text(dump_config(exported, with_metadata=with_metadata), encoding="utf-8")

    scenario.assert_in_sync(path)
    (workspace,) = exported["workspaces"]
    roles = {u["email"]: u["role"] for u in workspace["users"]}
    assert roles == {
        email("alice"): "admin",
        email("bob"): "builder",
        email("carol"): "builder",
        email("dave"): "end-user",
        email("erin"): "end-user",
    }
    if with_metadata:
        assert next(u for u in workspace["users"] if u["email"] == email("alice"))["metadata"] == {"team": "ops"}
