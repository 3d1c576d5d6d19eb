"""The plan as a pull-request comment (SPEC 4, Markdown format).

Stage: render. Pure. The safety rails the plan breaks and its notes follow the summary; the affected role changes
(grants of new admins and builders included) come next, as a table, because they are what a reviewer must not
miss; the full text plan follows in a collapsed ``diff`` block, with each line's symbol moved to the first column
so GitHub colours it (``+`` green, ``-`` red, ``!`` for updates, renames and archives). A comment that would be
longer than ``limit`` loses lines from the end of the block (then of the table) and says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..ops import Plan
from .text import NO_CHANGES, PlanLine, escape_control, plan_lines, role_section_rows, summary_line

__all__ = ["DEFAULT_LIMIT", "TITLE", "render_markdown"]

DEFAULT_LIMIT = 60_000
TITLE = "### reconciler plan"
TRUNCATION_NOTE = "_Plan truncated: {count} more lines not shown. Run reconciler plan locally for the full output._"
_TABLE_HEAD = ["| workspace | user | from | to | cause |", "| --- | --- | --- | --- | --- |"]
WARNINGS_TITLE = "**Safety rails** (apply refuses this plan):"
MASS_CHANGE_NOTE = "apply needs --allow-mass-change"
NOTES_TITLE = "Notes:"
MAX_NOTES = 20
_DIFF_MARKERS = {"+": "+", "-": "-", "~": "!", ">": "!", "*": "!"}
# One pass over the text, so the backslashes it adds are not escaped again.
_CELL_SPECIAL = re.compile(r"([\\|`*_<>\[\]])")


def escape_cell(text: str) -> str:
    """A table cell, with Markdown punctuation (``|`` and backticks above all), control characters escaped."""
    return _CELL_SPECIAL.sub(r"\\\1", escape_control(text))


def _diff_line(line: PlanLine) -> str:
    rendered = line.render()
    if line.symbol is None:
        return rendered
    # Resource and detail lines are indented, so the first column is free for the marker.
    return _DIFF_MARKERS[line.symbol] + rendered[1:]


def _fence(lines: list[str]) -> str:
    """A code fence longer than any run of backticks inside, so a name cannot close it early."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


@dataclass(frozen=True)
class _Comment:
    head: list[str]
    table_rows: list[str]
    diff: list[str]

    def assemble(self, rows: int, diff_lines: int) -> str:
        parts = self._lines(rows, diff_lines)
        # Lines left out, the table's title and head included when no row is left.
        omitted = len(self._lines(len(self.table_rows), len(self.diff))) - len(parts)
        if omitted:
            parts += ["", TRUNCATION_NOTE.format(count=omitted)]
        return "\n".join(parts)

    def _lines(self, rows: int, diff_lines: int) -> list[str]:
        parts = [*self.head]
        if rows:
            parts += ["", "#### Affected role changes", "", *_TABLE_HEAD, *self.table_rows[:rows]]
        if self.diff:
            fence = _fence(self.diff)
            body = self.diff[:diff_lines]
            parts += [
                "",
                "<details><summary>Full plan</summary>",
                "",
                fence + "diff",
                *body,
                fence,
                "",
                "</details>",
            ]
        return parts


def _largest_fitting(low: int, high: int, fits: Callable[[int], bool]) -> int | None:
    """The largest n in [low, high] with fits(n), for a monotonic fits; None when even low does not fit."""
    if not fits(low):
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _truncate(comment: _Comment, limit: int) -> str:
    rows, diff = len(comment.table_rows), len(comment.diff)
    kept = _largest_fitting(0, diff, lambda n: len(comment.assemble(rows, n)) <= limit)
    if kept is not None:
        return comment.assemble(rows, kept)
    kept_rows = _largest_fitting(0, rows, lambda n: len(comment.assemble(n, 0)) <= limit)
    if kept_rows is None:
        raise ValueError(f"a limit of {limit} characters is too small for a plan comment")
    return comment.assemble(kept_rows, 0)


def render_markdown(plan: Plan, *, limit: int = DEFAULT_LIMIT, workspace_names: Mapping[str, str] | None = None) -> str:
    """The plan as a Markdown comment of at most ``limit`` characters; ``workspace_names`` as for text."""
    if plan.empty and not plan.unmanaged:
        return "\n".join([TITLE, "", NO_CHANGES, *_notices(plan)])
    summary = NO_CHANGES if plan.empty else f"**{summary_line(plan)}**"
    rows = ["| " + " | ".join(escape_cell(cell) for cell in row) + " |" for row in role_section_rows(plan)]
    comment = _Comment(
        [TITLE, "", summary, *_notices(plan)],
        rows,
        [_diff_line(line) for line in plan_lines(plan, workspace_names=workspace_names)],
    )
    full = comment.assemble(len(rows), len(comment.diff))
    return full if len(full) <= limit else _truncate(comment, limit)


def _notices(plan: Plan) -> list[str]:
    """The safety rails the plan breaks, then the notes, as Markdown lists (at most ``MAX_NOTES`` notes)."""
    lines: list[str] = []
    if plan.warnings:
        lines += ["", WARNINGS_TITLE, ""]
        for warning in plan.warnings:
            needs = f"; {MASS_CHANGE_NOTE}" if warning.rule == "mass-change" else ""
            lines.append(f"- `{warning.rule}`: {escape_cell(warning.message)}{needs}")
    if plan.notes:
        lines += ["", NOTES_TITLE, ""]
        lines += [f"- {escape_cell(note)}" for note in plan.notes[:MAX_NOTES]]
        if len(plan.notes) > MAX_NOTES:
            lines.append(f"- and {len(plan.notes) - MAX_NOTES} more (run reconciler plan to see them)")
    return lines
