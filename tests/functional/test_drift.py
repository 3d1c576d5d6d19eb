"""``drift``: out-of-band changes reported in every format with exit 2, read-only, consistent during an apply.

Every scenario starts from the example configuration applied to a fresh database (SQLite, and PostgreSQL
when configured), changes the database behind reconciler's back with plain SQL, and reads the report the
way a CI job would: exit code, text, JSON, Markdown and JUnit XML.
"""

from __future__ import annotations

import json
import shutil
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from sqlalchemy import Connection, Engine, insert, inspect, select, text, update

from reconciler.backends.base import ApplyResult
from reconciler.backends.builtin import models
from reconciler.backends.builtin.db import create_engine_for
from reconciler.backends.builtin.executor import Executor
from reconciler.backends.registry import open_backend
from reconciler.cli import cli
from reconciler.crypto import Keyring, encrypt_metadata
from reconciler.workflow import apply_plan, load_desired, make_plan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MASTER_KEY = "4f" * 32
CRM_TOKEN = "crm-token-value-7f3a"  # a metadata value: must never appear in a report
FORMATS = ("text", "json", "markdown", "junit")


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECONCILER_MASTER_KEY", MASTER_KEY)
    monkeypatch.setenv("ACME_CRM_TOKEN", CRM_TOKEN)
    monkeypatch.setenv("RECONCILER_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.delenv("RECONCILER_DATABASE_URL", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A copy of the example configuration (with its CSV and secret file) that a test may edit."""
    target = tmp_path / "config"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("ci"))
    return target / "workspace.yaml"


def run(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--database", database_url, *args], catch_exceptions=False)


@pytest.fixture
def applied(database_url: str, config: Path) -> Iterator[Engine]:
    """The example configuration applied; an engine for the out-of-band changes."""
    result = run(database_url, "apply", "-f", str(config), "--auto-approve")
    assert result.exit_code == 0, result.output + result.stderr
    engine = create_engine_for(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


# --- reading the reports -------------------------------------------------------------------------------------


@dataclass
class Reports:
    exit_codes: dict[str, int]
    outputs: dict[str, str]

    @property
    def json(self) -> dict:
        return json.loads(self.outputs["json"])

    @property
    def junit(self) -> ET.Element:
        return parse_junit(self.outputs["junit"])


def drift_reports(database_url: str, config: Path, out_dir: Path) -> Reports:
    """``drift`` in every format: text/json/markdown on stdout, JUnit through --output (as CI does)."""
    codes, outputs = {}, {}
    out_dir.mkdir(exist_ok=True)
    for fmt in FORMATS:
        if fmt == "junit":
            report = out_dir / "drift.xml"
            report.unlink(missing_ok=True)
            result = run(database_url, "drift", "-f", str(config), "--format", "junit", "--output", str(report))
            outputs[fmt] = report.read_text(encoding="utf-8") if report.exists() else ""
        else:
            result = run(database_url, "drift", "-f", str(config), "--format", fmt)
            outputs[fmt] = result.stdout
        codes[fmt] = result.exit_code
        assert CRM_TOKEN not in result.output + result.stderr + outputs[fmt]
    return Reports(codes, outputs)


def parse_junit(document: str) -> ET.Element:
    """Parse and check the JUnit structure: testsuites > testsuite > testcase > failure | skipped, with
    ``tests``/``failures``/``skipped`` attributes that agree with the elements at every level."""
    root = ET.fromstring(document)
    assert root.tag == "testsuites"
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for suite in root:
        assert suite.tag == "testsuite"
        assert suite.get("name")
        cases = suite.findall("testcase")
        assert {child.tag for child in suite} <= {"testcase", "properties"}
        counts = {
            "tests": len(cases),
            "failures": sum(case.find("failure") is not None for case in cases),
            "skipped": sum(case.find("skipped") is not None for case in cases),
        }
        for case in cases:
            assert case.get("name") and case.get("classname") == suite.get("name")
            # system-out: a membership's expiry, a warn policy's finding (issue 18)
            assert {child.tag for child in case} <= {"failure", "skipped", "system-out"}
            assert len([child for child in case if child.tag != "system-out"]) <= 1
            failure = case.find("failure")
            if failure is not None:
                assert failure.get("type") in ("drift", "policy") and failure.get("message") and failure.text
        for key, value in counts.items():
            assert int(suite.get(key)) == value, (suite.get("name"), key)
            totals[key] += value
        assert suite.get("errors") == "0"
    for key, value in totals.items():
        assert int(root.get(key)) == value, key
    return root


def failed_cases(root: ET.Element) -> dict[str, str]:
    """name -> failure text of every test case failed by drift (not by a policy: :func:`policy_failures`)."""
    return {
        case.get("name"): (case.find("failure").text or "")
        for case in root.iter("testcase")
        if case.find("failure") is not None and case.find("failure").get("type") == "drift"
    }


def policy_failures(root: ET.Element) -> list[str]:
    """The test cases of the deny policies the database breaks (issue 18)."""
    return [
        str(case.get("name"))
        for case in root.iter("testcase")
        if case.find("failure") is not None and case.find("failure").get("type") == "policy"
    ]


# --- out-of-band changes -------------------------------------------------------------------------------------


def ids(conn: Connection, slug: str, email: str | None = None) -> tuple[str, str | None]:
    ws_id = conn.scalar(select(models.Workspace.id).where(models.Workspace.slug == slug))
    if email is None:
        return ws_id, None
    user_id = select(models.User.id).where(models.User.email == email).scalar_subquery()
    membership_id = conn.scalar(
        select(models.Membership.id).where(
            models.Membership.workspace_id == ws_id, models.Membership.user_id == user_id
        )
    )
    return ws_id, membership_id


def change_role(conn: Connection) -> None:
    """Carol, an end-user in the file, made a builder directly in the database."""
    _ws, mid = ids(conn, "acme", "carol@acme.example")
    conn.execute(update(models.Membership).where(models.Membership.id == mid).values(role="builder"))


def change_group_flag(conn: Connection) -> None:
    """The support group given apps.create in the database."""
    ws_id, _ = ids(conn, "acme")
    conn.execute(
        update(models.Group)
        .where(models.Group.workspace_id == ws_id, models.Group.name == "support")
        .values(app_create=True)
    )


def add_member(conn: Connection, slug: str = "acme", email: str = "mallory@elsewhere.example") -> None:
    """Someone added by hand (an admin, even) in the database."""
    ws_id, _ = ids(conn, slug)
    user_id = conn.scalar(
        insert(models.User).returning(models.User.id).values(email=email, first_name="Mallory", last_name="Moe")
    )
    conn.execute(
        insert(models.Membership).values(
            id=models.new_uuid(), workspace_id=ws_id, user_id=user_id, role="admin", status="active"
        )
    )


def change_metadata(conn: Connection) -> None:
    """Alice's metadata re-encrypted with the same key but another department."""
    _ws, mid = ids(conn, "acme", "alice@acme.example")
    new = {"department": "sales-secret-dept", "cost_center": "1010", "api_key": "demo-not-a-real-key"}
    blob = encrypt_metadata(Keyring(bytes.fromhex(MASTER_KEY)), mid, new)
    conn.execute(
        update(models.MembershipMetadata).where(models.MembershipMetadata.membership_id == mid).values(ciphertext=blob)
    )


@dataclass(frozen=True)
class Scenario:
    change: Callable[[Connection], None]
    address: str  # the drifted entity
    text: tuple[str, ...]  # lines of its text plan
    summary: dict[str, int]  # the non-zero counts of the JSON summary
    role_row: str | None = None  # the Markdown role change table row, if any


SCENARIOS = {
    "membership role": Scenario(
        change_role,
        "acme/user/carol@acme.example",
        ('~ user "carol@acme.example"', "~ role: builder -> end-user"),
        {"change": 1, "role_changes": 1},
        "| acme | carol@acme.example | builder | end-user | declared |",
    ),
    "group flag": Scenario(
        change_group_flag,
        "acme/group/support",
        ('~ group "support"', "~ permissions.apps.create: true -> false"),
        {"change": 1},
    ),
    "member added": Scenario(
        add_member,
        "acme/user/mallory@elsewhere.example",
        ('* user "mallory@elsewhere.example": archive (not in configuration, prune: archive',),
        {"archive": 1},
    ),
    "metadata": Scenario(
        change_metadata,
        "acme/user/alice@acme.example",
        ('~ user "alice@acme.example"', "~ metadata.department: (sensitive value changed)"),
        {"change": 1},
    ),
}


# --- the scenarios -----------------------------------------------------------------------------------------------


def test_a_clean_database_exits_0_in_every_format(
    applied: Engine, database_url: str, config: Path, tmp_path: Path
) -> None:
    reports = drift_reports(database_url, config, tmp_path / "reports")

    assert reports.exit_codes == dict.fromkeys(FORMATS, 0)
    assert reports.outputs["text"].strip() == "No changes. The database matches the configuration."
    assert reports.json["changes"] == [] and set(reports.json["summary"].values()) == {0}
    assert "No drift" in reports.outputs["markdown"]
    root = reports.junit
    assert root.get("failures") == "0"
    names = {case.get("name") for case in root.iter("testcase")}
    assert {"acme", "acme/role/builder", "acme/group/finance", "acme/user/grace@acme.example"} <= names
    assert {"acme-labs", "acme-labs/role/builder", "acme-labs/group/researchers"} <= names
    # one test case per managed entity: workspace, builder role, 6 + 2 groups, 8 + 3 memberships; and one per
    # policy checked: 3 top-level ones in each workspace, 2 of acme's own, 1 of acme-labs'
    assert root.get("tests") == str(2 + 2 + 8 + 11 + 9)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_an_out_of_band_change_is_drift_in_every_format(
    name: str, applied: Engine, database_url: str, config: Path, tmp_path: Path
) -> None:
    scenario = SCENARIOS[name]
    with applied.begin() as conn:
        scenario.change(conn)

    reports = drift_reports(database_url, config, tmp_path / "reports")

    assert reports.exit_codes == dict.fromkeys(FORMATS, 2)
    text_report = reports.outputs["text"]
    assert text_report.startswith("Drift detected")
    for line in scenario.text:
        assert line in text_report
    summary = reports.json["summary"]
    assert {k: v for k, v in summary.items() if v} == scenario.summary
    assert [change["address"] for change in reports.json["changes"]] == [scenario.address]
    markdown = reports.outputs["markdown"]
    assert markdown.startswith("### reconciler drift report") and len(markdown) < 60_000
    assert scenario.text[0][2:] in markdown  # the resource line, in the diff block
    if scenario.role_row:
        table = markdown.index("| workspace | user | from | to | cause |")
        assert scenario.role_row in markdown
        assert table < markdown.index("Full plan")  # role changes come first
    else:
        assert "Affected role changes" not in markdown
    root = reports.junit
    # an admin added by hand from another domain also breaks the example's admins-are-staff policy
    expected_policies = ["acme/policy/admins-are-staff"] if name == "member added" else []
    assert policy_failures(root) == expected_policies
    assert root.get("failures") == str(1 + len(expected_policies))
    failed = failed_cases(root)
    assert list(failed) == [scenario.address]
    for line in scenario.text:
        assert line in failed[scenario.address]


def test_metadata_values_are_never_reported(applied: Engine, database_url: str, config: Path, tmp_path: Path) -> None:
    with applied.begin() as conn:
        change_metadata(conn)
    reports = drift_reports(database_url, config, tmp_path / "reports")
    assert set(reports.exit_codes.values()) == {2}
    for output in reports.outputs.values():
        assert "metadata.department" in output or "department" in output
        assert "sales-secret-dept" not in output and "demo-not-a-real-key" not in output


def test_several_changes_fail_one_test_case_each(
    applied: Engine, database_url: str, config: Path, tmp_path: Path
) -> None:
    with applied.begin() as conn:
        for scenario in SCENARIOS.values():
            scenario.change(conn)
    reports = drift_reports(database_url, config, tmp_path / "reports")

    assert reports.exit_codes == dict.fromkeys(FORMATS, 2)
    root = reports.junit
    assert sorted(failed_cases(root)) == sorted(s.address for s in SCENARIOS.values())
    assert policy_failures(root) == ["acme/policy/admins-are-staff"]
    assert root.get("failures") == "5"
    assert reports.json["summary"]["role_changes"] == 1


def test_unmanaged_members_are_listed_but_are_not_drift(
    applied: Engine, database_url: str, config: Path, tmp_path: Path
) -> None:
    """acme-labs has prune: none: a member added by hand there is left alone and reported as unmanaged."""
    with applied.begin() as conn:
        add_member(conn, "acme-labs", "helper@acme.example")
    reports = drift_reports(database_url, config, tmp_path / "reports")

    assert reports.exit_codes == dict.fromkeys(FORMATS, 0)
    assert "Unmanaged (prune: none), left alone: 1" in reports.outputs["text"]
    assert "acme-labs/user/helper@acme.example" in reports.outputs["text"]
    assert reports.json["unmanaged"] == ["acme-labs/user/helper@acme.example"]
    assert "acme-labs/user/helper@acme.example" in reports.outputs["markdown"]
    root = reports.junit
    assert (root.get("failures"), root.get("skipped")) == ("0", "1")
    (skipped,) = [case for case in root.iter("testcase") if case.find("skipped") is not None]
    assert skipped.get("name") == "acme-labs/user/helper@acme.example"


def test_workspace_filter_and_output_file(applied: Engine, database_url: str, config: Path, tmp_path: Path) -> None:
    with applied.begin() as conn:
        change_role(conn)
    only_labs = run(database_url, "drift", "-f", str(config), "--workspace", "acme-labs")
    assert only_labs.exit_code == 0, only_labs.output

    out = tmp_path / "drift.md"
    result = run(database_url, "drift", "-f", str(config), "--format", "markdown", "--output", str(out))
    assert result.exit_code == 2
    assert result.stdout.startswith("Drift detected. Plan: 0 to add, 1 to change")
    assert f"Wrote the drift report to {out}." in result.stderr
    assert out.read_text(encoding="utf-8").startswith("### reconciler drift report")


def test_errors_exit_1(applied: Engine, database_url: str, config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nworkspaces:\n  - slug: acme\n    grups: []\n", encoding="utf-8")
    result = run(database_url, "drift", "-f", str(bad))
    assert result.exit_code == 1 and "Error:" in result.stderr

    result = run(database_url, "drift", "-f", str(config), "--workspace", "nope")
    assert result.exit_code == 1 and "--workspace nope" in result.stderr


# --- read-only ---------------------------------------------------------------------------------------------------


def database_dump(engine: Engine, database_url: str) -> object:
    """Everything the database holds: the file's bytes on SQLite, every row of every table on PostgreSQL."""
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database)
        return path.read_bytes(), sorted(p.name for p in path.parent.iterdir())
    with engine.connect() as conn:
        dump = {}
        for table in sorted(inspect(conn).get_table_names()):
            columns = [c["name"] for c in inspect(conn).get_columns(table)]
            order = ", ".join(f'"{c}"' for c in columns)
            dump[table] = [tuple(row) for row in conn.execute(text(f'SELECT * FROM "{table}" ORDER BY {order}'))]
        return dump


def test_drift_leaves_the_database_byte_for_byte_unchanged(
    applied: Engine, database_url: str, config: Path, tmp_path: Path
) -> None:
    with applied.begin() as conn:
        for scenario in SCENARIOS.values():
            scenario.change(conn)
    applied.dispose()  # no connection of ours is open while drift runs
    (tmp_path / "reports").mkdir()
    before = database_dump(applied, database_url)

    reports = drift_reports(database_url, config, tmp_path / "reports")
    assert set(reports.exit_codes.values()) == {2}

    applied.dispose()
    assert database_dump(applied, database_url) == before


def test_drift_never_creates_a_database(sqlite_url: str, config: Path, tmp_path: Path) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    result = run(sqlite_url, "drift", "-f", str(config))
    assert result.exit_code == 1
    assert "does not exist" in result.stderr
    assert not path.exists() and not Path(str(path) + ".key").exists()


def test_drift_never_initialises_an_empty_database(database_url: str, config: Path) -> None:
    engine = create_engine_for(database_url)
    if engine.dialect.name == "sqlite":
        Path(engine.url.database).touch()  # an empty file is an empty SQLite database
    try:
        result = run(database_url, "drift", "-f", str(config))
        assert result.exit_code == 1
        assert "no reconciler schema yet" in result.stderr
        with engine.connect() as conn:
            assert inspect(conn).get_table_names() == []
        if engine.dialect.name == "sqlite":
            assert Path(engine.url.database).stat().st_size == 0
    finally:
        engine.dispose()


# --- during an apply ---------------------------------------------------------------------------------------------


def edited_config(config: Path) -> Path:
    """The example with changes on both sides of the apply's midpoint (after metadata is written)."""
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    acme = document["workspaces"][0]
    users = {u["email"]: u for u in acme["users"]}
    users["carol@acme.example"]["role"] = "builder"  # promotion: before the midpoint
    users["alice@acme.example"]["metadata"]["department"] = "operations"  # metadata: at the midpoint
    users["dave@acme.example"]["groups"] = []  # group removal and demotion: after it
    acme["users"] = [u for u in acme["users"] if u["email"] != "bob@acme.example"]  # archive: after it
    acme["users"].append({"email": "new@acme.example", "first_name": "New", "role": "end-user"})  # creation
    target = config.with_name("edited.yaml")
    target.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return target


def test_drift_during_an_apply_sees_the_state_before_it(
    applied: Engine, database_url: str, config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edited = edited_config(config)
    expected = json.loads(run(database_url, "plan", "-f", str(edited), "--format", "json").stdout)
    assert expected["summary"]["role_changes"] == 2  # carol promoted, dave demoted
    assert expected["summary"]["archive"] == 1 and expected["summary"]["add"] == 2  # bob; new's account, membership

    halfway, resume = threading.Event(), threading.Event()
    original = Executor._write_metadata

    def write_metadata_then_wait(self: Executor, items: list) -> None:
        original(self, items)
        halfway.set()  # creations, promotions and metadata are written, not yet committed
        assert resume.wait(60), "the test never released the apply"

    monkeypatch.setattr(Executor, "_write_metadata", write_metadata_then_wait)
    keyring = Keyring(bytes.fromhex(MASTER_KEY))
    backend = open_backend("builtin", database_url)
    planned = make_plan(backend, load_desired(edited), keyring)
    outcome: dict[str, object] = {}

    def apply_in_background() -> None:  # the library, not CliRunner: it swaps sys.stdout for the process
        try:
            outcome["result"] = apply_plan(backend, planned.plan, keyring, actor="test", command="apply")
        except BaseException as exc:  # pragma: no cover - reported by the assertion below
            outcome["error"] = exc

    worker = threading.Thread(target=apply_in_background, daemon=True)
    worker.start()
    try:
        assert halfway.wait(60), f"the apply never reached its midpoint: {outcome}"
        before = run(database_url, "drift", "-f", str(config), "--format", "json")
        during = run(database_url, "drift", "-f", str(edited), "--format", "json")
    finally:
        resume.set()
        worker.join(60)
        backend.close()

    assert before.exit_code == 0, before.output + before.stderr  # the original configuration still matches
    assert json.loads(before.stdout)["changes"] == []
    assert during.exit_code == 2
    seen = json.loads(during.stdout)
    for key in ("changes", "role_changes", "summary", "state_fingerprint"):
        assert seen[key] == expected[key], key

    assert isinstance(outcome.get("result"), ApplyResult), outcome
    after = run(database_url, "drift", "-f", str(edited))
    assert after.exit_code == 0, after.stdout


# --- the renderers on their own ------------------------------------------------------------------------------------


def test_junit_escapes_hostile_names_and_reports_entities_the_database_adds() -> None:
    from reconciler import ops, state
    from reconciler.desired import DesiredState, DesiredWorkspace
    from reconciler.render.junit import render_junit

    hostile = 'evil\x1b[31m"<&>]]>'
    members = {"a@x.example": state.Membership("a@x.example", "admin", "active")}
    desired = DesiredState({"w": DesiredWorkspace(state.Workspace("w", "W", memberships=members))})
    plan = ops.Plan(
        ops=(
            ops.CreateApp(workspace="w", slug="crm", name="CRM"),
            ops.DestroyGroup(workspace="w", name=hostile, member_count=2),
            ops.ArchiveMembership(workspace="w", email="old@x.example", reason="not in configuration"),
        ),
        unmanaged=("w/group/kept",),
        workspaces=("w",),
    )
    root = parse_junit(render_junit(plan, desired, state.Snapshot()))
    names = [case.get("name") for case in root.iter("testcase")]
    assert names == [
        "w",
        "w/role/builder",
        "w/user/a@x.example",
        'w/group/evil\\x1b[31m"<&>]]>',
        "w/group/kept",
        "w/user/old@x.example",
    ]
    failed = failed_cases(root)
    assert failed["w"] == '+ app "crm" (CRM)'  # the registry belongs to the workspace's test case
    assert "(2 members lose it)" in failed['w/group/evil\\x1b[31m"<&>]]>']
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("6", "3", "1")


def test_the_markdown_report_stays_under_60000_characters() -> None:
    from reconciler import ops
    from reconciler.cli.drift import drift_markdown

    creates = tuple(
        ops.CreateMembership(workspace="w", email=f"user{i:05d}@x.example", role="end-user", status="invited")
        for i in range(5000)
    )
    changes = tuple(
        ops.RoleChange("w", f"user{i:05d}@x.example", "builder", "end-user", "declared") for i in range(2000)
    )
    updates = tuple(ops.UpdateMembership(workspace="w", email=change.email, role=change) for change in changes)
    report = drift_markdown(ops.Plan(creates + updates, changes, workspaces=("w",)), {"w": "W"})

    assert len(report) <= 60_000
    assert report.startswith("### reconciler drift report\n\n**Drift detected**")
    assert "| w | user00000@x.example | builder | end-user | declared |" in report
    assert "_Not shown: " in report and "of the role table" in report.splitlines()[-1]
