"""The text plan of SPEC section 4: what ``plan`` and ``apply`` print.

Stage: render. Pure: a Plan in, a string out. ``op_lines`` (core, ``reconciler/op_lines.py``) turns each op
into lines; ``plan_lines`` lays the blocks out and ``render_text`` joins them, with colour only when asked.
Metadata values are never read here: only ``metadata_keys`` and ``metadata_changes``.
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import ops
from ..op_lines import PlanLine, format_value, op_lines, quote, role_change_text
from ..ops import Op, Plan
from ..safetext import escape, escape_json
from .governance import text_sections

__all__ = [
    "NO_CHANGES",
    "PlanLine",
    "escape_control",
    "escape_json",
    "format_value",
    "op_lines",
    "plan_lines",
    "quote",
    "render_text",
    "role_change_text",
    "summary_line",
]

NO_CHANGES = "No changes. The database matches the configuration."
HEADER = "reconciler will perform the following actions:"
ROLE_CHANGES_TITLE = "Affected role changes:"
UNMANAGED_TITLE = "Unmanaged (prune: none), left alone: {count}"
CEDED_TITLE = "Ceded to other writers (settings.ignore, members: external, settings.manage), not drift: {count}"


def escape_control(text: str) -> str:
    """``text`` with every character a reader would not see as itself made visible (see ``safetext.escape``)."""
    return escape(text)


def _plain(text: str, indent: int = 0) -> PlanLine:
    return PlanLine(indent, None, escape_control(text))


# --- layout -----------------------------------------------------------------------------------------


def summary_line(plan: Plan) -> str:
    """``Plan: 3 to add, 2 to change, 1 to destroy, 1 to archive. 2 role changes.`` or the no-changes line."""
    if plan.empty:
        return NO_CHANGES
    counts = plan.summary
    parts = [f"{counts['add']} to add", f"{counts['change']} to change", f"{counts['destroy']} to destroy"]
    parts += [f"{counts[key]} to {key}" for key in ("rename", "archive", "unarchive") if counts[key]]
    return f"Plan: {', '.join(parts)}. {_role_counts(counts)}."


def _role_counts(counts: Mapping[str, int]) -> str:
    """``2 role changes``, then ``, 1 new privileged member`` when admins or builders are added (grants)."""
    roles, grants = counts["role_changes"], counts["grants"]
    text = f"{roles} role change{'' if roles == 1 else 's'}"
    if grants:
        text += f", {grants} new privileged member{'' if grants == 1 else 's'}"
    return text


PAST = {
    "add": "added",
    "change": "changed",
    "destroy": "destroyed",
    "rename": "renamed",
    "archive": "archived",
    "unarchive": "unarchived",
}
"""The summary's action counts in the past tense (``Apply complete!`` and ``history``)."""


def applied_line(plan: Plan) -> str:
    """``Apply complete! 3 added, 2 changed, 1 destroyed, 1 archived. 2 role changes.``"""
    counts = plan.summary
    parts = [f"{counts[k]} {PAST[k]}" for k in ("add", "change", "destroy")]
    parts += [f"{counts[k]} {PAST[k]}" for k in ("rename", "archive", "unarchive") if counts[k]]
    roles = counts["role_changes"]
    return f"Apply complete! {', '.join(parts)}. {roles} role change{'' if roles == 1 else 's'}."


def workspace_names_of(plan: Plan, known: Mapping[str, str] | None) -> dict[str, str]:
    """The name each workspace will have: from the plan's own workspace ops, else from ``known``."""
    names = dict(known or {})
    for op in plan.ops:
        if isinstance(op, ops.CreateWorkspace):
            names[op.workspace] = op.name
        elif isinstance(op, ops.UpdateWorkspace):
            for change in op.changes:
                if change.field == "name":
                    names[op.workspace] = change.new
    return names


def _workspace_blocks(plan: Plan, names: Mapping[str, str]) -> list[PlanLine]:
    order: dict[str, list[Op]] = {}
    for op in plan.ops:
        order.setdefault(op.workspace, []).append(op)
    lines: list[PlanLine] = []
    for slug, block in order.items():
        # The workspace itself comes first in its block; the rest keeps the planner's order.
        block.sort(key=lambda op: not isinstance(op, _WORKSPACE_OPS))
        name = names.get(slug)
        lines.append(_plain(f"workspace {quote(slug)}" + (f" ({name})" if name else "")))
        for op in block:
            lines += op_lines(op)
        lines.append(_plain(""))
    return lines


_WORKSPACE_OPS = (ops.CreateWorkspace, ops.UpdateWorkspace, ops.ArchiveWorkspace, ops.UnarchiveWorkspace)
GRANT_FROM = {"new": "(new)", "unarchived": "(archived)"}


def role_section_rows(plan: Plan) -> list[tuple[str, str, str, str, str]]:
    """The role section: every role change, then every grant (``(new) -> builder``), as (workspace, email,
    from, to, cause). What a reviewer reads to see every new privilege."""
    rows = [(c.workspace, c.email, c.old, c.new, c.cause) for c in plan.role_changes]
    rows += [(g.workspace, g.email, GRANT_FROM[g.kind], g.role, g.cause) for g in plan.grants]
    return rows


def _role_change_lines(plan: Plan) -> list[PlanLine]:
    rows = [
        tuple(map(escape_control, (workspace, email, f"{old} -> {new}", cause)))
        for workspace, email, old, new, cause in role_section_rows(plan)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [_plain(ROLE_CHANGES_TITLE)]
    for row in rows:
        padded = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append(_plain("  ".join([*padded, row[3]]).rstrip(), indent=2))
    return [*lines, _plain("")]


def _unmanaged_lines(addresses: tuple[str, ...]) -> list[PlanLine]:
    title = _plain(UNMANAGED_TITLE.format(count=len(addresses)))
    return [_plain(""), title, *(_plain(address, indent=2) for address in addresses)]


def _ceded_lines(ceded: tuple[ops.Ceded, ...]) -> list[PlanLine]:
    """What the configuration cedes (issue 17): ``address  reason``, one per line, aligned."""
    width = max(len(escape_control(entry.address)) for entry in ceded)
    title = _plain(CEDED_TITLE.format(count=len(ceded)))
    rows = [
        PlanLine(2, None, f"{escape_control(entry.address).ljust(width)}  {escape_control(entry.reason)}")
        for entry in ceded
    ]
    return [_plain(""), title, *rows]


def plan_lines(plan: Plan, *, workspace_names: Mapping[str, str] | None = None) -> list[PlanLine]:
    """The whole text plan as lines; the markdown renderer reuses it for its diff block."""
    if plan.empty:
        lines = [_plain(NO_CHANGES)]
    else:
        lines = [_plain(HEADER), _plain("")]
        lines += _workspace_blocks(plan, workspace_names_of(plan, workspace_names))
        if plan.role_changes or plan.grants:
            lines += _role_change_lines(plan)
        lines.append(_plain(summary_line(plan)))
    if plan.unmanaged:
        lines += _unmanaged_lines(plan.unmanaged)
    if plan.ceded:
        lines += _ceded_lines(plan.ceded)
    governance = text_sections(plan)
    if governance:
        lines += [_plain(""), *(_plain(line) for line in governance)]
    return lines


def render_text(plan: Plan, *, color: bool = False, workspace_names: Mapping[str, str] | None = None) -> str:
    """The plan as SPEC 4 text, without a trailing newline. ``color`` wraps the symbols in ANSI colours."""
    return "\n".join(line.render(color=color) for line in plan_lines(plan, workspace_names=workspace_names))
