"""Issue 16 L2-L6 on the tooljet backend: names as ToolJet's invitation takes them, archived members, ToolJet's own
``audit_logs``, ``invitation_token_expiry`` and the NULL last name. Each test queries ToolJet's rows and cites the
ToolJet source it matches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from test_tooljet_cli import run
from tooljet_harness import ACME_ID, VARIANTS, ToolJetDb, acme, base_config, group, user

from reconciler.errors import PlanRefused

BOB_ID = "0b000000-0000-4000-8000-000000000002"
ERIN_ID = "0b000000-0000-4000-8000-000000000005"


def refusal_lines(caught: pytest.ExceptionInfo[PlanRefused]) -> list[str]:
    return caught.value.lines() if hasattr(caught.value, "lines") else [caught.value.message]


def newcomer(email: str, **extra: object) -> dict[str, object]:
    return {"email": email, "first_name": "Gina", "role": "end-user"} | extra


# --- L2: names ToolJet's InviteNewUserDto refuses or sanitize-html would alter ------------------------------------


def test_invite_names_and_addresses_over_99_characters_are_refused_with_toolJets_words(tooljet: ToolJetDb) -> None:
    # server/src/modules/organization-users/dto/invite-new-user.dto.ts: @MaxLength(99, 'Invalid name' / 'Invalid email')
    config = base_config(tooljet.variant)
    long_address = "g" * 60 + "@" + "a" * 30 + ".acme.example"  # 104 characters: valid here, too long for ToolJet
    acme(config)["users"] += [
        newcomer("gina@acme.example", first_name="G" * 100),
        newcomer(long_address),
        newcomer("hal@acme.example", first_name="Hal", last_name="<b>Boss</b>"),
    ]
    before = tooljet.dump()

    with pytest.raises(PlanRefused) as caught:
        tooljet.plan(config)

    lines = "\n".join(refusal_lines(caught))
    assert 'workspace "acme": gina@acme.example: first_name: Invalid name' in lines
    assert f'workspace "acme": {long_address}: Invalid email' in lines
    assert 'workspace "acme": hal@acme.example: last_name: ToolJet passes invited names through sanitize-html' in lines
    assert tooljet.dump() == before


def test_the_cli_refuses_a_long_name_at_plan_time_with_exit_1_and_no_traceback(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    acme(config)["users"].append(newcomer("gina@acme.example", last_name="L" * 120))
    before = tooljet.dump()

    result = run(tooljet, "apply", "-f", str(tooljet.write(config)), "--auto-approve")

    assert result.exit_code == 1, result.output
    assert "gina@acme.example: last_name: Invalid name" in result.output
    assert "Traceback" not in result.output
    assert tooljet.dump() == before


def test_names_up_to_99_characters_are_invited_as_written(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    acme(config)["users"].append(newcomer("gina@acme.example", first_name="G" * 99, last_name="O'Hara-Smith"))

    tooljet.apply(config)

    assert tooljet.one("SELECT first_name, last_name FROM users WHERE email = 'gina@acme.example'") == (
        "G" * 99,
        "O'Hara-Smith",
    )
    tooljet.assert_no_changes(config)


# --- L3: archived members ---------------------------------------------------------------------------------------


def test_archived_members_keep_their_role_and_groups_as_toolJet_requires(tooljet: ToolJetDb) -> None:
    # server/src/modules/group-permissions/util.service.ts addUsersToGroup finds only members whose
    # organization_users.status is not archived, else ERROR_HANDLER.ADD_GROUP_USER_NON_EXISTING_USER
    # ('User archived in this workspace', constants/error.ts).
    config = base_config(tooljet.variant)
    user(config, "erin@acme.example").update(role="builder", groups=["finance", "sales-ops"])
    before = tooljet.dump()

    with pytest.raises(PlanRefused) as caught:
        tooljet.plan(config)

    (line,) = refusal_lines(caught)
    where = 'workspace "acme": erin@acme.example: '
    location, _, message = line.partition(": " + where)  # located at erin's entry in the configuration
    assert location.endswith(".users[4].groups") and ".yaml:" in location, line
    assert message.startswith("User archived in this workspace (role end-user -> builder; join sales-ops)")
    assert tooljet.dump() == before
    assert tooljet.groups_of("erin@acme.example") == ["finance"]


def test_a_member_unarchived_in_the_same_plan_can_change_role_and_groups(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    user(config, "erin@acme.example").update(status="active", role="builder", groups=["finance", "sales-ops"])

    tooljet.apply(config)

    assert tooljet.membership("erin@acme.example")[1] == "invited"
    assert (tooljet.role_of("erin@acme.example"), tooljet.groups_of("erin@acme.example")) == (
        ["builder"],
        ["finance", "sales-ops"],
    )
    tooljet.assert_no_changes(config)


def test_an_archived_member_may_still_leave_a_group(tooljet: ToolJetDb) -> None:
    # deleteGroupUser (group-permissions/service.ts) does not look at the member's status
    config = base_config(tooljet.variant)
    user(config, "erin@acme.example")["groups"] = []

    tooljet.apply(config)

    assert tooljet.groups_of("erin@acme.example") == []
    tooljet.assert_no_changes(config)


# --- L4: ToolJet's audit_logs -------------------------------------------------------------------------------------


def audit_log(db: ToolJetDb) -> list[tuple]:
    return db.query(
        "SELECT action_type, resource_type, resource_name, resource_id::text, organization_id::text, "
        "user_id IS NULL, resource_data::text, metadata::text FROM audit_logs ORDER BY action_type, resource_name"
    )


def test_every_change_gets_one_row_in_toolJets_audit_logs(tooljet: ToolJetDb) -> None:
    # resource_type = the module id (server/src/modules/app/constants/modules.ts), action_type = the feature's
    # auditLogsKey or its key (app/interceptors/response.interceptor.ts; organization-users/constants/feature.ts,
    # group-permissions/constants/features.ts); resource_data as organization-users/service.ts and util.service.ts
    # set it for archive and invite.
    config = base_config(tooljet.variant)
    acme(config)["users"].append(newcomer("gina@acme.example", groups=["finance"]))
    user(config, "carol@acme.example")["role"] = "builder"
    user(config, "bob@acme.example")["groups"] = ["sales-ops", "finance"]
    user(config, "dave@acme.example")["status"] = "archived"
    user(config, "alice@acme.example")["metadata"] = {"desk": "4F"}
    acme(config)["groups"].append({"name": "auditors"})
    group(config, "finance")["granular"]["apps"][0]["apps"] = ["invoices", "crm"]

    tooljet.apply(config)

    rows = audit_log(tooljet)
    summary = [(action, kind, name) for action, kind, name, *_ in rows]
    assert summary == [
        ("GRANULAR_PERMISSION_APP_UPDATE", "GroupPermissions", "finance"),
        ("GROUP_PERMISSION_CREATE", "GroupPermissions", "auditors"),
        ("USER_ADD_TO_GROUP", "GroupPermissions", "finance"),
        ("USER_ARCHIVE", "OrganizationUser", "dave@acme.example"),
        ("USER_INVITE", "OrganizationUser", "gina@acme.example"),
        ("change_user_role", "GroupPermissions", "carol@acme.example"),
        ("user_update", "OrganizationUser", "alice@acme.example"),
    ]
    assert all(org == ACME_ID and no_actor for _a, _k, _n, _id, org, no_actor, _d, _m in rows)
    by_action = {action: row for action, *row in rows}
    gina_id = tooljet.one("SELECT id::text FROM users WHERE email = 'gina@acme.example'")
    invite = json.loads(by_action["USER_INVITE"][5])
    assert by_action["USER_INVITE"][2] == gina_id
    assert invite == {
        "invited_user": {
            "id": gina_id,
            "email": "gina@acme.example",
            "first_name": "Gina",
            "last_name": None,
            "role": "end-user",
            "group": ["finance"],
        }
    }
    archive = json.loads(by_action["USER_ARCHIVE"][5])
    assert archive["archived_user_workspace"] == {"workspace_name": "Acme Corp", "workspace_id": ACME_ID}
    assert json.loads(by_action["USER_ADD_TO_GROUP"][5]) == {"user": {"id": BOB_ID, "email": "bob@acme.example"}}
    # group-permissions/service.ts create: resourceData.group_details
    assert json.loads(by_action["GROUP_PERMISSION_CREATE"][5]) == {"group_details": {"name": "auditors"}}
    assert "4F" not in by_action["user_update"][5]  # metadata keys only, never a value
    assert json.loads(by_action["user_update"][5]) == {"updated_user_metadata": {"department": "remove", "desk": "add"}}
    assert json.loads(rows[0][7])["source"] == "reconciler"
    tooljet.assert_no_changes(config)
    assert len(audit_log(tooljet)) == len(rows)  # a plan writes nothing


def test_archive_unarchive_group_removal_and_deletion_are_logged(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    user(config, "erin@acme.example")["status"] = "active"
    user(config, "bob@acme.example")["groups"] = []
    acme(config)["users"].append(newcomer("hal@acme.example", status="archived"))  # ToolJet: invite, then archive
    acme(config)["groups"] = [g for g in acme(config)["groups"] if g["name"] != "sales-ops"]
    sales_ops = tooljet.one("SELECT id::text FROM permission_groups WHERE name = 'sales-ops'")

    tooljet.apply(config)

    summary = [(action, name, rid) for action, _k, name, rid, *_ in audit_log(tooljet)]
    assert ("USER_UNARCHIVE", "erin@acme.example", ERIN_ID) in summary
    assert ("GROUP_PERMISSION_DELETE", "sales-ops", sales_ops) in summary
    assert [action for action, name, _ in summary if name == "hal@acme.example"] == ["USER_ARCHIVE", "USER_INVITE"]
    tooljet.assert_no_changes(config)


def test_a_schema_without_audit_logs_gets_no_rows_and_no_error(tooljet: ToolJetDb) -> None:
    engine = create_engine(make_url(tooljet.url).set(drivername="postgresql+psycopg"))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE audit_logs"))
    engine.dispose()
    config = base_config(tooljet.variant)
    user(config, "carol@acme.example")["role"] = "builder"

    tooljet.apply(config)

    assert tooljet.role_of("carol@acme.example") == ["builder"]
    assert tooljet.one("SELECT to_regclass('audit_logs') IS NULL") is True
    tooljet.assert_no_changes(config)


# --- L5: invitation_token_expiry ----------------------------------------------------------------------------------


def expiry_of(db: ToolJetDb, email: str) -> object:
    return db.one(
        "SELECT ou.invitation_token_expiry FROM organization_users ou JOIN users u ON u.id = ou.user_id "
        "WHERE u.email = :email AND ou.organization_id = :org",
        email=email,
        org=ACME_ID,
    )


def test_invitations_expire_after_link_expiry_minutes_where_the_schema_has_the_column(
    tooljet: ToolJetDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    # server/src/modules/onboarding/service.ts: a fresh workspace token expires LINK_EXPIRY_MINUTES after it is
    # issued (parseInt, when positive); acceptOrganizationInvite treats NULL as never.
    monkeypatch.setenv("LINK_EXPIRY_MINUTES", "90")
    config = base_config(tooljet.variant)
    acme(config)["users"].append(newcomer("gina@acme.example"))
    user(config, "erin@acme.example")["status"] = "active"
    started = datetime.now(UTC)

    tooljet.apply(config)

    if tooljet.variant == "v3_early":  # no invitation_token_expiry column: nothing to write
        assert "invitation_token_expiry" not in tooljet.dump()["organization_users"][0]
        tooljet.assert_no_changes(config)
        return
    for email in ("gina@acme.example", "erin@acme.example"):
        expiry = expiry_of(tooljet, email)
        assert started + timedelta(minutes=89) < expiry < datetime.now(UTC) + timedelta(minutes=91), (email, expiry)
    tooljet.assert_no_changes(config)


WITH_EXPIRY = [v for v in VARIANTS if v != "v3_early"]


@pytest.mark.parametrize("tooljet", WITH_EXPIRY, indirect=True)  # v3_early has no invitation_token_expiry
def test_without_link_expiry_minutes_invitations_do_not_expire(tooljet: ToolJetDb) -> None:
    # organization-users/repository.ts createOne (ToolJet's invite) leaves invitation_token_expiry NULL
    config = base_config(tooljet.variant)
    acme(config)["users"].append(newcomer("gina@acme.example"))

    tooljet.apply(config)

    assert expiry_of(tooljet, "gina@acme.example") is None


# --- L6: an omitted last name is NULL ------------------------------------------------------------------------------


def test_an_omitted_last_name_is_stored_as_null_and_reads_back_as_no_change(tooljet: ToolJetDb) -> None:
    # InviteNewUserDto's lastName is optional; ToolJet stores the absent value as NULL (dave in the seed too)
    config = base_config(tooljet.variant)
    acme(config)["users"].append(newcomer("gina@acme.example"))
    user(config, "carol@acme.example").pop("last_name")

    tooljet.apply(config)

    assert tooljet.query(
        "SELECT email, last_name FROM users WHERE email IN ('gina@acme.example', 'carol@acme.example') ORDER BY email"
    ) == [("carol@acme.example", None), ("gina@acme.example", None)]
    tooljet.assert_no_changes(config)
