"""The plan as a pull-request comment (SPEC 4, Markdown format).

Stage: render. Pure. The safety rails the plan breaks and its notes follow the summary; the affected role changes
(grants of new admins and builders included) come next, as a table, then every change of a workspace, of the
builder role and of a group (permissions and grants), in a ``diff`` block: what a reviewer must not miss, always in
full. The full text plan follows in a collapsed ``diff`` block, with each line's symbol moved to the first column
so GitHub colours it (``+`` green, ``-`` red, ``!`` for updates, renames and archives). A comment that would be
longer than ``limit`` replaces the full plan with the other (member-level and registry) changes, whole ops from the
end dropped, and says what it left out by kind and count (``Not shown: 4,100 member changes (3,000 new members,
1,100 updates), 60 archives``); the role and group changes, then the table, are cut only when nothing else is left.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .. import ops
from ..ops import Op, Plan
from .governance import markdown_sections
from .text import (
    NO_CHANGES,
    PlanLine,
    escape_control,
    op_lines,
    plan_lines,
    quote,
    role_section_rows,
    summary_line,
    workspace_names_of,
)

__all__ = ["DEFAULT_LIMIT", "TITLE", "render_markdown"]

DEFAULT_LIMIT = 60_000
TITLE = "### reconciler plan"
TRUNCATION_HINT = "Run reconciler plan locally for the full output."
_TABLE_HEAD = ["| workspace | user | from | to | cause |", "| --- | --- | --- | --- | --- |"]
WARNINGS_TITLE = "**Safety rails** (apply refuses this plan):"
MASS_CHANGE_NOTE = "apply needs --allow-mass-change"
NEEDS = {"mass-change": MASS_CHANGE_NOTE, "removals": "apply needs --allow-removals"}  # rails an option lifts
SEAT_WARNINGS_TITLE = "**Seat limits exceeded (not raised by this plan):**"
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


# Ops a reviewer must always see in full: workspaces, the builder role and groups (their permissions and grants).
_ESSENTIAL = (
    ops.CreateWorkspace,
    ops.UpdateWorkspace,
    ops.ArchiveWorkspace,
    ops.UnarchiveWorkspace,
    ops.UpdateBuilderRole,
    ops.CreateGroup,
    ops.UpdateGroup,
    ops.RenameGroup,
    ops.DestroyGroup,
    ops.TransferApps,
)
# How the note names what a truncated comment leaves out: member changes first (new members and updates), then
# the rest by kind.
_MEMBER_KINDS = {ops.CreateMembership: "new member", ops.UpdateMembership: "update"}
_OTHER_KINDS = {
    ops.ArchiveMembership: "archive",
    ops.UnarchiveMembership: "unarchive",
    ops.CreateUser: "new user account",
    ops.UpdateUser: "user account update",
    ops.CreateApp: "new app",
    ops.UpdateApp: "app update",
    ops.CreateDataSource: "new data source",
}


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def dropped_note(dropped: list[Op], *, rows: int = 0, lines: int = 0) -> str:
    """``Not shown: 4,100 member changes (3,000 new members, 1,100 updates), 60 archives.``"""
    kinds = Counter(type(op) for op in dropped)
    parts = []
    members = sum(kinds[cls] for cls in _MEMBER_KINDS)
    if members:
        detail = ", ".join(_count(kinds[cls], noun) for cls, noun in _MEMBER_KINDS.items() if kinds[cls])
        parts.append(f"{_count(members, 'member change')} ({detail})")
    parts += [_count(kinds[cls], noun) for cls, noun in _OTHER_KINDS.items() if kinds[cls]]
    if lines:
        parts.append(_count(lines, "line") + " of role and group changes")
    if rows:
        parts.append(_count(rows, "row") + " of the role table")
    return f"_Not shown: {', '.join(parts)}. {TRUNCATION_HINT}_"


@dataclass(frozen=True)
class _Comment:
    head: list[str]
    table_rows: list[str]
    essential: list[str]  # the role and group changes, always in full unless nothing else fits
    full: list[str]  # the whole text plan, when it fits
    others: list[tuple[Op, list[str]]]  # when it does not: every other op with its lines, in plan order

    def assemble(self, rows: int, essential: int, others: int | None) -> str:
        """The comment with the first ``rows`` table rows and ``essential`` lines of role and group changes;
        ``others`` None: the full plan, else the first ``others`` of the other ops, and a note on the rest."""
        parts = [*self.head]
        if rows:
            parts += ["", "#### Affected role changes", "", *_TABLE_HEAD, *self.table_rows[:rows]]
        if essential:
            parts += ["", "#### Role and group changes", "", *_fenced(self.essential[:essential])]
        if others is None:
            if self.full:
                parts += ["", "<details><summary>Full plan</summary>", "", *_fenced(self.full), "", "</details>"]
            return "\n".join(parts)
        body = [line for _, lines in self.others[:others] for line in lines]
        if body:
            summary = f"Other changes (the first {others:,} of {len(self.others):,})"
            parts += ["", f"<details><summary>{summary}</summary>", "", *_fenced(body), "", "</details>"]
        dropped = [op for op, _ in self.others[others:]]
        parts += [
            "",
            dropped_note(dropped, rows=len(self.table_rows) - rows, lines=len(self.essential) - essential),
        ]
        return "\n".join(parts)


def _fenced(lines: list[str]) -> list[str]:
    fence = _fence(lines)
    return [fence + "diff", *lines, fence]


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
    """Member-level lines go first, whole ops from the end; then (only when nothing else is left) the role and
    group changes, then the role table, from their ends."""
    rows, essential = len(comment.table_rows), len(comment.essential)

    def fits(r: int, e: int, o: int) -> bool:
        return len(comment.assemble(r, e, o)) <= limit

    kept = _largest_fitting(0, len(comment.others), lambda n: fits(rows, essential, n))
    if kept is not None:
        return comment.assemble(rows, essential, kept)
    kept = _largest_fitting(0, essential, lambda n: fits(rows, n, 0))
    if kept is not None:
        return comment.assemble(rows, kept, 0)
    kept_rows = _largest_fitting(0, rows, lambda n: fits(n, 0, 0))
    if kept_rows is None:
        raise ValueError(f"a limit of {limit} characters is too small for a plan comment")
    return comment.assemble(kept_rows, 0, 0)


def _essential_lines(plan: Plan, names: Mapping[str, str]) -> list[str]:
    lines: list[str] = []
    for slug in dict.fromkeys(op.workspace for op in plan.ops if isinstance(op, _ESSENTIAL)):
        lines.append(_workspace_header(slug, names))
        block = [op for op in plan.for_workspace(slug) if isinstance(op, _ESSENTIAL)]
        block.sort(key=lambda op: not isinstance(op, _ESSENTIAL[:4]))  # the workspace itself first
        lines += [_diff_line(line) for op in block for line in op_lines(op)]
    return lines


def _other_ops(plan: Plan, names: Mapping[str, str]) -> list[tuple[Op, list[str]]]:
    """Every other op with its diff lines, grouped by workspace; the first of each workspace carries its header."""
    others: list[tuple[Op, list[str]]] = []
    for slug in dict.fromkeys(op.workspace for op in plan.ops):
        header = [_workspace_header(slug, names)]
        for op in plan.for_workspace(slug):
            if not isinstance(op, _ESSENTIAL):
                others.append((op, [*header, *(_diff_line(line) for line in op_lines(op))]))
                header = []
    return others


def _workspace_header(slug: str, names: Mapping[str, str]) -> str:
    name = names.get(slug)
    return escape_control(f"workspace {quote(slug)}" + (f" ({name})" if name else ""))


def render_markdown(plan: Plan, *, limit: int = DEFAULT_LIMIT, workspace_names: Mapping[str, str] | None = None) -> str:
    """The plan as a Markdown comment of at most ``limit`` characters; ``workspace_names`` as for text."""
    if plan.empty and not plan.unmanaged and not plan.ceded:
        return "\n".join([TITLE, "", NO_CHANGES, *_notices(plan)])
    summary = NO_CHANGES if plan.empty else f"**{summary_line(plan)}**"
    rows = ["| " + " | ".join(escape_cell(cell) for cell in row) + " |" for row in role_section_rows(plan)]
    names = workspace_names_of(plan, workspace_names)
    comment = _Comment(
        [TITLE, "", summary, *_notices(plan)],
        rows,
        _essential_lines(plan, names),
        [_diff_line(line) for line in plan_lines(plan, workspace_names=workspace_names)],
        _other_ops(plan, names),
    )
    full = comment.assemble(len(rows), len(comment.essential), None)
    return full if len(full) <= limit else _truncate(comment, limit)


def _notices(plan: Plan) -> list[str]:
    """The safety rails the plan breaks, then the notes, as Markdown lists (at most ``MAX_NOTES`` notes)."""
    lines: list[str] = []
    if plan.warnings:
        lines += ["", WARNINGS_TITLE, ""]
        for warning in plan.warnings:
            needs = f"; {NEEDS[warning.rule]}" if warning.rule in NEEDS else ""
            lines.append(f"- `{warning.rule}`: {escape_cell(warning.message)}{needs}")
    if plan.seat_warnings:  # seat limits the plan leaves exceeded without raising them (issue 16)
        lines += ["", SEAT_WARNINGS_TITLE, ""]
        lines += [f"- {escape_cell(line)}" for line in plan.seat_warnings]
    if plan.notes:
        lines += ["", NOTES_TITLE, ""]
        lines += [f"- {escape_cell(note)}" for note in plan.notes[:MAX_NOTES]]
        if len(plan.notes) > MAX_NOTES:
            lines.append(f"- and {len(plan.notes) - MAX_NOTES} more (run reconciler plan to see them)")
    return lines + markdown_sections(plan, escape_cell)
