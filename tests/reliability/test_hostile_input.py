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
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import Harness, dedent
from rel_support import MASTER_KEY_HEX, MAX_RSS_MB, run_reconciler, subprocess_env

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
    "email": "o'brien_+x{y}@acme.example",  # % and \\ are not accepted in an email (issue 14)
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
    "a metadata key and value; `'`, `_`, `+` and braces in the email's local part",
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
        actor = "ci-" + "x" * 297
        result = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve", "--actor", actor)
        assert result.exit_code == 0, result.stderr
        harness.assert_in_sync()
        (recorded,) = [run.actor for run in harness.backend.history(5)]
        assert recorded == actor[:255]  # the audit row holds it, shortened to the column's 255 characters
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


# --- issue 14: one mistake, one error -----------------------------------------------------------------------

MAX_ERROR_BYTES = 4096  # what a bounded report of one repeated mistake takes (it took up to 10 MB)


def aliased_duplicates(n: int = 20_000) -> dict[str, bytes]:
    users = "      - &u {email: dup@acme.example, first_name: Dee, role: admin}\n" + "      - *u\n" * (n - 1)
    return {"hostile.yaml": f"version: 1\nworkspaces:\n  - slug: acme\n    name: Acme\n    users:\n{users}".encode()}


def invalid_roles(n: int = 25_000) -> dict[str, bytes]:
    users = "".join(f"      - {{email: u{i}@acme.example, first_name: U, role: editor}}\n" for i in range(n))
    head = "version: 1\nworkspaces:\n  - slug: acme\n    name: Acme\n    users:\n"
    return {"hostile.yaml": (head + "      - {email: a@acme.example, first_name: A, role: admin}\n" + users).encode()}


def groups_in_one_cell(n: int = 100_000) -> dict[str, bytes]:
    yaml_text = GOOD + "    users_csv: [people.csv]\n"
    cell = "|".join(f"g{i}" for i in range(n))
    csv_text = f'Full Name,Email,Role,Groups\nBo B,bo@acme.example,End User,"{cell}"\n'
    return {"hostile.yaml": yaml_text.encode(), "people.csv": csv_text.encode()}


REPEATED: dict[str, tuple[Callable[[], dict[str, bytes]], str]] = {
    "20,000 users sharing one YAML alias (one duplicate email)": (
        aliased_duplicates,
        "hostile.yaml: workspaces[*].users[*].email: ... and 19,994 more: Duplicate email found.",
    ),
    "25,000 invalid roles": (
        invalid_roles,
        "hostile.yaml: workspaces[*].users[*].role: ... and 24,995 more: 'editor' is not one of admin, builder, "
        "end-user",
    ),
    "a CSV Groups cell naming 100,000 unknown groups": (
        groups_in_one_cell,
        "people.csv: row *, column 'Groups': ... and 99,995 more: unknown group '...'",
    ),
}


@pytest.mark.parametrize("case", list(REPEATED))
@pytest.mark.reliability(
    area="Hostile input",
    fault="one mistake repeated many times: 20,000 users sharing one YAML alias with a duplicate email (3.5 MB of "
    "errors before), 25,000 invalid roles (100,000 printed 10 MB in 24 s), a CSV cell naming 100,000 unknown groups "
    "(50 s and 10 MB before)",
    outcome="`validate` exits 1 with the first five problems in full and one line counting the rest (`... and 19,994 "
    "more: Duplicate email found. ...`), stderr under 4 KB, in under 30 s and 300 MB of peak RSS",
    database="none (validate)",
)
def test_a_repeated_mistake_is_reported_once_with_a_count(
    tmp_path: Path, case: str, record_property: Callable[[str, object], None]
) -> None:
    make, summary = REPEATED[case]
    for name, content in make().items():
        (tmp_path / name).write_bytes(content)
    finished = run_reconciler(
        ["validate", "-f", str(tmp_path / "hostile.yaml")], env=subprocess_env(tmp_path), directory=tmp_path
    )
    assert finished.returncode == 1 and "Traceback" not in finished.stderr
    lines = finished.stderr.splitlines()
    assert len(lines) == 6, lines[:10]
    assert lines[-1].startswith(f"Error: {tmp_path}/{summary}"), lines[-1]
    assert len(finished.stderr) < MAX_ERROR_BYTES
    assert finished.seconds < MAX_SECONDS and finished.max_rss_mb < MAX_RSS_MB
    record_property("measured", f"{case}: {finished.seconds:.1f} s, {finished.max_rss_mb:.0f} MB")


# --- issue 14: files outside the configuration, special files, key files --------------------------------------


def workspace_reading(users_csv: str = "[]", metadata: str = "", settings: str = "{}") -> str:
    meta = f", metadata: {metadata}" if metadata else ""
    return (
        f"version: 1\nworkspaces:\n  - slug: acme\n    name: Acme\n    settings: {settings}\n    users:\n"
        f"      - {{email: alice@acme.example, first_name: Alice, role: admin{meta}}}\n    users_csv: {users_csv}\n"
    )


@pytest.mark.parametrize("target", ["/proc/self/environ", "/etc/passwd", "link-to-environ.csv"])
@pytest.mark.parametrize("command", ["validate", "plan"])
@pytest.mark.reliability(
    area="Hostile input",
    fault="`users_csv: [/proc/self/environ]`, `[/etc/passwd]`, or a committed link people.csv -> /proc/self/environ "
    "(validate and plan echoed the file's first row: the environment, master key included)",
    outcome="exit 1 with `CSV file ... is outside the configuration's directory ...` at the users_csv entry; nothing "
    "of the file (no master key, no passwd line) in stdout or stderr",
)
def test_users_csv_cannot_read_files_outside_the_configuration(
    populated: tuple[str, Path], tmp_path: Path, target: str, command: str
) -> None:
    url, _ = populated
    (tmp_path / "link-to-environ.csv").symlink_to("/proc/self/environ")
    (tmp_path / "hostile.yaml").write_text(workspace_reading(users_csv=f"[{target}]"))
    finished = run_reconciler(
        ["--database", url, command, "-f", str(tmp_path / "hostile.yaml")],
        env=subprocess_env(tmp_path),
        directory=tmp_path,
    )
    assert finished.returncode == 1
    assert (
        f"workspaces[0].users_csv[0]: CSV file '{target}' is outside the configuration's directory" in finished.stderr
    )
    assert MASTER_KEY_HEX not in finished.output and "5e5e5e5e" not in finished.output
    assert "root:x:0" not in finished.output and "PATH=" not in finished.output


SPECIAL: dict[str, tuple[str, str]] = {
    "-f naming a FIFO": ("-f fifo", "fifo.yaml: file is a FIFO (named pipe), not a regular file"),
    "a {file:} secret naming a FIFO": ("{file: fifo.txt}", "secret file 'fifo.txt' is a FIFO (named pipe)"),
    "a users_csv naming a FIFO": ("csv fifo.txt", "CSV file 'fifo.txt' is a FIFO (named pipe), not a regular file"),
    "a {file:} secret naming /dev/zero": ("{file: /dev/zero}", "secret file '/dev/zero' is a special file"),
    "a {file:} secret naming /dev/urandom": ("{file: /dev/urandom}", "secret file '/dev/urandom' is a special file"),
    "a {file:} secret naming a 2 GB file": ("{file: big.txt}", "the secret's value is longer than 2000 characters"),
    "-f naming a 2 GB file": ("-f big", "big.yaml: file is 2,147,483,648 bytes, larger than the limit"),
}


@pytest.mark.parametrize("case", list(SPECIAL))
@pytest.mark.reliability(
    area="Hostile input",
    fault="special files: `-f` or a `{file:}` secret or a users_csv naming a FIFO (plan hung forever), a `{file:}` "
    "secret naming /dev/zero or /dev/urandom (allowed by `secret_dirs: [/dev]`) or a 2 GB file, `-f` naming a 2 GB "
    "file (~1.5 GB of memory, then `internal error (MemoryError)`)",
    outcome="`plan` exits 1 at once with a located error naming the kind of file (`is a FIFO`, `is a special file`) "
    "or its size; no internal error; under 30 s and 300 MB of peak RSS",
)
def test_special_files_are_refused_before_reading(
    populated: tuple[str, Path], tmp_path: Path, case: str, record_property: Callable[[str, object], None]
) -> None:
    url, _ = populated
    how, expected = SPECIAL[case]
    os.mkfifo(tmp_path / "fifo.txt")
    os.mkfifo(tmp_path / "fifo.yaml")
    for name in ("big.txt", "big.yaml"):
        with (tmp_path / name).open("wb") as handle:
            handle.truncate(2 * 1024**3)  # sparse: no disk used
    config = tmp_path / "hostile.yaml"
    if how.startswith("-f "):
        config = tmp_path / f"{how[3:]}.yaml"
    elif how.startswith("csv "):
        config.write_text(workspace_reading(users_csv=f"[{how[4:]}]"))
    else:
        config.write_text(workspace_reading(metadata=f"{{k: {how}}}", settings="{secret_dirs: [/dev]}"))
    finished = run_reconciler(
        ["--database", url, "plan", "-f", str(config)], env=subprocess_env(tmp_path), directory=tmp_path, timeout=60
    )
    assert finished.returncode == 1, finished.output[-2000:]
    assert expected in finished.stderr, finished.stderr[:1000]
    assert "internal error" not in finished.output and "Traceback" not in finished.output
    assert finished.seconds < MAX_SECONDS and finished.max_rss_mb < MAX_RSS_MB
    record_property("measured", f"{case}: {finished.seconds:.1f} s, {finished.max_rss_mb:.0f} MB")


KEY_LEAKS = {
    "a committed workspace.yaml linking to the SQLite key file": ("workspace.yaml", "-f"),
    "a users_csv linking to the SQLite key file": ("people.csv", "csv"),
    "a users_csv that is an env file holding the master key": ("env.csv", "csv"),
}


@pytest.mark.parametrize("case", list(KEY_LEAKS))
@pytest.mark.reliability(
    area="Hostile input",
    fault="a committed `*.yaml` or users_csv symlink to the SQLite key file (the parse error showed 60 of its 64 hex "
    "digits), a users_csv that is an environment file holding the master key",
    outcome="exit 1 with `file looks like a key file ...` or `the first row is not a CSV header ... (its content is "
    "not shown)`; no run of the key's hex digits anywhere in the output",
    database="SQLite",
)
def test_nothing_of_a_key_file_is_shown(populated: tuple[str, Path], tmp_path: Path, case: str) -> None:
    url, _ = populated
    name, how = KEY_LEAKS[case]
    (tmp_path / "reconciler.db.key").write_text(MASTER_KEY_HEX + "\n")
    (tmp_path / "env.csv").write_text(f"RECONCILER_MASTER_KEY={MASTER_KEY_HEX}\nHOME=/root\n")
    if name != "env.csv":
        (tmp_path / name).symlink_to("reconciler.db.key")
    config = tmp_path / name if how == "-f" else tmp_path / "hostile.yaml"
    if how == "csv":
        config.write_text(workspace_reading(users_csv=f"[{name}]"))
    finished = run_reconciler(
        ["--database", url, "validate", "-f", str(config)], env=subprocess_env(tmp_path), directory=tmp_path
    )
    assert finished.returncode == 1
    assert "looks like a key file" in finished.stderr or "(its content is not shown)" in finished.stderr
    assert "5e5e5e5e" not in finished.output and "RECONCILER_MASTER_KEY" not in finished.output


# --- issue 14: identities, recipients, look-alike names, escaped errors -----------------------------------------


@pytest.mark.reliability(
    area="Hostile input",
    fault="the NFD spelling of `josé@acme.com` (e + U+0301) after an apply of the NFC spelling; the upper-case "
    "spelling",
    outcome="one user: the plan is empty (before: one user created and the other archived)",
)
def test_unicode_spellings_of_one_email_are_one_user(database_url: str, tmp_path: Path) -> None:
    harness = Harness(database_url, tmp_path)
    try:
        config = (
            "version: 1\nworkspaces:\n"
            "  - {{slug: acme, name: Acme, users: [{{email: {}, first_name: José, role: admin}}]}}\n"
        )
        harness.apply(config.format('"jos\\u00e9@acme.example"'))
        for spelling in ('"jose\\u0301@acme.example"', '"JOS\\u00c9@ACME.example"', '"JOSE\\u0301@acme.EXAMPLE"'):
            harness.write(config.format(spelling))
            result = harness.cli("plan", "-f", str(harness.config_path))
            assert result.exit_code == 0, result.output
            assert result.stdout.strip() == NO_CHANGES, spelling
        assert harness.rows("SELECT email FROM users") == [("jos\u00e9@acme.example",)]
    finally:
        harness.close()


DISGUISED = {
    "a CSV row whose email has a Kelvin sign (shadowing the YAML user kate@)": (
        "\u212aate@acme.example",
        "'<U+212A>ate@acme.example' is not a valid email address (it contains U+212A (KELVIN SIGN), which stands for "
        "the ASCII 'K'",
    ),
    "an email with a Cyrillic a": (
        "\u0430lice@acme.example",
        "mixes letters of different scripts (Cyrillic and Latin)",
    ),
    "309 dotted capital I that lower-case to 618 characters": ("\u0130" * 309 + "@acme.example", "U+0130"),
    "a recipient list (new.hire@acme.example,mallory)": ("new.hire@acme.example,mallory", "it contains ','"),
    "% routing (x@acme.example%evil.example)": ("x@acme.example%evil.example", "route mail through another host"),
    "an RFC 2047 encoded word": ("=?utf-8?q?eve?=@acme.example", "encoded word"),
}


@pytest.mark.parametrize("case", list(DISGUISED))
@pytest.mark.reliability(
    area="Hostile input",
    fault="CSV rows with disguised or injected addresses: a Kelvin sign (U+212A) shadowing the YAML user `kate@`, a "
    "Cyrillic `а`, 309 characters that lower-case to 618 (passed validate, failed at apply on PostgreSQL's "
    "320-character column), `new.hire@acme.example,mallory` (its invitation went to three RCPT TOs), `%` routing, "
    "an encoded word",
    outcome="`apply` exits 1 with the row located and the reason named; the database and the outbox unchanged",
    database="SQLite",
)
def test_disguised_and_injected_addresses_are_refused(populated: tuple[str, Path], tmp_path: Path, case: str) -> None:
    from rel_support import dump_of

    url, _ = populated
    address, reason = DISGUISED[case]
    (tmp_path / "people.csv").write_text(f'Full Name,Email,Role\nKate Impostor,"{address}",Admin\n', encoding="utf-8")
    (tmp_path / "hostile.yaml").write_text(
        GOOD + "      - {email: kate@acme.example, first_name: Kate, role: end-user}\n    users_csv: [people.csv]\n"
    )
    before = dump_of(url)
    finished = run_reconciler(
        ["--database", url, "apply", "-f", str(tmp_path / "hostile.yaml"), "--auto-approve"],
        env=subprocess_env(tmp_path),
        directory=tmp_path,
    )
    assert finished.returncode == 1
    [line] = finished.stderr.splitlines()
    assert line.startswith(f"Error: {tmp_path}/people.csv:2:2: row 2, column 'Email': ") and reason in line, line
    assert dump_of(url) == before and not (tmp_path / "outbox").exists()


@pytest.mark.reliability(
    area="Hostile input",
    fault="custom groups named like a role: `admın` (dotless i), `аdmin` (Cyrillic a), `builder` + U+200B, `End_User`",
    outcome="`apply` exits 1 with `... looks like the role name 'admin' ...` at each group; database unchanged",
    database="SQLite",
)
def test_look_alike_role_names_are_refused(populated: tuple[str, Path], tmp_path: Path) -> None:
    from rel_support import dump_of

    url, _ = populated
    names = ["adm\\u0131n", "\\u0430dmin", "builder\\u200b", "End_User"]
    groups = "".join(f'      - {{name: "{name}"}}\n' for name in names)
    (tmp_path / "hostile.yaml").write_text(GOOD + "    groups:\n" + groups)
    before = dump_of(url)
    finished = run_reconciler(
        ["--database", url, "apply", "-f", str(tmp_path / "hostile.yaml"), "--auto-approve"],
        env=subprocess_env(tmp_path),
        directory=tmp_path,
    )
    assert finished.returncode == 1
    roles = [line.split("looks like the role name ")[1][:10] for line in finished.stderr.splitlines()]
    assert roles == ["'admin' (l", "'admin' (l", "'builder' ", "'end-user'"]
    assert dump_of(url) == before


HOSTILE_STRINGS = {
    "an unknown key with an OSC title sequence": ('"\\e]0;PWNED\\aRED": 1', "\\x1b]0;PWNED\\x07RED"),
    "an unknown key with a C1 CSI": ('"x\\x9b31m": 1', "x\\x9b31m"),
    "an unknown key with a right-to-left override": ('"abc\\u202edcba": 1', "abc<U+202E>dcba"),
    "an unknown key with an isolate and a zero-width space": ('"a\\u2066b\\u200bc": 1', "a<U+2066>b<U+200B>c"),
}


@pytest.mark.parametrize("case", list(HOSTILE_STRINGS))
@pytest.mark.reliability(
    area="Hostile input",
    fault="terminal control in user strings echoed by errors: ESC ] ... BEL (window title), C1 `\\x9b`, bidi override "
    "U+202E, isolate U+2066, zero-width U+200B in an unknown key",
    outcome="the error shows them escaped (`\\x1b`, `\\x9b`, `<U+202E>`); no control, bidi or invisible character "
    "reaches stderr",
    database="none (validate)",
)
def test_errors_show_user_strings_escaped(tmp_path: Path, case: str) -> None:
    key, shown = HOSTILE_STRINGS[case]
    (tmp_path / "hostile.yaml").write_text(GOOD.replace("    name: Acme Corp\n", f"    name: Acme Corp\n    {key}\n"))
    finished = run_reconciler(
        ["validate", "-f", str(tmp_path / "hostile.yaml")], env=subprocess_env(tmp_path), directory=tmp_path
    )
    assert finished.returncode == 1
    assert f"unknown key '{shown}'" in finished.stderr, finished.stderr
    visible = finished.stderr.replace("\n", "")
    assert not [c for c in visible if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u202e\u2066\u200b"]
