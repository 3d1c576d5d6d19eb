"""Saved plan files: lossless round trip, encrypted metadata, signatures, and clear errors for bad files."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from reconciler import ops
from reconciler.crypto import Keyring
from reconciler.errors import CryptoError, ReconcilerError, SecretError
from reconciler.ops import FieldChange, MetadataKeyChange, Plan, RoleChange
from reconciler.render.jsonplan import (
    BAD_SIGNATURE,
    UNSIGNED,
    PlanFileError,
    dump_saved_plan,
    load_saved_plan,
    plan_to_json_dict,
    read_saved_plan,
)
from reconciler.state import DEFAULT_BUILDER_PERMISSIONS, AppGrant, DataSourceGrant, GroupPermissions, Metadata

KEYRING = Keyring(bytes(range(32)))
OTHER_KEYRING = Keyring(bytes.fromhex("5a" * 32))
SECRETS = {"api_key": "sk-live-Wombat-0042", "department": 'Zürich · Ops "quoted"', "badge": "B-77-Echidna"}


def every_op_plan(*, with_metadata: bool = True) -> Plan:
    rc = RoleChange("acme", "bob@acme.com", "end-user", "builder", 'implied by group "ops" (edit on all apps)')
    group = GroupPermissions(
        frozenset({"apps.create", "data_sources.delete"}),
        (AppGrant("view", ("crm", "billing"), hide_from_dashboard=True), AppGrant("edit", None)),
        (DataSourceGrant("use", None), DataSourceGrant("configure", ("pg",))),
    )
    create_metadata = {"department": SECRETS["department"], "badge": SECRETS["badge"]}
    update_metadata = {"api_key": SECRETS["api_key"]}
    return Plan(
        ops=(
            ops.CreateWorkspace(workspace="acme", name="Acme Corp", status="archived"),
            ops.UpdateWorkspace(workspace="beta", changes=(FieldChange("name", "Beta", "Beta Ltd"),)),
            ops.CreateApp(workspace="acme", slug="crm", name="CRM"),
            ops.UpdateApp(workspace="acme", slug="billing", changes=(FieldChange("name", "Bills", "Billing"),)),
            ops.CreateDataSource(workspace="acme", name="pg"),
            ops.UpdateBuilderRole(
                workspace="acme",
                before=DEFAULT_BUILDER_PERMISSIONS,
                after=group,
                changes=(
                    FieldChange("permissions.folders.create", True, False),
                    FieldChange("granular.apps", ("edit all",), ("view [crm, billing] hidden", "edit all")),
                    FieldChange("granular.data_sources", (), ("use all",)),
                ),
            ),
            ops.CreateGroup(workspace="acme", name="ops", permissions=group),
            ops.RenameGroup(workspace="acme", old_name="accounting", new_name="finance"),
            ops.UpdateGroup(workspace="acme", name="finance", before=GroupPermissions(), after=group, changes=()),
            ops.DestroyGroup(workspace="acme", name="legacy", member_count=3),
            ops.CreateUser(workspace="acme", email="dana@acme.com", first_name="Dana", last_name=""),
            ops.UpdateUser(workspace="acme", email="bob@acme.com", changes=(FieldChange("last_name", "", "Smith"),)),
            ops.CreateMembership(
                workspace="acme",
                email="dana@acme.com",
                role="builder",
                status="invited",
                groups=("ops",),
                metadata_keys=tuple(sorted(create_metadata)) if with_metadata else (),
                metadata=Metadata.of(create_metadata) if with_metadata else Metadata.UNMANAGED,
            ),
            ops.UpdateMembership(
                workspace="acme",
                email="bob@acme.com",
                role=rc,
                groups_added=("ops",),
                groups_removed=("legacy",),
                metadata_changes=(MetadataKeyChange("api_key", "add"), MetadataKeyChange("old", "remove"))
                if with_metadata
                else (),
                metadata=Metadata.of(update_metadata) if with_metadata else Metadata.UNMANAGED,
            ),
            ops.UpdateMembership(workspace="acme", email="erin@acme.com", groups_removed=("ops",)),
            ops.TransferApps(workspace="acme", email="bob@acme.com", to="alice@acme.com", apps=("CRM",)),
            ops.ArchiveMembership(workspace="acme", email="carol@acme.com", reason="status: archived in configuration"),
            ops.UnarchiveMembership(workspace="acme", email="gina@acme.com"),
            ops.ArchiveWorkspace(workspace="beta"),
            ops.UnarchiveWorkspace(workspace="gamma"),
        ),
        role_changes=(rc,),
        grants=(
            ops.Grant(
                "acme", "dana@acme.com", "builder", "new", 'builder via group "ops" (apps.create); declared end-user'
            ),
            ops.Grant("acme", "gina@acme.com", "admin", "unarchived", "declared"),
        ),
        warnings=(ops.RailWarning("mass-change", "the plan would archive 4 of the 12 members", "pass it"),),
        notes=('acme: erin@acme.com is declared end-user but stays builder because of group "ops" (apps.create)',),
        unmanaged=("acme/group/sales",),
        ceded=(ops.Ceded("acme/user/svc@acme.com", "ignored", 'ignored: matches settings.ignore "svc@*"'),),
        rails=(ops.WorkspaceRails("acme", 0.5, 4, ("svc@*",), confirm_removals=True), ops.WorkspaceRails("beta", 1)),
        workspaces=("acme", "beta"),
        protected=("acme/user/bob@acme.com",),
        config_hash="sha256:1234",
        state_fingerprint="sha256:abcd",
        created_at="2024-05-01T12:00:00+00:00",
    )


def _metadata_of(plan: Plan) -> list[Metadata | None]:
    return [getattr(op, "metadata", None) for op in plan.ops]


def _resigned(document: dict[str, Any], keyring: Keyring | None) -> str:
    """A document edited by someone who holds the key (or by anyone, for unsigned plans)."""
    document = {k: v for k, v in document.items() if k != "signature"}
    if keyring is not None:
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        document["signature"] = keyring.sign(canonical)
    return json.dumps(document)


# --- round trip -------------------------------------------------------------------------------------


def test_round_trip_restores_every_op_and_the_metadata() -> None:
    plan = every_op_plan()
    assert {type(op) for op in plan.ops} == set(ops.OP_TYPES.values())
    loaded = load_saved_plan(dump_saved_plan(plan, KEYRING), KEYRING)
    assert loaded == plan
    assert (loaded.workspaces, loaded.protected) == (plan.workspaces, plan.protected)
    assert [type(op) for op in loaded.ops] == [type(op) for op in plan.ops]
    assert _metadata_of(loaded) == _metadata_of(plan)
    assert loaded.summary == plan.summary


def test_unsigned_round_trip_without_metadata() -> None:
    plan = every_op_plan(with_metadata=False)
    text = dump_saved_plan(plan, None)
    assert "signature" not in json.loads(text)
    assert load_saved_plan(text, None, allow_unsigned=True) == plan


@pytest.mark.parametrize("keyring", [None, KEYRING], ids=["no-key", "key"])
def test_an_unsigned_plan_is_refused_unless_allowed(keyring: Keyring | None) -> None:
    text = dump_saved_plan(every_op_plan(with_metadata=False), None)
    with pytest.raises(CryptoError) as caught:
        load_saved_plan(text, keyring)
    assert caught.value.message == "the plan file is not signed, so nothing shows that it is the plan that was reviewed"
    assert "--allow-unsigned" in (caught.value.hint or "")


def test_a_signed_plan_that_cannot_be_verified_here_is_refused_unless_allowed() -> None:
    text = dump_saved_plan(every_op_plan(with_metadata=False), KEYRING)
    with pytest.raises(CryptoError, match="no master key is configured here to verify"):
        load_saved_plan(text, None)
    assert load_saved_plan(text, None, allow_unsigned=True) == every_op_plan(with_metadata=False)


def test_allow_unsigned_never_accepts_a_signature_that_does_not_verify() -> None:
    document = json.loads(dump_saved_plan(every_op_plan(with_metadata=False), KEYRING))
    _edit_role(document)
    with pytest.raises(CryptoError, match="signature does not verify"):
        load_saved_plan(json.dumps(document), KEYRING, allow_unsigned=True)


def test_saved_plan_is_the_json_plan_plus_ops_and_signature() -> None:
    plan = every_op_plan()
    document = json.loads(dump_saved_plan(plan, KEYRING))
    governance = ["expiring", "expiring_window", "policies", "policy_digest", "policy_results", "hygiene"]  # issue 18
    assert list(document) == [
        *plan_to_json_dict(plan),
        "workspaces",
        "protected",
        "plan_id",
        "rails",
        *governance,
        "seat_limits",  # issue 16
        "seat_warnings",
        "ops",
        "signature",
    ]
    assert document["rails"][1] == {  # a share written as an integer (1) reads back as a number
        "workspace": "beta",
        "mass_change_share": 1,
        "mass_change_min": 10,
        "ignore": [],
        "confirm_removals": False,
    }
    assert document["workspaces"] == ["acme", "beta"]
    assert document["protected"] == ["acme/user/bob@acme.com"]
    hidden = (
        "workspaces",
        "protected",
        "plan_id",
        "rails",
        "ops",
        "signature",
        *governance,
        "seat_limits",
        "seat_warnings",
    )
    shown = {k: v for k, v in document.items() if k not in hidden}
    assert shown == plan_to_json_dict(plan)
    assert document["ops"][6]["permissions"]["flags"] == ["apps.create", "data_sources.delete"]


def test_saved_plan_never_holds_a_metadata_value() -> None:
    text = dump_saved_plan(every_op_plan(), KEYRING)
    for secret in SECRETS.values():
        assert secret not in text
        assert json.dumps(secret)[1:-1] not in text
    metadata = json.loads(text)["ops"][12]["metadata"]
    assert list(metadata) == ["ciphertext"]


def test_metadata_without_a_key_is_refused_without_naming_the_value() -> None:
    with pytest.raises(SecretError) as caught:
        dump_saved_plan(every_op_plan(), None)
    assert "acme/user/dana@acme.com" in str(caught.value)
    for secret in SECRETS.values():
        assert secret not in f"{caught.value} {caught.value.hint}"


def test_encrypted_metadata_needs_a_key_to_load() -> None:
    text = dump_saved_plan(every_op_plan(), KEYRING)
    with pytest.raises(SecretError):
        load_saved_plan(text, None, allow_unsigned=True)


def test_loading_without_metadata_marks_it_unread_not_absent() -> None:
    """``show`` loads a plan without decrypting its metadata: the ops that write some say it is unread (its values
    cannot be taken for "none" and written), the others still write none."""
    plan = load_saved_plan(dump_saved_plan(every_op_plan(), KEYRING), None, allow_unsigned=True, metadata=False)
    assert [m for m in _metadata_of(plan) if m is not None] == [
        Metadata.UNREAD,
        Metadata.UNREAD,
        Metadata.UNMANAGED,
    ]
    with pytest.raises(ValueError, match="unread"):
        dump_saved_plan(plan, KEYRING)


def test_a_previous_key_still_verifies_and_decrypts() -> None:
    text = dump_saved_plan(every_op_plan(), KEYRING)
    rotated = Keyring(OTHER_KEYRING.current, previous=(KEYRING.current,))
    assert _metadata_of(load_saved_plan(text, rotated)) == _metadata_of(every_op_plan())


# --- signatures -------------------------------------------------------------------------------------


def _edit_role(document: dict[str, Any]) -> None:
    document["ops"][13]["role"]["new"] = "admin"


def _edit_summary(document: dict[str, Any]) -> None:
    document["summary"]["destroy"] = 0


def _drop_signature(document: dict[str, Any]) -> None:
    del document["signature"]


def _garble_signature(document: dict[str, Any]) -> None:
    document["signature"] = "not hex at all"


@pytest.mark.parametrize("tamper", [_edit_role, _edit_summary, _drop_signature, _garble_signature])
def test_tampered_plan_is_refused(tamper: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(dump_saved_plan(every_op_plan(), KEYRING))
    tamper(document)
    with pytest.raises(CryptoError) as caught:
        load_saved_plan(json.dumps(document), KEYRING)
    assert caught.value.message == (UNSIGNED if tamper is _drop_signature else BAD_SIGNATURE)
    assert BAD_SIGNATURE == "the plan file's signature does not verify: it was edited or made with another key"


def test_plan_signed_with_another_key_is_refused() -> None:
    text = dump_saved_plan(every_op_plan(), OTHER_KEYRING)
    with pytest.raises(CryptoError, match="signature does not verify"):
        load_saved_plan(text, KEYRING)


def test_unsigned_plan_is_refused_when_a_key_is_configured() -> None:
    text = dump_saved_plan(every_op_plan(with_metadata=False), None)
    with pytest.raises(CryptoError, match="not signed"):
        load_saved_plan(text, KEYRING)


def test_metadata_ciphertext_is_bound_to_its_membership() -> None:
    document = json.loads(dump_saved_plan(every_op_plan(), KEYRING))
    create, update = document["ops"][12], document["ops"][13]
    create["metadata"], update["metadata"] = update["metadata"], create["metadata"]
    with pytest.raises(CryptoError, match="could not be decrypted"):
        load_saved_plan(_resigned(document, KEYRING), KEYRING)


# --- malformed files --------------------------------------------------------------------------------


def _valid() -> dict[str, Any]:
    return json.loads(dump_saved_plan(every_op_plan(with_metadata=False), None))


def _with(edit: Callable[[dict[str, Any]], Any]) -> str:
    document = copy.deepcopy(_valid())
    edit(document)
    return json.dumps(document)


MALFORMED = {
    "not json": ("{format_version: 1", "not a reconciler plan file: it is not valid JSON"),
    "a list": ("[1, 2]", "not a reconciler plan file: it has no format_version"),
    "other json": ('{"name": "x"}', "not a reconciler plan file: it has no format_version"),
    "version true": (_with(lambda d: d.update(format_version=True)), "unsupported plan format_version true"),
    "deeply nested": (
        _with(lambda d: d["ops"][1]["changes"][0].update(old="DEEP")).replace('"DEEP"', "[" * 5000 + "]" * 5000),
        "not a reconciler plan file: it is nested too deeply",
    ),
    "future version": (_with(lambda d: d.update(format_version=2)), "unsupported plan format_version 2"),
    "json output": (
        json.dumps(plan_to_json_dict(every_op_plan())),
        "not a reconciler plan file: it has no ops",
    ),
    "ops not a list": (_with(lambda d: d.update(ops={})), "ops: expected a list, found an object"),
    "op not an object": (
        _with(lambda d: d["ops"].append("x")),
        "ops[20]: expected an object, found a string",
    ),
    "unknown kind": (
        _with(lambda d: d["ops"][0].update(kind="DropDatabase")),
        'unknown op kind "DropDatabase"',
    ),
    "no kind": (_with(lambda d: d["ops"][0].pop("kind")), "unknown op kind null"),
    "missing field": (_with(lambda d: d["ops"][2].pop("slug")), "ops[2]: missing field 'slug' for CreateApp"),
    "unknown field": (
        _with(lambda d: d["ops"][2].update(colour="red")),
        "ops[2]: unknown field 'colour' for CreateApp",
    ),
    "bad literal": (
        _with(lambda d: d["ops"][12].update(role="superuser")),
        "ops[12].role: expected one of admin, builder, end-user",
    ),
    "string for int": (
        _with(lambda d: d["ops"][9].update(member_count="3")),
        "ops[9].member_count: expected an integer, found a string",
    ),
    "bool for int": (
        _with(lambda d: d["ops"][9].update(member_count=True)),
        "ops[9].member_count: expected an integer, found a boolean",
    ),
    "string for list": (
        _with(lambda d: d["ops"][12].update(groups="ops")),
        "ops[12].groups: expected a list, found a string",
    ),
    "nested": (
        _with(lambda d: d["ops"][6]["permissions"]["app_grants"][0].update(access="own")),
        "ops[6].permissions.app_grants[0].access: expected one of edit, view",
    ),
    "object in any": (
        _with(lambda d: d["ops"][1]["changes"][0].update(old={"a": 1})),
        "ops[1].changes[0].old: expected a value or a list, found an object",
    ),
    "bad metadata envelope": (
        _with(lambda d: d["ops"][12].update(metadata={"department": "x"})),
        'ops[12].metadata: expected an object {"ciphertext": "..."}',
    ),
    "role change": (
        _with(lambda d: d["role_changes"][0].pop("to")),
        "role_changes[0]: missing field 'to' in a role change",
    ),
    "unmanaged": (
        _with(lambda d: d.update(unmanaged=[1])),
        "unmanaged[0]: expected a string, found an integer",
    ),
    "no protected": (_with(lambda d: d.pop("protected")), "plan: missing field 'protected'"),
    "grant kind": (
        _with(lambda d: d["grants"][0].update(kind="gift")),
        "grants[0].kind: expected one of new, unarchived",
    ),
    "workspaces": (_with(lambda d: d.update(workspaces="acme")), "workspaces: expected a list, found a string"),
    "created_at": (_with(lambda d: d.update(created_at=None)), "created_at: expected a string, found null"),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_files_give_clear_errors(case: str) -> None:
    text, message = MALFORMED[case]
    with pytest.raises(PlanFileError) as caught:
        load_saved_plan(text, None, allow_unsigned=True)
    assert isinstance(caught.value, ReconcilerError)
    assert message in caught.value.message


def test_malformed_but_signed_file_is_still_an_error() -> None:
    document = json.loads(dump_saved_plan(every_op_plan(), KEYRING))
    document["ops"][0]["status"] = "deleted"
    with pytest.raises(PlanFileError, match=r"ops\[0\]\.status: expected one of active, archived"):
        load_saved_plan(_resigned(document, KEYRING), KEYRING)


def test_a_plan_saved_before_metadata_sources_and_grants_existed_still_loads() -> None:
    document = json.loads(dump_saved_plan(every_op_plan(), KEYRING))
    for op in document["ops"]:
        op.pop("metadata_sources", None)
    for name in ("grants", "warnings", "notes"):
        document.pop(name)
    loaded = load_saved_plan(_resigned(document, KEYRING), KEYRING)
    assert [type(op) for op in loaded.ops] == [type(op) for op in every_op_plan().ops]


def test_read_saved_plan_says_why_a_signature_was_not_verified() -> None:
    # A group named "signature" puts the text "signature" in the file: only the document's key counts.
    named = Plan(ops=(ops.CreateGroup(workspace="acme", name="signature", permissions=GroupPermissions()),))
    unsigned = dump_saved_plan(named, None)
    assert '"signature"' in unsigned
    assert read_saved_plan(unsigned, KEYRING, allow_unsigned=True)[1] == "it is not signed"
    signed = dump_saved_plan(named, KEYRING)
    assert read_saved_plan(signed, None, allow_unsigned=True)[1] == "no master key is configured to verify it"
    assert read_saved_plan(signed, KEYRING)[1] is None


def test_builder_level_extras_survive_a_saved_plan_and_older_plans_without_them_load() -> None:
    """Issue 16: what makes a stored group builder-level beyond the configuration travels in UpdateGroup.before."""
    before = GroupPermissions(builder_level_extras=("ToolJet flag workflow_folder_create",))
    after = GroupPermissions(frozenset({"workflows.create"}), builder_level_extras=before.builder_level_extras)
    change = FieldChange("permissions.workflows.create", False, True)
    plan = Plan(ops=(ops.UpdateGroup(workspace="acme", name="ops", before=before, after=after, changes=(change,)),))
    assert load_saved_plan(dump_saved_plan(plan, KEYRING), KEYRING) == plan

    document = json.loads(dump_saved_plan(plan, KEYRING))
    for side in ("before", "after"):
        document["ops"][0][side].pop("builder_level_extras")
        document["ops"][0][side].pop("unmanaged_flags")
    loaded = load_saved_plan(_resigned(document, KEYRING), KEYRING)
    assert loaded.ops[0].after.flags == frozenset({"workflows.create"})
    assert loaded.ops[0].before.builder_level_extras == ()
