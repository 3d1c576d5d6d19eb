"""Secrets (SPEC 6): known metadata values never appear anywhere but ``explain --reveal`` (and
``export --with-metadata``, which warns).

One workspace gets distinctive values ("canaries") from every source: a literal in the YAML, ``{env:}``,
``{file:}``, a bulk-invite CSV, then new values through a saved plan, then values that are planned but never
applied (drift). Every command runs, in every format, with and without ``--debug``, in-process with Python
logging at DEBUG (SQLAlchemy's engine logger included: statements, parameters and result rows), and the
commands that matter once more as real processes with ``--debug``. Everything is searched for each canary (as
is, JSON-escaped, base64 and hex) and for the master key: stdout, stderr, tracebacks, log records, every file
written (plan files, drift reports, exports, access reports, the outbox ``.eml`` files) and the raw database
(the SQLite file's bytes; every row of every table on PostgreSQL), audit rows included.

Positive controls prove the search works: ``explain --reveal`` and ``export --with-metadata`` do show the
values, and the ``.eml`` files do hold the invitation link.

Tampering: a flipped bit in a metadata blob, and plan files that were edited, unsigned, or signed with another
key, are refused with a clear one-line error, no traceback, nothing changed.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import logging
import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from rel_support import dump_text, run_reconciler, subprocess_env

from reconciler.backends.builtin.db import create_engine_for
from reconciler.cli import cli

KEY = "5e" * 32
NEW_KEY = "a7" * 32
OTHER_KEY = "c3" * 32
CANARIES = {
    "literal": "CANARY-literal-7f3a9e",
    "env": "CANARY-env-51c2e0",
    "file": "CANARY-file-a9d04b",
    "csv": "CANARY-csv-0b7e11",
    "bob": "CANARY-bob-3c8d2f",
    "changed": "CANARY-changed-6e1f90",
    "planned": "CANARY-planned-d24a07",
    "long": "CANARY-long-9a0b1c",
    "number": "918273645",
}
CONFIG = """\
version: 1
workspaces:
  - slug: acme
    name: Acme Corp
    apps: [{{slug: crm, name: CRM}}]
    users:
      - email: alice@acme.example
        first_name: Alice
        role: admin
        metadata:
          api_key: {literal}
          token: {{env: RELIABILITY_SECRET}}
          cert: {{file: secret.txt}}
      - email: bob@acme.example
        first_name: Bob
        role: builder
        metadata: {{pin: {bob}}}
    users_csv: [people.csv]
"""
CSV = (
    'First Name,Last Name,Email,User Role,Group,Metadata\nCarl,Csv,carl@acme.example,End User,,"{{""k"": ""{csv}""}}"\n'
)


INPUTS = frozenset({"config", "changed", "planned", "broken"})


def forms(value: str) -> list[str]:
    """The value as is, JSON-escaped, base64 and hex: a leak in any of these encodings is a leak."""
    return [value, json.dumps(value)[1:-1], base64.b64encode(value.encode()).decode(), value.encode().hex()]


@dataclass
class Evidence:
    """Every text the tool produced, by where it came from."""

    texts: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, text: str) -> None:
        self.texts[where] = self.texts.get(where, "") + text

    def leaks(self, secrets: dict[str, str]) -> list[str]:
        found = []
        for where, text in self.texts.items():
            for name, secret in secrets.items():
                if any(form in text for form in forms(secret)):
                    found.append(f"{name} in {where}")
        return found


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@pytest.fixture
def captured_logs() -> Iterator[LogCapture]:
    handler = LogCapture()
    root, engine_logger = logging.getLogger(), logging.getLogger("sqlalchemy.engine")
    levels = (root.level, engine_logger.level)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    engine_logger.setLevel(logging.DEBUG)  # what echo="debug" does: statements, parameters, rows
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        engine_logger.setLevel(levels[1])


@dataclass
class Session:
    url: str
    directory: Path
    evidence: Evidence
    key: str = KEY
    previous: str = ""

    def env(self) -> dict[str, str]:
        return {
            "RECONCILER_MASTER_KEY": self.key,
            "RECONCILER_PREVIOUS_KEYS": self.previous,
            "RECONCILER_OUTBOX_DIR": str(self.directory / "outbox"),
            "RECONCILER_BASE_URL": "https://tooljet.acme.example",
            "RELIABILITY_SECRET": CANARIES["env"],
            "NO_COLOR": "1",
        }

    def run(self, *args: str, expect: int | tuple[int, ...] = 0) -> Result:
        """Run in-process, then again with --debug; record stdout, stderr and any traceback of both."""
        expected = (expect,) if isinstance(expect, int) else expect
        result = None
        for debug in (False, True):
            argv = ["--database", self.url, *(["--debug"] if debug else []), *args]
            outcome = CliRunner().invoke(cli, argv, env=self.env(), catch_exceptions=True)
            label = " ".join(a if len(a) < 60 else "..." for a in args) + (" --debug" if debug else "")
            self.evidence.add(f"`{label}` stdout", outcome.stdout)
            self.evidence.add(f"`{label}` stderr", outcome.stderr)
            if outcome.exc_info and not isinstance(outcome.exception, SystemExit):
                self.evidence.add(f"`{label}` traceback", "".join(traceback.format_exception(*outcome.exc_info)))
            if not debug:
                assert outcome.exit_code in expected, f"{label}: {outcome.exit_code}\n{outcome.stderr}"
                assert "Traceback" not in outcome.stderr
                result = outcome
        assert result is not None
        return result

    def read_files(self) -> None:
        """Every file the tool wrote (the configuration directories are its input, not searched)."""
        for path in sorted(self.directory.rglob("*")):
            if path.relative_to(self.directory).parts[0] in INPUTS:
                continue
            if path.is_file() and path.suffix not in (".db", ".key") and "-journal" not in path.name:
                self.evidence.add(f"file {path.relative_to(self.directory)}", path.read_text("utf-8", "replace"))


def write_config(directory: Path, name: str = "config", **values: str) -> Path:
    canaries = CANARIES | values
    config_dir = directory / name
    config_dir.mkdir(exist_ok=True)
    (config_dir / "secret.txt").write_text(canaries["file"] + "\n", encoding="utf-8")
    (config_dir / "people.csv").write_text(CSV.format(**canaries), encoding="utf-8")
    path = config_dir / "workspace.yaml"
    path.write_text(CONFIG.format(**canaries), encoding="utf-8")
    return path


def raw_database(url: str) -> str:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.suffix != ".key").decode(
            "latin-1"
        )
    return dump_text(url)


# --- every command, every format -------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.reliability(
    area="Secrets",
    fault="metadata canaries from a literal, {env:}, {file:}, a CSV, a saved plan and an unapplied change; every "
    "command and format (validate, plan text/json/markdown/--out, apply -f and PLANFILE, drift x4 and --output, "
    "export, users table/json, explain text/json, history, report csv/json/html, invites send, invite-url, "
    "accept-invite with a bad token, keys rotate, db upgrade, schema, csv template, and error paths), each with "
    "and without --debug, Python and SQLAlchemy logging at DEBUG",
    outcome="no canary (plain, JSON-escaped, base64, hex) nor the master key in any stdout, stderr, traceback, log "
    "record, written file, .eml file, audit row or the raw database, no raw invitation token in the database; "
    "explain --reveal and export --with-metadata "
    "do show them (controls); the .eml files hold the invitation link",
)
def test_no_command_leaks_metadata(database_url: str, tmp_path: Path, captured_logs: LogCapture) -> None:
    evidence = Evidence()
    session = Session(database_url, tmp_path, evidence)
    config = write_config(tmp_path)
    out = tmp_path / "out"
    out.mkdir()

    session.run("validate", "-f", str(config))
    session.run("validate", "-f", str(config), "--resolve-secrets")
    for fmt in ("text", "json", "markdown"):
        session.run("plan", "-f", str(config), "--format", fmt)
    session.run("plan", "-f", str(config), "--out", str(out / "first-plan.json"))
    session.run("apply", "-f", str(config), "--auto-approve")
    session.run("apply", str(out / "first-plan.json"), expect=1)  # stale now

    changed = write_config(tmp_path, "changed", literal=CANARIES["changed"])
    session.run("plan", "-f", str(changed), "--out", str(out / "second-plan.json"))
    session.run("apply", str(out / "second-plan.json"))

    planned = write_config(tmp_path, "planned", literal=CANARIES["planned"])  # planned, never applied
    for fmt in ("text", "json", "markdown", "junit"):
        session.run("drift", "-f", str(planned), "--format", fmt, expect=2)
    session.run("drift", "-f", str(planned), "--format", "junit", "--output", str(out / "drift.xml"), expect=2)
    session.run("plan", "-f", str(planned), "--format", "json")

    session.run("export")
    session.run("export", "-o", str(out / "export.yaml"))
    for args in (("--workspace", "acme"), ("--all-workspaces",), ("--workspace", "acme", "--format", "json")):
        session.run("users", *args)
    for fmt in ("text", "json"):
        session.run("explain", "alice@acme.example", "--workspace", "acme", "--format", fmt)
    session.run("history")
    session.run("history", "--limit", "1")
    for fmt in ("csv", "json", "html"):
        session.run("report", "--workspace", "acme", "--format", fmt)
        session.run("report", "-f", str(planned), "--format", fmt, "-o", str(out / f"report.{fmt}"))
    session.run("invites", "send")
    session.run("invite-url", "bob@acme.example", "--workspace", "acme")
    session.run("accept-invite", "not-a-real-token", expect=1)
    session.run("db", "upgrade")
    session.run("schema")
    session.run("csv", "template")
    _error_paths(session, tmp_path)

    controls = _positive_controls(session)
    session.key, session.previous = NEW_KEY, KEY
    session.run("keys", "rotate")
    session.previous = ""
    session.run("plan", "-f", str(changed))
    session.run("users", "--workspace", "acme", "--format", "json")

    session.read_files()
    evidence.add("log records (DEBUG, sqlalchemy.engine included)", "\n".join(captured_logs.records))
    database = raw_database(database_url)
    evidence.add("raw database", database)
    tokens = _check_outbox(tmp_path / "outbox")
    assert not [t for t in tokens if t in database], "a raw invitation token is stored (only its hash may be)"

    secrets = {k: v for k, v in CANARIES.items() if k != "number"} | {"master key": KEY, "new master key": NEW_KEY}
    assert evidence.leaks(secrets) == [], "\n".join(evidence.leaks(secrets))
    assert len(captured_logs.records) > 100  # the logging really was on
    assert controls == {"explain --reveal": True, "export --with-metadata": True}


def _error_paths(session: Session, directory: Path) -> None:
    """Errors about a metadata value name its place, never the value."""
    broken = directory / "broken"
    broken.mkdir()
    cases = {
        "too-long.yaml": f"pin: {CANARIES['long']}{'x' * 2100}",
        "number.yaml": f"pin: {CANARIES['number']}",
        "undefined-env.yaml": "pin: {env: RELIABILITY_UNDEFINED}",
    }
    for name, entry in cases.items():
        path = broken / name
        path.write_text(
            "version: 1\nworkspaces:\n  - slug: acme\n    name: Acme Corp\n    users:\n"
            f"      - {{email: alice@acme.example, first_name: Alice, role: admin, metadata: {{{entry}}}}}\n",
            encoding="utf-8",
        )
        session.run("validate", "-f", str(path), "--resolve-secrets", expect=1)
        session.run("plan", "-f", str(path), expect=1)


def _positive_controls(session: Session) -> dict[str, bool]:
    """The search finds the values where they are meant to be shown (these outputs are not in the evidence)."""
    argv = ["--database", session.url, "explain", "alice@acme.example", "--workspace", "acme", "--reveal"]
    revealed = CliRunner().invoke(cli, argv, env=session.env(), catch_exceptions=False).stdout
    argv = ["--database", session.url, "export", "--with-metadata"]
    exported = CliRunner().invoke(cli, argv, env=session.env(), catch_exceptions=False).stdout
    return {
        "explain --reveal": CANARIES["changed"] in revealed and CANARIES["env"] in revealed,
        "export --with-metadata": CANARIES["file"] in exported and CANARIES["csv"] in exported,
    }


def _check_outbox(outbox: Path) -> list[str]:
    """Every .eml holds its invitation link; returns the raw tokens."""
    emails = sorted(outbox.glob("*.eml"))
    assert len(emails) >= 3  # alice, bob, carl
    tokens = []
    for path in emails:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(("plain",)).get_content()
        link = re.search(r"https://tooljet\.acme\.example/invitations/([\w-]{20,})\?oid=", body)
        assert link, path.name
        tokens.append(link[1])
    return tokens


def test_the_search_finds_every_encoding() -> None:
    evidence = Evidence()
    evidence.add("a", "x" + base64.b64encode(b"CANARY-1").decode())
    evidence.add("b", json.dumps({"v": 'CANARY-2 "quoted"'}))
    assert evidence.leaks({"one": "CANARY-1", "two": 'CANARY-2 "quoted"', "three": "CANARY-3"}) == [
        "one in a",
        "two in b",
    ]


@pytest.mark.reliability(
    area="Secrets",
    fault="a metadata value YAML reads as a number (`pin: 918273645`): validate and plan",
    outcome="a located error telling the user to quote the value, without printing the value",
    database="SQLite",
)
def test_an_error_about_a_metadata_value_does_not_echo_it(sqlite_url: str, tmp_path: Path) -> None:
    session = Session(sqlite_url, tmp_path, Evidence())
    _error_paths(session, tmp_path)
    assert session.evidence.leaks({"number": CANARIES["number"], "long": CANARIES["long"]}) == []


# --- real processes, --debug --------------------------------------------------------------------------------


@pytest.mark.reliability(
    area="Secrets",
    fault="real `reconciler --debug` processes: validate, plan (3 formats, --out), apply, drift, users, explain, "
    "export, and a plan whose metadata blob cannot be decrypted (traceback printed)",
    outcome="no canary nor the master key in any stdout or stderr, traceback included",
    database="SQLite",
)
def test_real_processes_with_debug_leak_nothing(sqlite_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = subprocess_env(tmp_path, RELIABILITY_SECRET=CANARIES["env"])
    base = ["--database", sqlite_url, "--debug"]
    commands = [
        ["validate", "-f", str(config), "--resolve-secrets"],
        ["plan", "-f", str(config), "--format", "json", "--out", str(tmp_path / "plan.json")],
        ["plan", "-f", str(config), "--format", "markdown"],
        ["apply", "-f", str(config), "--auto-approve"],
        ["drift", "-f", str(write_config(tmp_path, "planned", literal=CANARIES["planned"]))],
        ["users", "--workspace", "acme", "--format", "json"],
        ["explain", "alice@acme.example", "--workspace", "acme"],
        ["export"],
    ]
    outputs = [run_reconciler(base + args, env=env, directory=tmp_path) for args in commands]
    assert [o.returncode for o in outputs] == [0, 0, 0, 0, 2, 0, 0, 0], [o.stderr[-300:] for o in outputs]
    _flip_a_bit(sqlite_url)
    tampered = run_reconciler([*base, "plan", "-f", str(config)], env=env, directory=tmp_path)
    assert tampered.returncode == 1 and "Traceback" in tampered.stderr  # --debug shows the traceback
    evidence = Evidence({f"process {i}": o.output for i, o in enumerate([*outputs, tampered])})
    evidence.add("plan file", (tmp_path / "plan.json").read_text())
    assert evidence.leaks(CANARIES | {"master key": KEY}) == []


# --- tampering ------------------------------------------------------------------------------------------------


def _flip_a_bit(url: str, email: str = "alice@acme.example") -> str:
    """Flip one bit inside the ciphertext (not the nonce) of a membership's metadata blob; returns the original."""
    from sqlalchemy import text

    engine = create_engine_for(url)
    try:
        with engine.begin() as conn:
            membership, blob = conn.execute(
                text(
                    "SELECT md.membership_id, md.ciphertext FROM membership_metadata md JOIN memberships m "
                    "ON m.id = md.membership_id JOIN users u ON u.id = m.user_id WHERE u.email = :e"
                ),
                {"e": email},
            ).one()
            raw = bytearray(base64.b64decode(blob))
            raw[14] ^= 0x01
            conn.execute(
                text("UPDATE membership_metadata SET ciphertext = :c WHERE membership_id = :m"),
                {"c": base64.b64encode(bytes(raw)).decode(), "m": membership},
            )
    finally:
        engine.dispose()
    return blob


@pytest.mark.reliability(
    area="Secrets",
    fault="one bit flipped in a membership's metadata ciphertext, then plan, apply, drift, users, explain, export",
    outcome='each refuses with `the metadata of alice@acme.example in workspace "acme" could not be decrypted with '
    "the master key from RECONCILER_MASTER_KEY: most likely the key is wrong`, exit 1, no traceback, no value; "
    "nothing written",
)
def test_tampered_ciphertext_is_refused(database_url: str, tmp_path: Path) -> None:
    session = Session(database_url, tmp_path, Evidence())
    config = write_config(tmp_path)
    session.run("apply", "-f", str(config), "--auto-approve")
    _flip_a_bit(database_url)
    before = dump_text(database_url)
    for args in (
        ("plan", "-f", str(config)),
        ("apply", "-f", str(config), "--auto-approve"),
        ("drift", "-f", str(config)),
        ("users", "--workspace", "acme"),
        ("explain", "bob@acme.example", "--workspace", "acme"),
        ("export",),
    ):
        result = session.run(*args, expect=1)
        assert result.stderr.startswith(
            'Error: the metadata of alice@acme.example in workspace "acme" could not be decrypted with the master key '
            "from RECONCILER_MASTER_KEY: most likely the key is wrong"
        ), (args, result.stderr)
    assert dump_text(database_url) == before
    assert session.evidence.leaks(CANARIES) == []


@pytest.mark.parametrize("tampering", ["role edited", "metadata ciphertext edited", "signature removed", "other key"])
@pytest.mark.reliability(
    area="Secrets",
    fault="a signed plan file tampered with: an op edited, its encrypted metadata edited, its signature removed, "
    "or applied with another master key",
    outcome="`apply PLANFILE` refuses: `the plan file's signature does not verify: ...` (removed: `the plan file "
    "is not signed ...`); exit 1, no traceback; nothing changed",
)
def test_tampered_plan_files_are_refused(database_url: str, tmp_path: Path, tampering: str) -> None:
    session = Session(database_url, tmp_path, Evidence())
    session.run("apply", "-f", str(write_config(tmp_path)), "--auto-approve")
    plan_file = tmp_path / "plan.json"
    changed = write_config(tmp_path, "changed", literal=CANARIES["changed"], bob=CANARIES["planned"])
    changed.write_text(changed.read_text().replace("role: builder", "role: end-user"), encoding="utf-8")
    session.run("plan", "-f", str(changed), "--out", str(plan_file))
    document = json.loads(plan_file.read_text())
    assert "signature" in document and CANARIES["changed"] not in plan_file.read_text()
    updates = [op for op in document["ops"] if op["kind"] == "UpdateMembership"]
    if tampering == "role edited":
        role_op = next(op for op in updates if op["role"])
        role_op["role"]["new"] = "admin"
    elif tampering == "metadata ciphertext edited":
        meta_op = next(op for op in updates if op["metadata"])
        raw = bytearray(base64.b64decode(meta_op["metadata"]["ciphertext"]))
        raw[-1] ^= 0x80
        meta_op["metadata"]["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    elif tampering == "signature removed":
        del document["signature"]
    else:
        session.key = OTHER_KEY
    plan_file.write_text(json.dumps(document, indent=2), encoding="utf-8")
    before = dump_text(database_url)

    result = session.run("apply", str(plan_file), expect=1)

    expected = (
        "the plan file is not signed, so nothing shows that it is the plan that was reviewed"
        if tampering == "signature removed"
        else "the plan file's signature does not verify: it was edited or made with another key"
    )
    assert result.stderr.splitlines()[0] == f"Error: {expected}"
    assert dump_text(database_url) == before


# --- a lost master key ----------------------------------------------------------------------------------------


@pytest.mark.reliability(
    area="Secrets",
    fault="the master key is lost: commands run with a new key (and, on PostgreSQL, with none); queued invitation "
    "emails were encrypted with the old key",
    outcome="plan, apply, users, drift fail clearly (could not be decrypted / no master key), nothing written; "
    "`invites send` keeps the emails pending with the error; recovery as docs/security.md says (delete the blobs "
    "and pending emails with SQL, then apply the YAML under the new key, invite-url) leaves an empty plan",
)
def test_a_lost_master_key_fails_clearly_and_the_documented_recovery_works(database_url: str, tmp_path: Path) -> None:
    from sqlalchemy import text

    session = Session(database_url, tmp_path, Evidence())
    config = write_config(tmp_path)
    env = session.env
    session.env = lambda: env() | {"RECONCILER_SMTP_URL": "smtp://127.0.0.1:9?timeout=1"}  # type: ignore[method-assign]
    session.run("apply", "-f", str(config), "--auto-approve")  # the emails cannot be delivered: they stay pending
    session.key = NEW_KEY
    before = dump_text(database_url)
    for args in (
        ("plan", "-f", str(config)),
        ("apply", "-f", str(config), "--auto-approve"),
        ("users", "--all-workspaces"),
    ):
        assert "could not be decrypted" in session.run(*args, expect=1).stderr
    assert "could not be decrypted" in session.run("drift", "-f", str(config), expect=1).stderr
    pending = session.run("invites", "send", "--retries", "0", expect=1)
    assert "still pending" in pending.stderr and "could not be decrypted" in pending.stderr
    if not database_url.startswith("sqlite"):
        session.key = ""
        assert "no master key" in session.run("plan", "-f", str(config), expect=1).stderr
        session.key = NEW_KEY
    assert dump_text(database_url).count("pending") >= 3  # nothing written but the delivery attempts
    assert "membership_metadata" in before

    engine = create_engine_for(database_url)  # the recovery: forget what cannot be read any more
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM membership_metadata"))
            conn.execute(text("DELETE FROM outbox WHERE status = 'pending'"))
    finally:
        engine.dispose()
    session.run("apply", "-f", str(config), "--auto-approve")
    assert (
        session.run("plan", "-f", str(config)).stdout.strip() == "No changes. The database matches the configuration."
    )
    revealed = session.run("explain", "alice@acme.example", "--workspace", "acme", "--reveal").stdout
    assert CANARIES["literal"] in revealed and CANARIES["file"] in revealed
    link = session.run("invite-url", "bob@acme.example", "--workspace", "acme").stdout
    assert "/invitations/" in link
