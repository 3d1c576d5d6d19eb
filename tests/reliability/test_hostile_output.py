"""Hostile output (issue 14): user data reaches a reviewer's terminal as plain, visible text in every command.

Names are user data: they must never be read as rich markup (``[bold]``, ``[conceal]``) or reach the terminal as
control characters.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import Harness, config_yaml, dedent, workspace_yaml

MARKUP_NAMES = ["[bold]Mallory", "[/bold]", "[conceal]hidden[/conceal]", "[link=https://evil.example]x[/link]"]


@pytest.mark.parametrize("name", MARKUP_NAMES)
@pytest.mark.reliability(
    area="Hostile output",
    fault="user names holding rich markup: `[bold]`, `[/bold]`, `[conceal]...[/conceal]`, `[link=...]`",
    outcome="`users` prints them as written (no internal error, nothing hidden, no escape code)",
)
def test_users_shows_rich_markup_in_names_as_written(database_url: str, tmp_path: Path, name: str) -> None:
    """Before: `[/bold]` crashed `users` (internal error) and `[conceal]` hid the text."""
    harness = Harness(database_url, tmp_path)
    try:
        users = (
            "- {email: alice@acme.com, first_name: Alice, role: admin}\n"
            f"- {{email: bob@acme.com, first_name: {name!r}, last_name: '[red]x', role: end-user}}\n"
        )
        harness.apply(config_yaml(workspace_yaml(users=users)))
        result = harness.cli("users", "--workspace", "acme", "--no-color")
        assert result.exit_code == 0, result.output
        bob = next(line for line in result.stdout.splitlines() if "bob@acme.com" in line)
        assert f"{name} [red]x" in bob
        assert "\x1b" not in result.stdout
    finally:
        harness.close()


# --- every command, every format --------------------------------------------------------------------

ESC_TITLE = "\x1b]0;PWNED\x07"  # sets the terminal's title, then rings the bell
BREAKERS = " `|</details><script>x</script>[bold]"
# What the configuration may hold (validation refuses C0 controls in names): C1, bidi, zero-width, markup, breakers.
HOSTILE = f"\x9b31m\u202eevil\u2066\u200f\u061c\u200b\u2060\ufeff\ufffe{BREAKERS}"
HOSTILE_CONFIG = """
version: 1
workspaces:
  - slug: acme
    name: @WS@
    apps: [{slug: crm, name: @APP@}]
    data_sources: [{name: @DS@}]
    groups:
      - {name: @OPS@, permissions: {apps: {create: true}}, granular: {apps: [{access: edit, apps: [crm]}]}}
      - {name: @VIEW@, granular: {apps: [{access: view, apps: [crm]}]}}
    users:
      - {email: alice@acme.example, first_name: @A1@, last_name: @A2@, role: admin}
      - {email: bob@acme.example, first_name: @B1@, last_name: "```", role: end-user, groups: [@VIEW@]}
      - {email: carol@acme.example, first_name: Carol, role: builder, groups: [@OPS@]}
      - {email: dan@acme.example, first_name: Dan, role: end-user}
"""
VALUES = {
    "@WS@": "Acme" + HOSTILE,
    "@APP@": "CRM" + HOSTILE,
    "@DS@": "wh" + HOSTILE,
    "@OPS@": "ops\u202e`|</details>",
    "@VIEW@": "view\u200b[conceal]",
    "@A1@": "Alice" + HOSTILE,
    "@A2@": "| x | ``` </details>",
    "@B1@": "Bob\u2066\u202e",
}
# Allowed in the output: newlines; the CSV report's own line ends are \r\n.
UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufffe\uffff]"
)
ACTOR = f"mallory\x1b[8m{HOSTILE}"


def hostile_config() -> str:
    text = dedent(HOSTILE_CONFIG)
    for key, value in VALUES.items():
        text = text.replace(key, json.dumps(value))
    return text


def tamper_out_of_band(harness: Harness) -> None:
    """What no configuration may say, put in the database directly (a ToolJet admin's edit): ESC sequences in a
    workspace name, a group name, a user's name and an email; then the configuration differs from it."""
    harness.execute("UPDATE workspaces SET name = :name", name="Acme" + ESC_TITLE + "\x1b[2J" + HOSTILE)
    harness.execute(
        "UPDATE users SET first_name = :name, last_name = :last WHERE email = 'bob@acme.example'",
        name="Bob" + ESC_TITLE,
        last="\x1b[31m" + BREAKERS,
    )
    harness.execute(
        "UPDATE users SET email = :email WHERE email = 'dan@acme.example'", email="dan\x1b[8m\u202e@acme.example"
    )
    harness.execute("UPDATE groups SET name = :name WHERE name = :old", name="ops\x1b[2J\x07", old=VALUES["@OPS@"])


def commands(config: str, plan_file: str) -> dict[str, list[str]]:
    both = ["--workspace", "acme"]
    runs = {f"plan --format {f}": ["plan", "-f", config, "--format", f] for f in ("text", "json", "markdown")}
    runs |= {
        f"drift --format {f}": ["drift", "-f", config, "--format", f] for f in ("text", "json", "markdown", "junit")
    }
    for email in ("alice@acme.example", "bob@acme.example"):
        runs |= {f"explain {email} --format {f}": ["explain", email, *both, "--format", f] for f in ("text", "json")}
    runs |= {f"users --format {f}": ["users", *both, "--format", f] for f in ("table", "json")}
    runs |= {f"report --format {f}": ["report", "-f", config, "--format", f] for f in ("html", "csv", "json")}
    runs |= {f"history --format {f}": ["history", "--format", f] for f in ("text", "json")}
    runs |= {"export": ["export"], "show": ["show", plan_file]}
    return runs


def check_markdown(text: str) -> list[str]:
    """Fences and tables intact: every fence opened is closed by the same fence, no line inside starts one, every
    <details> is closed once, and every table row has its five cells."""
    problems = []
    lines = text.splitlines()
    fence = None
    for line in lines:
        if fence is None:
            opened = re.match(r"(`{3,})(\w*)$", line)
            if opened:
                fence = opened.group(1)
            elif line.startswith("|") and len(re.findall(r"(?<!\\)\|", line)) != 6:
                problems.append(f"table row broken: {line!r}")
        elif line == fence:
            fence = None
        elif line.startswith("```"):
            problems.append(f"a fence inside the code block: {line!r}")
    if fence is not None:
        problems.append("a code block is never closed")
    outside = re.sub(r"(?ms)^(`{3,})diff$.*?^\1$", "", text)
    if outside.count("<details>") != outside.count("</details>") or outside.count("</details>") > 1:
        problems.append("<details> broken")
    if "<script>" in outside:
        problems.append("raw <script> outside the code block")
    return problems


@pytest.mark.reliability(
    area="Hostile output",
    fault="workspace, app, data source, group and user names (and, out of band, an email and names) holding ESC/BEL "
    "sequences, C1 controls, bidi overrides and isolates, zero-width characters, U+FFFE, rich markup, backticks, "
    "`|`, `</details>` and `<script>`; an actor likewise",
    outcome="every command that prints user data (plan, drift, explain, users, report, history, export, show), in "
    "every format: no raw control, bidi or zero-width character on stdout or stderr; Markdown fences, details and "
    "tables intact; JUnit parses; JSON parses back to the stored names",
)
def test_no_command_prints_a_hostile_name_raw(database_url: str, tmp_path: Path) -> None:
    harness = Harness(database_url, tmp_path)
    try:
        harness.write(hostile_config())
        applied = harness.cli("apply", "-f", str(harness.config_path), "--auto-approve", "--actor", ACTOR)
        assert applied.exit_code == 0, applied.output
        tamper_out_of_band(harness)
        plan_file = tmp_path / "plan.json"
        saved = harness.cli("plan", "-f", str(harness.config_path), "--out", str(plan_file))
        assert saved.exit_code == 0 and "archive" in saved.stdout, saved.output  # the out-of-band edits show

        problems: list[str] = []
        outputs = {}
        for label, args in commands(str(harness.config_path), str(plan_file)).items():
            result = harness.cli(*args)
            assert result.exit_code in (0, 2), f"{label}: {result.output}"
            outputs[label] = result.stdout
            for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
                if label == "report --format csv":
                    text = text.replace("\r\n", "\n")
                found = sorted({f"U+{ord(c):04X}" for c in UNSAFE.findall(text)})
                if found:
                    problems.append(f"{label} ({stream}): raw {', '.join(found)}")
        for label in ("plan --format markdown", "drift --format markdown"):
            problems += [f"{label}: {p}" for p in check_markdown(outputs[label])]
        assert not problems, "\n".join(problems)

        suites = ET.fromstring(outputs["drift --format junit"])
        assert int(suites.get("failures")) > 0
        document = json.loads(outputs["plan --format json"])
        addresses = {change["address"] for change in document["changes"]}
        assert "acme/user/dan\x1b[8m\u202e@acme.example" in addresses  # JSON escapes, the data is intact
        assert json.loads(outputs["users --format json"])
        assert "<U+202E>" in outputs["plan --format text"] and "\\x1b" in outputs["plan --format text"]
        assert "\\x1b]0;PWNED\\x07" in outputs["explain bob@acme.example --format text"]
    finally:
        harness.close()
