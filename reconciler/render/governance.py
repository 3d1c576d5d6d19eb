"""The governance sections of a plan (issue 18): policy results and access that expires soon.

Stage: render. Pure. The text plan and the drift report end with these sections, the Markdown comment lists them
after its summary (never truncated), the JSON plan carries them as data (``policy_results``, ``expiring``).
Nothing is printed when there is nothing to say: when every policy passes and nothing expires soon, the text and
Markdown plans look as they always did (``No changes.`` stays one line); the JSON plan always lists the results.
"""

from __future__ import annotations

from collections.abc import Callable

from ..hygiene import describe_finding
from ..ops import Plan
from ..policies import PolicyResult

POLICIES_TITLE = "Policies"
EXPIRING_TITLE = "Expiring within {window}"
HYGIENE_TITLE = "Access hygiene (not drift)"


def policy_summary(results: tuple[PolicyResult, ...]) -> str:
    """``Policies: 6 checked, 5 passed, 1 warning.`` (``denied`` counts broken deny policies)."""
    failed_warn = sum(1 for r in results if not r.passed and r.level == "warn")
    failed_deny = sum(1 for r in results if not r.passed and r.level == "deny")
    parts = [f"{len(results)} checked", f"{len(results) - failed_warn - failed_deny} passed"]
    if failed_warn:
        parts.append(f"{failed_warn} warning{'s' if failed_warn != 1 else ''}")
    if failed_deny:
        parts.append(f"{failed_deny} denied")
    return f"{POLICIES_TITLE}: {', '.join(parts)}."


def result_text(result: PolicyResult) -> str:
    """``DENY sod (lab): Payments need two people: bob@x holds a, b``."""
    verdict = "DENY" if result.level == "deny" else "WARN"
    return f"{verdict} {result.policy} ({result.workspace}): {result.message}: {result.detail}"


def text_sections(plan: Plan) -> list[str]:
    """The policy and expiry sections as plain lines (the caller escapes them and adds the blank lines)."""
    lines: list[str] = []
    if _broken(plan):
        lines.append(policy_summary(plan.policy_results))
        lines += ["  " + result_text(r) for r in plan.policy_results if not r.passed]
    if plan.expiring:
        if lines:
            lines.append("")
        lines.append(EXPIRING_TITLE.format(window=plan.expiring_window or "the window") + f": {len(plan.expiring)}")
        rows = [(a.workspace, a.email, a.group or "(membership)", a.expires) for a in plan.expiring]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines += [
            "  " + "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
            for row in rows
        ]
    if plan.hygiene:
        if lines:
            lines.append("")
        lines.append(f"{HYGIENE_TITLE}: {len(plan.hygiene)}")
        lines += [f"  {f.workspace}  {f.email}  {describe_finding(f)}" for f in plan.hygiene]
    return lines


def markdown_sections(plan: Plan, cell: Callable[[str], str]) -> list[str]:
    """The same as Markdown tables; ``cell`` escapes a table cell."""
    lines: list[str] = []
    if _broken(plan):
        lines += ["", f"**{policy_summary(plan.policy_results)}**"]
        broken = [r for r in plan.policy_results if not r.passed]
        if broken:
            lines += ["", "| policy | level | workspace | rule | found |", "| --- | --- | --- | --- | --- |"]
            lines += [
                f"| `{cell(r.policy)}` | {r.level} | {cell(r.workspace)} | {cell(r.message)} | {cell(r.detail)} |"
                for r in broken
            ]
    if plan.expiring:
        title = EXPIRING_TITLE.format(window=plan.expiring_window or "the window")
        lines += ["", f"**{title}** (revoked by the first apply after it ends):", ""]
        lines += ["| workspace | user | group | expires |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {cell(a.workspace)} | {cell(a.email)} | {cell(a.group) or '(membership)'} | {cell(a.expires)} |"
            for a in plan.expiring
        ]
    if plan.hygiene:
        lines += ["", f"**{HYGIENE_TITLE}**:", "", "| workspace | user | finding |", "| --- | --- | --- |"]
        lines += [f"| {cell(f.workspace)} | {cell(f.email)} | {cell(describe_finding(f))} |" for f in plan.hygiene]
    return lines


def _broken(plan: Plan) -> bool:
    return any(not result.passed for result in plan.policy_results)
