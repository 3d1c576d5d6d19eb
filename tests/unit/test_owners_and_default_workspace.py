"""What the workflow refuses whatever the backend, once a snapshot says so (issue 16, H3 and H5), on the in-memory
backend: a member who owns apps (ToolJet's ``apps.user_id``) is not demoted to end-user unless the plan transfers
the apps to an active admin; the default workspace (ToolJet's ``organizations.is_default``) is not archived."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fakes import MemoryBackend

from reconciler import ops
from reconciler.desired import DesiredState, DesiredWorkspace, Settings
from reconciler.errors import PlanRefused
from reconciler.render.text import render_text
from reconciler.state import Membership, Metadata, Snapshot, User, Workspace
from reconciler.workflow import apply_plan, make_plan

ANN = Membership("ann@x.io", "admin", "active", metadata=Metadata.EMPTY)
BO = Membership("bo@x.io", "builder", "active", metadata=Metadata.EMPTY)
USERS = {"ann@x.io": User("ann@x.io", "Ann"), "bo@x.io": User("bo@x.io", "Bo")}


def stored(**changes: object) -> MemoryBackend:
    ws = Workspace("acme", "Acme", memberships={"ann@x.io": ANN, "bo@x.io": BO}, app_owners={"bo@x.io": ("CRM",)})
    return MemoryBackend(Snapshot({"acme": replace(ws, **changes)}, USERS))


def wanted(bo_role: str = "end-user", status: str = "active", transfer_to: str | None = None) -> DesiredState:
    members = {"ann@x.io": ANN, "bo@x.io": replace(BO, role=bo_role)}
    ws = Workspace("acme", "Acme", status=status, memberships=members)  # type: ignore[arg-type]
    return DesiredState({"acme": DesiredWorkspace(ws, Settings(transfer_apps_to=transfer_to))}, USERS, "h")


def test_demoting_an_owner_is_refused_with_tooljets_message() -> None:
    backend = stored()
    with pytest.raises(PlanRefused) as caught:
        make_plan(backend, wanted(), None)
    assert caught.value.lines() == [
        "workspace 'acme': The user- bo@x.io cannot be an end-user because they are the owner of the following "
        "application(s)- CRM"
    ]
    assert "settings.transfer_apps_to" in (caught.value.hint or "")
    assert backend.store.workspaces["acme"].memberships["bo@x.io"].role == "builder"


def test_with_transfer_apps_to_the_apps_pass_before_the_demotion() -> None:
    backend = stored()
    plan = make_plan(backend, wanted(transfer_to="ann@x.io"), None).plan
    transfer = ops.TransferApps(workspace="acme", email="bo@x.io", to="ann@x.io", apps=("CRM",))
    assert transfer in plan.ops
    assert 'apps owned by "bo@x.io": owner -> "ann@x.io" (1 app; settings.transfer_apps_to)' in render_text(plan)

    apply_plan(backend, plan, None, actor="unit", command="apply")

    ws = backend.store.workspaces["acme"]
    assert ws.app_owners == {"ann@x.io": ("CRM",)}
    assert ws.memberships["bo@x.io"].role == "end-user"
    assert make_plan(backend, wanted(transfer_to="ann@x.io"), None).plan.empty


def test_the_receiver_must_be_an_active_admin_once_applied() -> None:
    with pytest.raises(PlanRefused) as caught:
        make_plan(stored(), wanted(transfer_to="bo@x.io"), None)  # the demoted member himself
    assert caught.value.rule == "app-owner"
    invited = stored(memberships={"ann@x.io": replace(ANN, status="invited"), "bo@x.io": BO})
    with pytest.raises(PlanRefused) as caught:
        make_plan(invited, wanted(transfer_to="ann@x.io"), None)
    assert "ann@x.io must be an active admin of the workspace once the plan is applied" in caught.value.message


def test_a_member_without_apps_is_demoted_freely() -> None:
    backend = stored(app_owners={})
    plan = make_plan(backend, wanted(), None).plan
    assert [type(op) for op in plan.ops] == [ops.UpdateMembership]


def test_the_default_workspace_cannot_be_archived_and_another_can() -> None:
    with pytest.raises(PlanRefused) as caught:
        make_plan(stored(is_default=True, app_owners={}), wanted("builder", "archived"), None)
    assert caught.value.lines() == ["workspace 'acme': Default workspace cannot be archived"]

    backend = stored(app_owners={})
    plan = make_plan(backend, wanted("builder", "archived"), None).plan
    assert plan.ops == (ops.ArchiveWorkspace(workspace="acme"),)


def test_a_saved_plan_that_archives_the_default_workspace_is_refused_under_the_lock() -> None:
    backend = stored(app_owners={})
    plan = make_plan(backend, wanted("builder", "archived"), None).plan
    backend.store.workspaces["acme"] = replace(backend.store.workspaces["acme"], is_default=True)
    plan = replace(plan, state_fingerprint=backend.read_snapshot(["acme"]).fingerprint)
    with pytest.raises(PlanRefused, match="Default workspace cannot be archived"):
        apply_plan(backend, plan, None, actor="unit", command="apply")
    assert backend.store.workspaces["acme"].status == "active"
