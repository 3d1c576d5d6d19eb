"""Saved plans (SPEC 4): ``plan --out`` then ``apply PLANFILE``; stale plans and edited signed plans are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from helpers import KEYRING, Harness, config_yaml, workspace_yaml

from reconciler.render.jsonplan import BAD_SIGNATURE, UNSIGNED, UNVERIFIABLE
from reconciler.render.text import NO_CHANGES
from reconciler.workflow import STALE_MESSAGE

SECRET = "tok-Pangolin-7731"
USERS = f"""
- {{email: alice@acme.com, first_name: Alice, role: admin}}
- {{email: bob@acme.com, first_name: Bob, role: end-user, groups: [ops], metadata: {{token: {SECRET}}}}}
"""
GROUPS = "- {name: ops, granular: {apps: [{access: view, apps: [crm]}]}}\n"


@pytest.fixture
def harness(database_url: str, tmp_path: Path) -> Iterator[Harness]:
    opened = Harness(database_url, tmp_path)
    opened.write(config_yaml(workspace_yaml(users=USERS, groups=GROUPS)))
    try:
        yield opened
    finally:
        opened.close()


def cli(harness: Harness, *args: str, without_key: bool = False) -> Result:
    return harness.cli(*args, **({"RECONCILER_MASTER_KEY": None} if without_key else {}))


def save_plan(harness: Harness, *, without_key: bool = False) -> Path:
    out = harness.directory / "plan.json"
    result = cli(harness, "plan", "-f", str(harness.config_path), "--out", str(out), without_key=without_key)
    assert result.exit_code == 0, result.stderr
    assert f"Saved the plan to {out}" in result.stderr
    return out


def test_apply_of_a_saved_plan(harness: Harness) -> None:
    planfile = save_plan(harness)
    saved = planfile.read_text()
    assert SECRET not in saved  # metadata travels encrypted
    assert "signature" in json.loads(saved)

    result = cli(harness, "apply", str(planfile))  # the file is the approval: no prompt, no TTY needed

    assert result.exit_code == 0, result.stderr
    assert 'workspace "acme" (Acme Corp)' in result.stdout
    assert "Apply complete! 9 added, 0 changed, 0 destroyed. 0 role changes." in result.stdout
    assert harness.metadata_of("bob@acme.com") == {"token": SECRET}
    assert harness.groups_of("bob@acme.com") == ["ops"]
    assert harness.backend.history(1)[0].command == "apply PLANFILE"
    harness.assert_in_sync()

    # Applied once, it is refused for that, before it is found stale.
    again = cli(harness, "apply", str(planfile))
    assert again.exit_code == 1
    assert again.stderr.splitlines()[0].startswith("Error: this plan was already applied at")


def test_a_saved_plan_is_refused_after_an_out_of_band_change(harness: Harness) -> None:
    harness.apply()
    harness.write(config_yaml(workspace_yaml(users=USERS.replace("role: end-user", "role: builder"), groups=GROUPS)))
    planfile = save_plan(harness)
    harness.execute("UPDATE users SET first_name = 'Robert' WHERE email = 'bob@acme.com'")
    before = harness.dump()

    result = cli(harness, "apply", str(planfile))

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"Error: {STALE_MESSAGE}"
    assert "Traceback" not in result.output
    assert harness.dump() == before
    assert harness.backend.history(1)[0].result == "refused"


@pytest.mark.parametrize("edit", ["role", "summary", "signature"])
def test_an_edited_signed_plan_is_refused(harness: Harness, edit: str) -> None:
    harness.apply()
    harness.write(config_yaml(workspace_yaml(users=USERS.replace("role: end-user", "role: builder"), groups=GROUPS)))
    planfile = save_plan(harness)
    document = json.loads(planfile.read_text())
    if edit == "role":
        change = next(op for op in document["ops"] if op["kind"] == "UpdateMembership")
        change["role"]["new"] = "admin"
    elif edit == "summary":
        document["summary"]["change"] = 0
    else:
        document.pop("signature")
    planfile.write_text(json.dumps(document))
    before = harness.dump()

    result = cli(harness, "apply", str(planfile))

    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"Error: {UNSIGNED if edit == 'signature' else BAD_SIGNATURE}"
    assert harness.dump() == before


def test_sqlite_key_file_signs_the_plan(sqlite_url: str, tmp_path: Path) -> None:
    harness = Harness(sqlite_url, tmp_path)
    try:
        harness.write(config_yaml(workspace_yaml(users=USERS, groups=GROUPS)))
        planfile = save_plan(harness, without_key=True)  # no key in the environment: the key file beside the database
        key_file = Path(sqlite_url.removeprefix("sqlite:///") + ".key")
        assert key_file.exists()
        document = json.loads(planfile.read_text())
        assert "signature" in document
        bob = next(op for op in document["ops"] if op["kind"] == "CreateMembership" and op["email"] == "bob@acme.com")
        bob["role"] = "admin"
        edited = harness.directory / "edited.json"
        edited.write_text(json.dumps(document))

        refused = cli(harness, "apply", str(edited), without_key=True)
        assert refused.exit_code == 1 and f"Error: {BAD_SIGNATURE}" in refused.stderr
        assert harness.scalar("SELECT count(*) FROM workspaces") == 0

        applied = cli(harness, "apply", str(planfile), without_key=True)
        assert applied.exit_code == 0, applied.stderr
        harness.keyring = None
        after = cli(harness, "plan", "-f", str(harness.config_path), without_key=True)
        assert after.stdout.strip() == NO_CHANGES
    finally:
        harness.close()


def test_saved_plan_round_trip_is_what_plan_showed(harness: Harness) -> None:
    planfile = save_plan(harness)
    shown = cli(harness, "plan", "-f", str(harness.config_path), "--format", "json")
    assert shown.exit_code == 0
    shown_doc, saved_doc = json.loads(shown.stdout), json.loads(planfile.read_text())
    assert [c["address"] for c in saved_doc["changes"]] == [c["address"] for c in shown_doc["changes"]]
    assert saved_doc["summary"] == shown_doc["summary"]
    assert saved_doc["workspaces"] == ["acme"]


# --- always signed (issue 13) -----------------------------------------------------------------------

PLAIN_USERS = """
- {email: alice@acme.com, first_name: Alice, role: admin}
- {email: bob@acme.com, first_name: Bob, role: end-user}
"""


def _promote_bob(planfile: Path) -> None:
    document = json.loads(planfile.read_text())
    for op in document["ops"]:
        if op["kind"] == "CreateMembership" and op["email"] == "bob@acme.com":
            op["role"] = "admin"
    planfile.write_text(json.dumps(document))


def test_a_plan_without_metadata_on_sqlite_is_signed_with_a_new_key_file(sqlite_url: str, tmp_path: Path) -> None:
    """Before: no metadata meant no key, so the plan was unsigned and a hand edit (end-user -> admin) applied."""
    harness = Harness(sqlite_url, tmp_path)
    try:
        harness.write(config_yaml(workspace_yaml(users=PLAIN_USERS)))
        planfile = save_plan(harness, without_key=True)
        assert Path(sqlite_url.removeprefix("sqlite:///") + ".key").exists()
        assert "signature" in json.loads(planfile.read_text())
        _promote_bob(planfile)
        refused = cli(harness, "apply", str(planfile), without_key=True)
        assert refused.exit_code == 1
        assert refused.stderr.splitlines()[-2:] == [f"Error: {BAD_SIGNATURE}", refused.stderr.splitlines()[-1]]
        assert harness.scalar("SELECT count(*) FROM memberships") == 0
    finally:
        harness.close()


@pytest.mark.postgres
def test_without_any_key_the_plan_says_it_is_unsigned_and_apply_refuses_it(postgres_url: str, tmp_path: Path) -> None:
    harness = Harness(postgres_url, tmp_path)
    try:
        harness.apply(config_yaml(workspace_yaml(users=PLAIN_USERS)))  # with a key: the invitations need one
        harness.write(config_yaml(workspace_yaml(users=PLAIN_USERS.replace("role: end-user", "role: builder"))))
        planfile = harness.directory / "plan.json"
        saved = cli(harness, "plan", "-f", str(harness.config_path), "-o", str(planfile), without_key=True)
        assert saved.exit_code == 0, saved.output
        assert f"Warning: the plan saved to {planfile} is NOT signed" in saved.stderr
        document = json.loads(planfile.read_text())
        assert "signature" not in document
        (bob,) = [op for op in document["ops"] if op["kind"] == "UpdateMembership"]
        bob["role"]["new"] = "admin"  # the hand edit
        planfile.write_text(json.dumps(document))

        refused = cli(harness, "apply", str(planfile), without_key=True)
        assert refused.exit_code == 1
        assert refused.stderr.splitlines()[0] == f"Error: {UNSIGNED}"
        assert "--allow-unsigned" in refused.stderr
        assert harness.membership("bob@acme.com")["role"] == "end-user"

        allowed = cli(harness, "apply", str(planfile), "--allow-unsigned", without_key=True)
        assert allowed.exit_code == 0, allowed.stderr
        assert "applied without a verified signature (--allow-unsigned)" in allowed.stderr
        assert harness.membership("bob@acme.com")["role"] == "admin"  # what the (edited) file said, knowingly
    finally:
        harness.close()


@pytest.mark.postgres
def test_a_signed_plan_is_refused_where_no_key_can_verify_it(postgres_url: str, tmp_path: Path) -> None:
    harness = Harness(postgres_url, tmp_path)
    try:
        harness.write(config_yaml(workspace_yaml(users=PLAIN_USERS)))
        planfile = save_plan(harness)
        refused = cli(harness, "apply", str(planfile), without_key=True)
        assert refused.exit_code == 1
        assert refused.stderr.splitlines()[0] == f"Error: {UNVERIFIABLE}"
        assert harness.scalar("SELECT count(*) FROM memberships") == 0
    finally:
        harness.close()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--workspace", "acme"], "--workspace"),
        (["--strict-roles"], "--strict-roles"),
        (["--workspace", "acme", "--strict-roles"], "--workspace, --strict-roles"),
    ],
)
def test_planning_options_are_refused_with_a_saved_plan(harness: Harness, options: list[str], named: str) -> None:
    planfile = save_plan(harness)
    before = harness.dump()
    result = cli(harness, "apply", str(planfile), *options)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"Error: {named} cannot be used with a saved PLANFILE: the plan file already fixes what is applied"
    )
    assert harness.dump() == before


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_show_prints_a_saved_plan_without_applying_it(harness: Harness, fmt: str) -> None:
    planfile = save_plan(harness)
    shown = cli(harness, "plan", "-f", str(harness.config_path), "--format", fmt)
    before = harness.dump()

    result = cli(harness, "show", str(planfile), "--format", fmt, without_key=True)

    assert result.exit_code == 0, result.stderr
    assert "signature of" in result.stderr and "was not verified" in result.stderr
    assert SECRET not in result.stdout
    assert harness.dump() == before
    if fmt == "json":
        ignore = ("created_at",)
        mine = {k: v for k, v in json.loads(result.stdout).items() if k not in ignore}
        assert mine == {k: v for k, v in json.loads(shown.stdout).items() if k not in ignore}
    else:
        assert '+ user "bob@acme.com" (end-user, invited)' in result.stdout
        assert "Plan: 9 to add, 0 to change, 0 to destroy. 0 role changes, 1 new privileged member." in result.stdout


def test_show_verifies_the_signature_when_it_can(harness: Harness) -> None:
    planfile = save_plan(harness)
    _promote_bob(planfile)
    result = cli(harness, "show", str(planfile))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"Error: {BAD_SIGNATURE}"


# --- single use and expiry (issue 14) -------------------------------------------------------------------


def test_a_saved_plan_is_applied_at_most_once_even_when_the_state_returns(harness: Harness) -> None:
    """A -> B -> A gives the same fingerprint: before, the plan applied again and undid B."""
    harness.apply()
    state_a = harness.plan().snapshot.fingerprint
    harness.write(config_yaml(workspace_yaml(users=USERS.replace("role: end-user", "role: builder"), groups=GROUPS)))
    planfile = save_plan(harness)
    assert cli(harness, "apply", str(planfile)).exit_code == 0  # A -> B
    run_id = harness.backend.history(1)[0].id
    harness.write(config_yaml(workspace_yaml(users=USERS, groups=GROUPS)))
    assert cli(harness, "apply", "-f", str(harness.config_path), "--auto-approve").exit_code == 0  # B -> A
    assert harness.plan().snapshot.fingerprint == state_a
    before = harness.dump()

    replayed = cli(harness, "apply", str(planfile))

    assert replayed.exit_code == 1
    assert replayed.stderr.startswith("Error: this plan was already applied at ")
    assert f"(run #{run_id}); a saved plan is applied at most once" in replayed.stderr.splitlines()[0]
    assert harness.dump() == before
    assert harness.backend.history(1)[0].result == "refused"


def test_a_saved_plan_expires(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime, timedelta

    planfile = save_plan(harness)
    later = datetime.now(UTC) + timedelta(hours=25)
    monkeypatch.setattr("reconciler.cli.plan.utcnow", lambda: later)
    before = harness.dump()

    expired = cli(harness, "apply", str(planfile))
    assert expired.exit_code == 1
    assert expired.stderr.splitlines()[0].startswith("Error: the plan was made 1d ago (")
    assert expired.stderr.splitlines()[0].endswith("saved plans expire after 1d")
    assert harness.dump() == before

    bad = cli(harness, "apply", str(planfile), "--plan-max-age", "soon")
    assert bad.exit_code == 1 and "is not a duration" in bad.stderr

    allowed = cli(harness, "apply", str(planfile), "--plan-max-age", "2d")
    assert allowed.exit_code == 0, allowed.stderr
    assert cli(harness, "plan", "-f", str(harness.config_path)).stdout.strip() == NO_CHANGES


def test_a_plan_file_without_a_plan_id_is_refused(harness: Harness) -> None:
    planfile = save_plan(harness)
    document = json.loads(planfile.read_text())
    document.pop("plan_id")  # as a plan file made by an earlier version
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    document["signature"] = KEYRING.sign(json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode())
    planfile.write_text(json.dumps(document))
    result = cli(harness, "apply", str(planfile))
    assert result.exit_code == 1
    assert "this plan file has no plan id (it was made by an older version of reconciler)" in result.stderr
