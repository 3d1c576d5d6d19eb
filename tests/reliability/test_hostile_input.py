"""Hostile input: every bad file is refused by a real ``reconciler apply`` process with a clear located error, in
bounded time and memory, with the database untouched; strings full of SQL metacharacters are stored and read
back verbatim; names that look like spreadsheet formulas or email headers come out harmless.

Peak memory is the process's own (``os.wait4``), not the largest child's so far.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import Harness, dedent
from rel_support import MAX_RSS_MB, run_reconciler, subprocess_env

from reconciler.render.text import NO_CHANGES

MAX_SECONDS = 30  # generous for a loaded CI machine; they take about a second
GOOD = """
version: 1
workspaces:
  - slug: acme
    name: Acme Corp
    users:
      - {email: alice@acme.example, first_name: Alice, role: admin}
"""


def user_line(**fields: str) -> str:
    """A user entry in flow style; values are JSON strings (valid YAML double-quoted scalars)."""
    base = {"email": "alice@acme.example", "first_name": "Alice", "role": "admin"} | fields
    return "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in base.items()) + "}"


def workspace_with(user: str, name: str = "Acme Corp", extra: str = "") -> bytes:
    text = f"version: 1\nworkspaces:\n  - slug: acme\n    name: {json.dumps(name)}\n{extra}    users:\n      - {user}\n"
    return text.encode("utf-8")


def alias_bomb() -> bytes:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    return ("\n".join(lines) + "\nversion: 1\nworkspaces: *a9\n").encode()


CASES: dict[str, tuple[Callable[[], bytes], str]] = {
    "YAML alias bomb (billion laughs: 10^10 nodes)": (alias_bomb, "billion laughs"),
    "recursive alias": (lambda: b"version: 1\nworkspaces: &w [*w]\n", "recursive"),
    "10,000 nested flow sequences": (lambda: b"version: 1\nworkspaces: " + b"[" * 10_000 + b"]" * 10_000, "deeper"),
    "300 nested block mappings": (
        lambda: b"version: 1\nworkspaces:\n" + b"".join(b"  " * (i + 1) + b"k:\n" for i in range(300)),
        "deeper",
    ),
    "a 50 MB file": (lambda: GOOD.encode() + b"#" * 50_000_000 + b"\n", "larger than the limit"),
    "invalid UTF-8": (lambda: GOOD.encode().replace(b"Alice", b"Al\xff\xfece"), "invalid UTF-8 at byte offset"),
    "a raw NUL byte": (lambda: GOOD.encode().replace(b"Alice", b"Al\x00ice"), "U+0000 (NUL byte)"),
    "a raw control character (BEL)": (lambda: GOOD.encode().replace(b"Alice", b"Al\x07ice"), "U+0007"),
    "an ANSI escape sequence in a name (escaped)": (
        lambda: workspace_with(user_line(first_name="\x1b[31mAlice\x1b[0m")),
        "must not contain control characters",
    ),
    "an escaped NUL in the workspace name": (
        lambda: workspace_with(user_line(), name="Acme\x00Corp"),
        "must not contain control characters",
    ),
    "a 100,000-character first name": (
        lambda: workspace_with(user_line(first_name="A" * 100_000)),
        "longer than 255 characters",
    ),
    "a 1 MB email address": (lambda: workspace_with(user_line(email="a" * 1_000_000 + "@x.example")), "valid email"),
    "a 10,000-character group name": (
        lambda: workspace_with(user_line(), extra=f"    groups: [{{name: {'g' * 10_000}}}]\n"),
        "longer than 50 characters",
    ),
    "a 10,000-character metadata key": (
        lambda: workspace_with(user_line()[:-1] + f", metadata: {{? {'k' * 10_000} : v}}}}"),
        "longer than 255 characters",
    ),
    "a 3,000-character metadata value": (
        lambda: workspace_with(user_line()[:-1] + f", metadata: {{k: {'v' * 3000}}}}}"),
        "longer than 2,000 characters",
    ),
    "CR LF + Bcc header in a first name": (
        lambda: workspace_with(user_line(first_name="Bob\r\nBcc: eve@evil.example")),
        "must not contain control characters",
    ),
    "CR LF in an email address": (
        lambda: workspace_with(user_line(email="bob@acme.example\r\nBcc: eve@evil.example")),
        "valid email",
    ),
    "a python/object tag (code execution attempt)": (
        lambda: b"version: 1\nworkspaces: !!python/object/apply:os.system ['touch PWNED']\n",
        "unsupported tag",
    ),
    "two YAML documents in one file": (lambda: GOOD.encode() + b"---\n" + GOOD.encode(), "second YAML document"),
}


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A SQLite database with one applied workspace, shared by the rejected-input cases (none may change it)."""
    directory = tmp_path_factory.mktemp("hostile")
    url = f"sqlite:///{directory / 'reconciler.db'}"
    harness = Harness(url, directory)
    harness.apply(GOOD)
    harness.close()
    yield url, directory


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.reliability(
    area="Hostile input",
    fault="a configuration file with: a YAML alias bomb, a recursive alias, 10,000 nested sequences, 300 nested "
    "mappings, 50 MB, invalid UTF-8, a raw NUL, a raw control character, an ANSI escape, an escaped NUL, a "
    "100,000-character name, a 1 MB email, a 10,000-character group name or metadata key, a 3,000-character "
    "metadata value, CR LF + Bcc in a name or an email, a !!python/object tag, two documents",
    outcome="`reconciler apply --auto-approve` exits 1 with a located `Error: file:line:col: ...`, no traceback, "
    "in under 30 s and 300 MB of peak RSS, with stderr under 4 KB; every table unchanged; nothing executed",
    database="SQLite",
)
def test_a_hostile_file_is_refused_quickly_and_changes_nothing(
    populated: tuple[str, Path], tmp_path: Path, case: str, record_property: Callable[[str, object], None]
) -> None:
    from rel_support import dump_of

    url, _ = populated
    make, expected = CASES[case]
    path = tmp_path / "hostile.yaml"
    path.write_bytes(make())
    before = dump_of(url)

    finished = run_reconciler(
        ["--database", url, "apply", "-f", str(path), "--auto-approve"],
        env=subprocess_env(tmp_path),
        directory=tmp_path,
    )

    assert finished.returncode == 1, finished.output[-2000:]
    assert finished.stderr.startswith(f"Error: {path}"), finished.stderr[:500]
    assert expected in finished.stderr, finished.stderr[:1000]
    assert "Traceback" not in finished.stderr and finished.stdout == ""
    assert len(finished.stderr) < 4096  # a huge value is never echoed whole
    assert finished.seconds < MAX_SECONDS and finished.max_rss_mb < MAX_RSS_MB
    assert dump_of(url) == before
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()
    record_property("measured", f"{case}: {finished.seconds:.1f} s, {finished.max_rss_mb:.0f} MB")


# --- SQL metacharacters, verbatim -------------------------------------------------------------------------------

NASTY = "'; DROP TABLE users; --"
META = {
    "workspace": f"Acme {NASTY} \\ % _ \" ' `x`",
    "app": "100% _wild_ \\d+ 'q' \"qq\"",
    "data source": "ds'; DELETE FROM apps; -- %_\\",
    "group a": "a_c",  # a LIKE pattern for the next one
    "group b": "abc",
    "group c": "100%",
    "group d": "g'\"%_\\;--",
    "first name": f"Ro{NASTY}",
    "last name": 'O\'Brien \\\\ "%_"',
    "email": "o'brien%_+x\\y@acme.example",
    "metadata key": "key'; --%_\\",
    "metadata value": f"{NASTY} %_ \\ \" ' \u00e9 \U0001f600",
}


def nasty_config() -> str:
    q = {k: json.dumps(v, ensure_ascii=False) for k, v in META.items()}
    return dedent(
        f"""
        version: 1
        workspaces:
          - slug: acme
            name: {q["workspace"]}
            apps: [{{slug: crm, name: {q["app"]}}}]
            data_sources: [{{name: {q["data source"]}}}]
            groups:
              - {{name: {q["group a"]}, granular: {{apps: [{{access: view, apps: [crm]}}]}}}}
              - {{name: {q["group b"]}, granular: {{apps: [{{access: view, apps: [crm]}}]}}}}
              - name: {q["group c"]}
                granular: {{data_sources: [{{access: use, data_sources: [{q["data source"]}]}}]}}
              - {{name: {q["group d"]}}}
            users:
              - {{email: admin@acme.example, first_name: Ada, role: admin, groups: [{q["group b"]}]}}
              - email: {q["email"]}
                first_name: {q["first name"]}
                last_name: {q["last name"]}
                role: end-user
                groups: [{q["group a"]}, {q["group d"]}]
                metadata: {{{q["metadata key"]}: {q["metadata value"]}}}
        """
    )


@pytest.mark.reliability(
    area="Hostile input",
    fault="SQL metacharacters (`'; DROP TABLE users; --`, %, _, backslashes, quotes, emoji) in the workspace name, "
    "an app name, a data source name, group names (incl. LIKE look-alikes a_c/abc, 100%), first and last names, "
    "the email's local part, a metadata key and value",
    outcome="applied; every value read back verbatim from the tables (and metadata decrypted); group memberships "
    "exact; users --format json shows them verbatim; plan empty; all tables still there",
)
def test_sql_metacharacters_are_stored_verbatim(database_url: str, tmp_path: Path) -> None:
    harness = Harness(database_url, tmp_path)
    try:
        harness.write(nasty_config())
        result = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve")
        assert result.exit_code == 0, result.stderr
        email_address = META["email"].lower()
        assert harness.scalar("SELECT name FROM workspaces WHERE slug = 'acme'") == META["workspace"]
        assert harness.scalar("SELECT name FROM apps") == META["app"]
        assert harness.scalar("SELECT name FROM data_sources") == META["data source"]
        groups = {g for (g,) in harness.rows("SELECT name FROM groups WHERE kind = 'custom'")}
        assert groups == {META["group a"], META["group b"], META["group c"], META["group d"]}
        row = harness.rows("SELECT first_name, last_name FROM users WHERE email = :e", e=email_address)
        assert row == [(META["first name"], META["last name"])]
        assert harness.groups_of(email_address) == sorted([META["group a"], META["group d"]])
        assert harness.groups_of("admin@acme.example") == [META["group b"]]
        assert harness.metadata_of(email_address) == {META["metadata key"]: META["metadata value"]}
        listed = json.loads(harness.cli("users", "--workspace", "acme", "--format", "json").stdout)
        person = next(u for u in listed["users"] if u["email"] == email_address)
        assert (person["first_name"], person["last_name"]) == (META["first name"], META["last name"])
        harness.assert_in_sync()
        plan = harness.cli("plan", "-f", str(harness.config_path))
        assert plan.stdout.strip() == NO_CHANGES
        assert harness.scalar("SELECT count(*) FROM users") == 2
    finally:
        harness.close()


# --- formulas and headers ------------------------------------------------------------------------------------

FORMULAS = ["=cmd|' /C calc'!A0", "+1+2", "-3+4", "@SUM(A1:A9)", '=HYPERLINK("http://evil.example")']


@pytest.mark.reliability(
    area="Hostile input",
    fault="spreadsheet formulas (`=cmd|' /C calc'!A0`, +, -, @, =HYPERLINK) as first and last names",
    outcome="`report --format csv`: every cell starting with = + - @ is prefixed with '; `export` quotes them and "
    "export-then-plan is empty; `users --format json` carries them as JSON strings",
)
def test_formula_injection_in_names(database_url: str, tmp_path: Path) -> None:
    harness = Harness(database_url, tmp_path)
    try:
        users = "\n".join(
            f"      - {{email: f{i}@acme.example, first_name: {json.dumps(f)}, last_name: {json.dumps(f)}, "
            "role: end-user}"
            for i, f in enumerate(FORMULAS)
        )
        harness.write(
            "version: 1\nworkspaces:\n  - slug: acme\n    name: Acme\n    users:\n"
            "      - {email: admin@acme.example, first_name: Ada, role: admin}\n" + users + "\n"
        )
        assert harness.cli("apply", "-f", str(harness.config_path), "--auto-approve").exit_code == 0
        report = harness.cli("report", "--workspace", "acme", "--format", "csv")
        assert report.exit_code == 0, report.stderr
        rows = list(csv.reader(io.StringIO(report.stdout)))
        cells = [cell for row in rows[1:] for cell in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")], "a formula reached the CSV"
        for formula in FORMULAS:
            assert "'" + formula in cells
        exported = tmp_path / "export.yaml"
        assert harness.cli("export", "-o", str(exported)).exit_code == 0
        assert harness.cli("plan", "-f", str(exported)).stdout.strip() == NO_CHANGES
        listed = json.loads(harness.cli("users", "--workspace", "acme", "--format", "json").stdout)
        assert sorted(u["first_name"] for u in listed["users"]) == sorted([*FORMULAS, "Ada"])
    finally:
        harness.close()


LINE_BREAKS = {"U+2028": "\u2028", "U+2029": "\u2029", "U+0085 (NEL)": "\u0085"}


@pytest.mark.reliability(
    area="Hostile input",
    fault="Unicode line breaks (U+2028, U+2029, U+0085) followed by `Bcc: eve@evil.example` in a first name and in "
    "the workspace name (they pass the config's control-character check)",
    outcome="the invitation .eml has exactly one recipient, no Bcc header, and a single-line Subject",
    database="SQLite",
)
def test_header_injection_in_invitation_emails(sqlite_url: str, tmp_path: Path) -> None:
    harness = Harness(sqlite_url, tmp_path)
    try:
        users = "\n".join(
            f"      - {{email: h{i}@acme.example, first_name: {json.dumps('Eve' + br + 'Bcc: eve@evil.example')}, "
            "role: end-user}"
            for i, br in enumerate(LINE_BREAKS.values())
        )
        name = json.dumps("Acme\u2028Bcc: eve@evil.example")
        harness.write(
            f"version: 1\nworkspaces:\n  - slug: acme\n    name: {name}\n    users:\n"
            "      - {email: admin@acme.example, first_name: Ada, role: admin}\n" + users + "\n"
        )
        result = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve")
        assert result.exit_code == 0, result.stderr
        emails = sorted((tmp_path / "outbox").glob("*.eml"))
        assert len(emails) == 4
        for path in emails:
            raw = path.read_bytes()
            message = email.message_from_bytes(raw, policy=email.policy.default)
            assert message["Bcc"] is None and b"\nBcc:" not in raw, path.name
            assert len(message["To"].addresses) == 1
            assert "\n" not in str(message["Subject"])
    finally:
        harness.close()


@pytest.mark.reliability(
    area="Hostile input",
    fault="a 300-character --actor (e.g. a CI variable) on apply",
    outcome="the apply succeeds (the actor is recorded, shortened) and a fresh plan is empty",
)
def test_a_very_long_actor(database_url: str, tmp_path: Path) -> None:
    harness = Harness(database_url, tmp_path)
    try:
        harness.write(GOOD)
        result = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve", "--actor", "ci-" + "x" * 297)
        assert result.exit_code == 0, result.stderr
        harness.assert_in_sync()
    finally:
        harness.close()


@pytest.mark.reliability(
    area="Hostile input",
    fault="a 6.2 MB file whose flat list holds 3.1 million scalars (no aliases; under the 16 MB size limit)",
    outcome="refused with `document has more than 3,000,000 nodes` before anything is built, "
    "in under 30 s and 300 MB of peak RSS",
    database="SQLite",
)
def test_a_file_with_too_many_nodes_is_refused_within_bounds(populated: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = populated
    path = tmp_path / "many.yaml"
    path.write_bytes(b"version: 1\nworkspaces: []\nx: [" + b"a," * 3_100_000 + b"a]\n")
    finished = run_reconciler(
        ["--database", url, "validate", "-f", str(path)], env=subprocess_env(tmp_path), directory=tmp_path
    )
    assert finished.returncode == 1
    assert "more than 3,000,000 nodes" in finished.stderr, finished.stderr[:300]
    assert finished.seconds < MAX_SECONDS and finished.max_rss_mb < MAX_RSS_MB
