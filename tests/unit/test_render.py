"""The text, Markdown and JSON renderings of a plan, against golden files in tests/data/golden/.

Set RECONCILER_UPDATE_GOLDEN=1 to rewrite the golden files after an intended change, then review the diff line
by line against SPEC section 4 before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler import ops
from reconciler.ops import FieldChange, MetadataKeyChange, Plan, RoleChange
from reconciler.render.jsonplan import plan_to_json_dict, render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import escape_control, render_text, summary_line
from reconciler.state import DEFAULT_BUILDER_PERMISSIONS, AppGrant, DataSourceGrant, GroupPermissions, Metadata

GOLDEN = Path(__file__).parent.parent / "data" / "golden"
UPDATE = os.environ.get("RECONCILER_UPDATE_GOLDEN") == "1"

PRUNE_REASON = "not in configuration, prune: archive; groups and metadata kept"
# Values that must never appear in any rendering.
SECRETS = {
    "department": "s3cret-dept-Quokka",
    "api_key": "sk-live-9f8e7d6c5b4a",
    "cost_center": "cc-PLATYPUS-4711",
}


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual if actual.endswith("\n") else actual + "\n", encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    # Golden files end with a newline (editors add one); renderings of text and Markdown do not.
    assert actual == expected if actual.endswith("\n") else actual == expected.removesuffix("\n")


# --- plans ------------------------------------------------------------------------------------------


def spec_example_plan() -> Plan:
    """The illustration of SPEC section 4, op for op."""
    bob = RoleChange("acme", "bob@acme.com", "end-user", "builder", 'implied by group "support" (apps.create)')
    erin = RoleChange("acme", "erin@acme.com", "end-user", "builder", 'implied by group "ops" (edit on invoices)')
    return Plan(
        ops=(
            ops.CreateGroup(
                workspace="acme",
                name="support",
                permissions=GroupPermissions(frozenset({"apps.create"}), (AppGrant("view", ("crm",)),)),
            ),
            ops.UpdateGroup(
                workspace="acme",
                name="ops",
                before=GroupPermissions(app_grants=(AppGrant("view", ("invoices",)),)),
                after=GroupPermissions(app_grants=(AppGrant("edit", ("invoices",)),)),
                changes=(FieldChange("granular.apps", ("view [invoices]",), ("edit [invoices]",)),),
            ),
            ops.RenameGroup(workspace="acme", old_name="accounting", new_name="finance"),
            ops.CreateMembership(
                workspace="acme",
                email="dana@acme.com",
                role="builder",
                status="invited",
                groups=("support",),
                metadata_keys=("department",),
                metadata=Metadata.of({"department": SECRETS["department"]}),
            ),
            ops.UpdateMembership(
                workspace="acme",
                email="bob@acme.com",
                role=bob,
                groups_added=("support",),
                metadata_changes=(MetadataKeyChange("api_key", "change"),),
                metadata=Metadata.of({"api_key": SECRETS["api_key"]}),
            ),
            ops.UpdateMembership(workspace="acme", email="erin@acme.com", role=erin),
            ops.ArchiveMembership(workspace="acme", email="carol@acme.com", reason=PRUNE_REASON),
            ops.DestroyGroup(workspace="acme", name="legacy", member_count=2),
        ),
        role_changes=(bob, erin),
        config_hash="c0ffee",
        state_fingerprint="f1n9e7",
        created_at="2024-05-01T12:00:00+00:00",
    )


EVERY_OP_NAMES = {"initech": "Initech", "acme": "Old Acme Name", "umbrella": "Umbrella"}


def every_op_plan() -> Plan:
    """Every op class, in three workspaces, with every variant of detail line."""
    bob = RoleChange("acme", "bob@acme.com", "end-user", "builder", 'implied by group "support" (apps.create)')
    erin = RoleChange("acme", "erin@acme.com", "end-user", "admin", "declared")
    frank = RoleChange(
        "acme", "frank.long-name@acme.com", "builder", "end-user", 'no longer implied by group "ops"; declared end-user'
    )
    support = GroupPermissions(
        frozenset({"folders.create", "apps.create"}),
        (AppGrant("view", ("crm",)), AppGrant("view", None, hide_from_dashboard=True)),
        (DataSourceGrant("use", ("pg",)),),
    )
    builder_after = GroupPermissions(
        DEFAULT_BUILDER_PERMISSIONS.flags - {"apps.delete"},
        DEFAULT_BUILDER_PERMISSIONS.app_grants,
        (DataSourceGrant("use", ("pg",)),),
    )
    ops_before = GroupPermissions(app_grants=(AppGrant("view", ("invoices",)),))
    ops_after = GroupPermissions(
        frozenset({"apps.create"}), (AppGrant("edit", ("invoices",)),), (DataSourceGrant("use", None),)
    )
    return Plan(
        ops=(
            ops.UpdateWorkspace(workspace="acme", changes=(FieldChange("name", "Old Acme Name", "Acme Corp"),)),
            ops.CreateApp(workspace="acme", slug="crm", name="CRM"),
            ops.UpdateApp(workspace="acme", slug="invoices", changes=(FieldChange("name", "Invoices", "Billing"),)),
            ops.CreateDataSource(workspace="acme", name="pg"),
            ops.UpdateBuilderRole(
                workspace="acme",
                before=DEFAULT_BUILDER_PERMISSIONS,
                after=builder_after,
                changes=(
                    FieldChange("permissions.apps.delete", True, False),
                    FieldChange("granular.data_sources", ("configure all",), ("use [pg]",)),
                ),
            ),
            ops.RenameGroup(workspace="acme", old_name="accounting", new_name="finance"),
            ops.CreateGroup(workspace="acme", name="support", permissions=support),
            ops.CreateGroup(workspace="acme", name="readers", permissions=GroupPermissions()),
            ops.UpdateGroup(
                workspace="acme",
                name="ops",
                before=ops_before,
                after=ops_after,
                changes=(
                    FieldChange("permissions.apps.create", False, True),
                    FieldChange("granular.apps", ("view [invoices]",), ("edit [invoices]",)),
                    FieldChange("granular.data_sources", (), ("use all",)),
                ),
            ),
            ops.CreateUser(workspace="acme", email="dana@acme.com", first_name="Dana", last_name="Scully"),
            ops.CreateUser(workspace="acme", email="xi@acme.com", first_name="Xi", last_name=""),
            ops.UpdateUser(
                workspace="acme",
                email="bob@acme.com",
                changes=(FieldChange("first_name", "Bob", "Robert"), FieldChange("last_name", "", "Smith")),
            ),
            ops.CreateMembership(
                workspace="acme",
                email="dana@acme.com",
                role="builder",
                status="invited",
                groups=("ops", "support"),
                metadata_keys=("cost_center", "department"),
                metadata=Metadata.of({"cost_center": SECRETS["cost_center"], "department": SECRETS["department"]}),
            ),
            ops.CreateMembership(workspace="acme", email="xi@acme.com", role="end-user", status="archived"),
            ops.UpdateMembership(
                workspace="acme",
                email="bob@acme.com",
                role=bob,
                groups_added=("support",),
                groups_removed=("finance", "legacy"),
                metadata_changes=(
                    MetadataKeyChange("api_key", "change"),
                    MetadataKeyChange("cost_center", "add"),
                    MetadataKeyChange("department", "remove"),
                ),
                metadata=Metadata.of({"api_key": SECRETS["api_key"], "cost_center": SECRETS["cost_center"]}),
            ),
            ops.UpdateMembership(workspace="acme", email="erin@acme.com", role=erin),
            ops.UpdateMembership(
                workspace="acme", email="frank.long-name@acme.com", role=frank, groups_removed=("ops",)
            ),
            ops.TransferApps(
                workspace="acme", email="frank.long-name@acme.com", to="erin@acme.com", apps=("CRM", "Nightly sync")
            ),
            ops.UnarchiveMembership(workspace="acme", email="gina@acme.com"),
            ops.ArchiveMembership(workspace="acme", email="carol@acme.com", reason=PRUNE_REASON),
            ops.DestroyGroup(workspace="acme", name="legacy", member_count=1),
            ops.DestroyGroup(workspace="acme", name="unused", member_count=0),
            ops.CreateWorkspace(workspace="globex", name="Globex"),
            ops.CreateApp(workspace="globex", slug="portal", name="Portal"),
            ops.CreateMembership(workspace="globex", email="dana@acme.com", role="admin", status="invited"),
            ops.ArchiveWorkspace(workspace="initech"),
            ops.UnarchiveWorkspace(workspace="umbrella"),
        ),
        role_changes=(bob, erin, frank),
        grants=(
            ops.Grant(
                "acme", "dana@acme.com", "builder", "new", 'builder via group "ops" (apps.create); declared end-user'
            ),
            ops.Grant("acme", "gina@acme.com", "admin", "unarchived", "declared"),
            ops.Grant("globex", "dana@acme.com", "admin", "new", "declared"),
        ),
        warnings=(
            ops.RailWarning(
                "mass-change",
                "the plan would archive 4 of the 12 non-archived members of workspace 'acme' (more than 25%)",
                "check the configuration; pass --allow-mass-change if this is intended",
            ),
        ),
        notes=('acme: hugo@acme.com is declared end-user but stays builder because of group "ops" (apps.create)',),
        unmanaged=("initech/group/sales", "initech/user/old@initech.com"),
        ceded=(
            ops.Ceded(
                "acme/group/sso-eng",
                "external",
                "members: external (2 members, kept as SSO/SCIM sync or the UI set them)",
            ),
            ops.Ceded("acme/user/svc-bot@acme.com", "ignored", 'ignored: matches settings.ignore "svc-*@acme.com"'),
        ),
        config_hash="sha256:abc123",
        state_fingerprint="sha256:def456",
        created_at="2024-05-01T12:00:00+00:00",
    )


def all_renderings(plan: Plan) -> dict[str, str]:
    return {
        "text": render_text(plan, workspace_names=EVERY_OP_NAMES),
        "color": render_text(plan, color=True),
        "markdown": render_markdown(plan),
        "json": render_json(plan),
    }


# --- golden files -----------------------------------------------------------------------------------


def test_spec_example_text() -> None:
    check_golden("spec-example.txt", render_text(spec_example_plan(), workspace_names={"acme": "Acme Corp"}))


def test_every_op_text() -> None:
    check_golden("every-op.txt", render_text(every_op_plan(), workspace_names=EVERY_OP_NAMES))


def test_spec_example_markdown() -> None:
    check_golden("spec-example.md", render_markdown(spec_example_plan(), workspace_names={"acme": "Acme Corp"}))


def test_every_op_markdown() -> None:
    check_golden("every-op.md", render_markdown(every_op_plan()))


def test_every_op_json() -> None:
    check_golden("every-op.json", render_json(every_op_plan()))


def test_golden_plans_cover_every_op_class() -> None:
    used = {type(op) for op in every_op_plan().ops}
    assert used == set(ops.OP_TYPES.values())


# --- text details -----------------------------------------------------------------------------------


def test_empty_plan_is_one_line() -> None:
    assert render_text(Plan(ops=())) == "No changes. The database matches the configuration."
    assert summary_line(Plan(ops=())) == "No changes. The database matches the configuration."


def test_empty_plan_still_lists_unmanaged_resources() -> None:
    plan = Plan(ops=(), unmanaged=("acme/user/old@acme.com",))
    assert render_text(plan).splitlines() == [
        "No changes. The database matches the configuration.",
        "",
        "Unmanaged (prune: none), left alone: 1",
        "  acme/user/old@acme.com",
    ]


def test_an_empty_plan_lists_what_the_configuration_cedes_aligned() -> None:
    ceded = (
        ops.Ceded(
            "lab/group/sso-eng", "external", "members: external (3 members, kept as SSO/SCIM sync or the UI set them)"
        ),
        ops.Ceded("lab/user/svc-bot@lab.example", "ignored", 'ignored: matches settings.ignore "svc-*@lab.example"'),
    )
    assert render_text(Plan(ops=(), ceded=ceded)).splitlines() == [
        "No changes. The database matches the configuration.",
        "",
        "Ceded to other writers (settings.ignore, members: external, settings.manage), not drift: 2",
        "  lab/group/sso-eng             members: external (3 members, kept as SSO/SCIM sync or the UI set them)",
        '  lab/user/svc-bot@lab.example  ignored: matches settings.ignore "svc-*@lab.example"',
    ]


@pytest.mark.parametrize(
    ("plan_ops", "role_changes", "expected"),
    [
        (
            [ops.CreateDataSource(workspace="a", name="pg")],
            0,
            "Plan: 1 to add, 0 to change, 0 to destroy. 0 role changes.",
        ),
        (
            [ops.UpdateMembership(workspace="a", email="b@a.com", groups_added=("g",))],
            1,
            "Plan: 0 to add, 1 to change, 0 to destroy. 1 role change.",
        ),
        (
            [
                ops.RenameGroup(workspace="a", old_name="x", new_name="y"),
                ops.UnarchiveMembership(workspace="a", email="b@a.com"),
            ],
            2,
            "Plan: 0 to add, 0 to change, 0 to destroy, 1 to rename, 1 to unarchive. 2 role changes.",
        ),
        (
            [
                ops.UnarchiveMembership(workspace="a", email="b@a.com"),
                ops.ArchiveMembership(workspace="a", email="c@a.com", reason="r"),
            ]
            * 2,
            0,
            "Plan: 0 to add, 0 to change, 0 to destroy, 2 to archive, 2 to unarchive. 0 role changes.",
        ),
    ],
)
def test_summary_line_variants(plan_ops: list[ops.Op], role_changes: int, expected: str) -> None:
    changes = tuple(RoleChange("a", f"u{i}@a.com", "end-user", "builder", "declared") for i in range(role_changes))
    plan = Plan(ops=tuple(plan_ops), role_changes=changes)
    assert summary_line(plan) == expected
    assert render_text(plan).splitlines()[-1] == expected


def test_workspace_name_is_omitted_when_unknown_and_taken_from_ops_first() -> None:
    plan = Plan(ops=(ops.CreateDataSource(workspace="acme", name="pg"),))
    assert render_text(plan).splitlines()[2] == 'workspace "acme"'
    assert render_text(plan, workspace_names={"acme": "Acme"}).splitlines()[2] == 'workspace "acme" (Acme)'
    renamed = Plan(ops=(ops.UpdateWorkspace(workspace="acme", changes=(FieldChange("name", "Old", "New"),)),))
    assert render_text(renamed, workspace_names={"acme": "Old"}).splitlines()[2] == 'workspace "acme" (New)'


def test_new_archived_workspace_shows_its_status_first_in_its_block() -> None:
    plan = Plan(
        ops=(
            ops.CreateApp(workspace="w", slug="crm", name="CRM"),
            ops.CreateWorkspace(workspace="w", name="W", status="archived"),
        )
    )
    assert render_text(plan).splitlines()[2:6] == [
        'workspace "w" (W)',
        '  + workspace "w" (W)',
        "      + status: archived",
        '  + app "crm" (CRM)',
    ]


def test_role_section_lists_role_changes_then_grants_aligned() -> None:
    lines = render_text(every_op_plan()).split("Affected role changes:\n")[1].splitlines()[:6]
    assert lines == [
        '  acme    bob@acme.com              end-user -> builder  implied by group "support" (apps.create)',
        "  acme    erin@acme.com             end-user -> admin    declared",
        '  acme    frank.long-name@acme.com  builder -> end-user  no longer implied by group "ops"; declared end-user',
        '  acme    dana@acme.com             (new) -> builder     builder via group "ops" (apps.create);'
        " declared end-user",
        "  acme    gina@acme.com             (archived) -> admin  declared",
        "  globex  dana@acme.com             (new) -> admin       declared",
    ]


def test_grants_alone_open_the_role_section_and_count_apart_from_role_changes() -> None:
    grant = ops.Grant("a", "new@a.com", "admin", "new", "declared")
    plan = Plan(
        ops=(ops.CreateMembership(workspace="a", email="new@a.com", role="admin", status="invited"),), grants=(grant,)
    )
    assert render_text(plan).splitlines()[-4:] == [
        "Affected role changes:",
        "  a  new@a.com  (new) -> admin  declared",
        "",
        "Plan: 1 to add, 0 to change, 0 to destroy. 0 role changes, 1 new privileged member.",
    ]
    assert plan.summary["role_changes"] == 0 and plan.summary["grants"] == 1
    assert "| a | new@a.com | (new) | admin | declared |" in render_markdown(plan).splitlines()


def test_workspace_archive_is_an_archive_not_a_change() -> None:
    plan = Plan(
        ops=(
            ops.CreateDataSource(workspace="w", name="pg"),
            ops.ArchiveWorkspace(workspace="w"),
            ops.UnarchiveWorkspace(workspace="v"),
        )
    )
    lines = render_text(plan).splitlines()
    assert lines[2:4] == ['workspace "w"', '  * workspace "w": archive (members lose access; nothing is deleted)']
    assert '  * workspace "v": unarchive (members get their access back)' in lines
    assert lines[-1] == "Plan: 1 to add, 0 to change, 0 to destroy, 1 to archive, 1 to unarchive. 0 role changes."


def test_names_cannot_forge_lines_or_escape_codes() -> None:
    plan = Plan(
        ops=(ops.CreateGroup(workspace="a", name='evil"\n  - group "x"\x1b[31m', permissions=GroupPermissions()),)
    )
    text = render_text(plan)
    assert "\x1b" not in text
    assert '  + group "evil\\"\\x0a  - group \\"x\\"\\x1b[31m"' in text.splitlines()


INVISIBLE = (
    "\u061c\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2066\u2067\u2068\u2069\ufeff\ufffe\uffff"
)


@pytest.mark.parametrize("char", ["\x1b", "\x07", "\x9b", "\x85", *INVISIBLE])
def test_escape_control_makes_every_invisible_character_visible(char: str) -> None:
    escaped = escape_control(f"a{char}b")
    assert char not in escaped
    assert escaped == (f"a\\x{ord(char):02x}b" if ord(char) < 0xA0 else f"a<U+{ord(char):04X}>b")
    assert escape_control("josé Ünïcode 名前") == "josé Ünïcode 名前"  # letters stay as they are


def test_bidi_overrides_cannot_reorder_a_plan_line() -> None:
    plan = Plan(ops=(ops.CreateGroup(workspace="a", name="admins\u202e\u2066sgol", permissions=GroupPermissions()),))
    for name, text in all_renderings(plan).items():
        assert "\u202e" not in text and "\u2066" not in text, name
    assert '  + group "admins<U+202E><U+2066>sgol"' in render_text(plan).splitlines()


def test_json_keeps_the_data_but_escapes_invisible_characters() -> None:
    plan = Plan(ops=(ops.CreateGroup(workspace="a", name="x\u202e\x9b\x1by", permissions=GroupPermissions()),))
    text = render_json(plan)
    assert not any(c in text for c in "\u202e\x9b\x1b")
    assert plan_to_json_dict(plan)["changes"][0]["after"]["name"] == json.loads(text)["changes"][0]["after"]["name"]


@pytest.mark.parametrize("char", ["\ufffe", "\uffff", "\x00", "\x0b", "\ud800"])
def test_junit_stays_well_formed_xml_with_characters_xml_forbids(char: str) -> None:
    """Before: a group named with U+FFFE gave a document no XML parser reads."""
    import xml.etree.ElementTree as ET

    from reconciler.desired import DesiredState
    from reconciler.render.junit import render_junit
    from reconciler.state import Snapshot

    name = f"ops{char}x"
    plan = Plan(ops=(ops.CreateGroup(workspace="w", name=name, permissions=GroupPermissions()),), workspaces=("w",))
    root = ET.fromstring(render_junit(plan, DesiredState({}), Snapshot()).encode("utf-8", "surrogatepass"))
    cases = {case.get("name"): case for case in root.iter("testcase")}
    visible = f"w/group/ops{escape_control(char)}x"
    assert visible in cases and ("<U+" in visible or "\\x" in visible)
    assert escape_control(char) in cases[visible].find("failure").text


def test_color_wraps_symbols_only_when_asked() -> None:
    plain = render_text(every_op_plan())
    coloured = render_text(every_op_plan(), color=True)
    assert "\x1b" not in plain
    for symbol, code in {"+": "32", "~": "33", "-": "31", ">": "36", "*": "35"}.items():
        assert f"\x1b[{code}m{symbol}\x1b[0m " in coloured
    assert coloured.replace("\x1b[0m", "").replace("\x1b[3", "").count("\x1b") == 0


# --- secrets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("plan", [spec_example_plan(), every_op_plan()], ids=["spec-example", "every-op"])
def test_no_metadata_value_in_any_rendering(plan: Plan) -> None:
    assert any(getattr(op, "metadata", Metadata.UNMANAGED).has_values for op in plan.ops)
    for rendering in all_renderings(plan).values():
        for secret in SECRETS.values():
            assert secret not in rendering


def test_json_masks_metadata_keys() -> None:
    changes = {c["address"]: c for c in plan_to_json_dict(every_op_plan())["changes"]}
    dana = changes["acme/user/dana@acme.com"]["after"]
    assert dana["metadata"] == {"cost_center": "(sensitive)", "department": "(sensitive)"}
    bob = changes["acme/user/bob@acme.com"]
    assert bob["before"]["metadata"] == {"api_key": "(sensitive)", "department": "(sensitive)"}
    assert bob["after"]["metadata"] == {"api_key": "(sensitive)", "cost_center": "(sensitive)"}


def test_json_plan_shape() -> None:
    document = json.loads(render_json(spec_example_plan()))
    assert document["format_version"] == 1
    assert document["summary"] == {
        "add": 2,
        "change": 3,
        "destroy": 1,
        "rename": 1,
        "archive": 1,
        "unarchive": 0,
        "role_changes": 2,
        "grants": 0,
    }
    assert document["role_changes"][0] == {
        "workspace": "acme",
        "email": "bob@acme.com",
        "from": "end-user",
        "to": "builder",
        "cause": 'implied by group "support" (apps.create)',
    }
    rename = document["changes"][2]
    assert rename == {
        "address": "acme/group/finance",
        "actions": ["rename"],
        "kind": "RenameGroup",
        "before": {"name": "accounting"},
        "after": {"name": "finance"},
        "reasons": [],
    }
    assert document["changes"][6]["reasons"] == [PRUNE_REASON]
    # Metadata changes by key, never a value; the masked before/after dicts stay for older readers.
    assert document["changes"][3]["metadata_changes"] == [{"key": "department", "action": "add"}]
    assert document["changes"][4]["metadata_changes"] == [{"key": "api_key", "action": "change"}]
    assert "metadata_changes" not in document["changes"][0]
    assert (document["grants"], document["warnings"], document["notes"]) == ([], [], [])
    assert "ops" not in document and "signature" not in document


# --- markdown ---------------------------------------------------------------------------------------


def test_empty_markdown() -> None:
    assert render_markdown(Plan(ops=())) == "### reconciler plan\n\nNo changes. The database matches the configuration."


def test_markdown_shows_rail_warnings_and_notes() -> None:
    warning = ops.RailWarning("last-admin", "Cannot change role of last present admin, please ... (workspace 'a')")
    removals = ops.RailWarning("removals", "the plan removes what is not in the configuration of workspace 'a'")
    plan = Plan(
        ops=(ops.ArchiveMembership(workspace="a", email="x@a.com", reason="r"),),
        warnings=(warning, removals),
        notes=("a: note|1",),
    )
    lines = render_markdown(plan).splitlines()
    assert lines[3:11] == [
        "",
        "**Safety rails** (apply refuses this plan):",
        "",
        "- `last-admin`: Cannot change role of last present admin, please ... (workspace 'a')",
        "- `removals`: the plan removes what is not in the configuration of workspace 'a'; apply needs "
        "--allow-removals",
        "",
        "Notes:",
        "",
    ]
    assert lines[11] == "- a: note\\|1"
    quiet = Plan(ops=(), notes=tuple(f"a: note {i}" for i in range(25)))
    lines = render_markdown(quiet).splitlines()
    assert lines[:3] == ["### reconciler plan", "", "No changes. The database matches the configuration."]
    assert lines[-1] == "- and 5 more (run reconciler plan to see them)" and len(lines) == 3 + 3 + 21


def test_markdown_escapes_table_cells() -> None:
    change = RoleChange("acme", "a|b`c@acme.com", "end-user", "builder", 'implied by group "x|`y`" (apps.create)')
    plan = Plan(
        ops=(ops.UpdateMembership(workspace="acme", email="a|b`c@acme.com", role=change),), role_changes=(change,)
    )
    row = next(line for line in render_markdown(plan).splitlines() if line.startswith("| acme"))
    assert row == '| acme | a\\|b\\`c@acme.com | end-user | builder | implied by group "x\\|\\`y\\`" (apps.create) |'


def test_markdown_fence_outlasts_backticks_in_names() -> None:
    plan = Plan(ops=(ops.CreateGroup(workspace="acme", name="```", permissions=GroupPermissions()),))
    lines = render_markdown(plan).splitlines()
    assert lines.count("````diff") == 2 and lines.count("````") == 2  # role and group changes, full plan


@pytest.mark.parametrize("limit", [1_200, 1_500, 3_000])
def test_markdown_truncates_within_the_limit(limit: int) -> None:
    plan = every_op_plan()
    full = render_markdown(plan)
    assert len(full) > limit
    truncated = render_markdown(plan, limit=limit)
    assert len(truncated) <= limit
    assert truncated.startswith("### reconciler plan\n\n**Plan: ")
    note = truncated.splitlines()[-1]
    assert note.startswith("_Not shown: ") and note.endswith(". Run reconciler plan locally for the full output._")
    lines = truncated.splitlines()
    assert sum(line.startswith("```") for line in lines) % 2 == 0  # every code block closed
    assert lines.count("<details><summary>Full plan</summary>") == 0


def test_markdown_truncation_drops_only_member_lines_and_counts_them_by_kind() -> None:
    """Before: 4,160 member lines pushed the builder role's new ``data_sources.delete`` out of the comment, behind
    "Plan truncated: 4160 more lines not shown"."""
    change = FieldChange("permissions.data_sources.delete", False, True)
    members = [
        ops.CreateMembership(workspace="acme", email=f"new-{i:05d}@acme.com", role="end-user", status="invited")
        for i in range(3_000)
    ]
    updates = [
        ops.UpdateMembership(workspace="acme", email=f"old-{i:05d}@acme.com", role=None, groups_added=("viewers",))
        for i in range(1_100)
    ]
    archives = [
        ops.ArchiveMembership(workspace="acme", email=f"gone-{i:05d}@acme.com", reason="not in configuration")
        for i in range(60)
    ]
    plan = Plan(
        ops=(
            *members,
            *updates,
            ops.UpdateBuilderRole(
                workspace="acme", before=GroupPermissions(), after=GroupPermissions(), changes=(change,)
            ),
            ops.CreateGroup(
                workspace="acme", name="admins-too", permissions=GroupPermissions(flags=frozenset({"apps.create"}))
            ),
            *archives,
        )
    )
    rendered = render_markdown(plan)
    assert len(rendered) <= 60_000
    head = rendered.split("<details>")[0]
    assert "!     ~ permissions.data_sources.delete: false -> true" in head
    assert '+ + group "admins-too"' in head and "+     + permissions.apps.create: true" in head
    note = rendered.splitlines()[-1]
    shown = rendered.count('+ + user "new-')
    hidden_new = 3_000 - shown
    hidden_updates = 1_100 - rendered.count('! ~ user "old-')
    hidden_archives = 60 - rendered.count('! * user "gone-')
    assert hidden_updates == 1_100 and hidden_archives == 60  # the tail goes, in plan order
    assert note == (
        f"_Not shown: {hidden_new + 1_100:,} member changes ({hidden_new:,} new members, 1,100 updates), "
        "60 archives. Run reconciler plan locally for the full output._"
    )
    assert f"Other changes (the first {shown:,} of 4,160)" in rendered


def test_markdown_truncation_keeps_the_role_table_before_the_plan() -> None:
    truncated = render_markdown(every_op_plan(), limit=1_500)
    assert "| acme | frank.long-name@acme.com | builder | end-user |" in truncated


def test_markdown_of_a_large_plan_stays_under_the_default_limit() -> None:
    big = Plan(ops=tuple(ops.CreateDataSource(workspace="acme", name=f"source-{i:05d}") for i in range(5_000)))
    rendered = render_markdown(big)
    assert len(rendered) <= 60_000
    assert rendered.splitlines()[-1].startswith("_Not shown: 3,")
    assert rendered.splitlines()[-1].endswith(" new data sources. Run reconciler plan locally for the full output._")
