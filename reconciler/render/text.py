"""The text plan of SPEC section 4: what ``plan`` and ``apply`` print.

Stage: render. Pure: a Plan in, a string out. One function per op class turns an op into lines (the way
alembic's ``autogenerate/render.py`` dispatches on the op class); ``plan_lines`` lays the blocks out and
``render_text`` joins them, with colour only when asked. Metadata values are never read here: only
``metadata_keys`` and ``metadata_changes``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .. import ops
from ..ops import FieldChange, Op, Plan, RoleChange
from ..safetext import escape, escape_json
from ..state import FLAG_NAMES, GroupPermissions

__all__ = [
    "NO_CHANGES",
    "PlanLine",
    "escape_control",
    "escape_json",
    "plan_lines",
    "quote",
    "render_text",
    "summary_line",
]

NO_CHANGES = "No changes. The database matches the configuration."
HEADER = "reconciler will perform the following actions:"
ROLE_CHANGES_TITLE = "Affected role changes:"
UNMANAGED_TITLE = "Unmanaged (prune: none), left alone: {count}"
CEDED_TITLE = "Ceded to other writers (settings.ignore, members: external, settings.manage), not drift: {count}"

_COLOURS = {"+": "32", "~": "33", "-": "31", ">": "36", "*": "35"}  # green yellow red cyan magenta
# Fields whose values are enumerations, shown bare; every other string is quoted.
_BARE_FIELDS = frozenset({"status", "role"})


@dataclass(frozen=True)
class PlanLine:
    """One line of the text plan: ``symbol`` is ``+ ~ - > *`` for resource and detail lines, else None."""

    indent: int
    symbol: str | None
    text: str

    def render(self, *, color: bool = False) -> str:
        if self.symbol is None:
            return " " * self.indent + self.text if self.text else ""
        symbol = f"\x1b[{_COLOURS[self.symbol]}m{self.symbol}\x1b[0m" if color else self.symbol
        return f"{' ' * self.indent}{symbol} {self.text}"


def escape_control(text: str) -> str:
    """``text`` with every character a reader would not see as itself made visible (see ``safetext.escape``)."""
    return escape(text)


def quote(text: str) -> str:
    """A name in double quotes, with quotes and backslashes escaped so a name cannot fake the layout."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _resource(symbol: str, text: str) -> PlanLine:
    return PlanLine(2, symbol, escape_control(text))


def _detail(symbol: str, text: str) -> PlanLine:
    return PlanLine(6, symbol, escape_control(text))


def _plain(text: str, indent: int = 0) -> PlanLine:
    return PlanLine(indent, None, escape_control(text))


# --- values -----------------------------------------------------------------------------------------


def format_value(field: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, tuple | list | frozenset):
        items = sorted(value) if isinstance(value, frozenset) else value
        return "; ".join(str(v) for v in items) or "none"
    if isinstance(value, str) and field.rsplit(".", 1)[-1] not in _BARE_FIELDS:
        return quote(value)
    return str(value)


def _field_changes(changes: tuple[FieldChange, ...]) -> list[PlanLine]:
    return [
        _detail("~", f"{c.field}: {format_value(c.field, c.old)} -> {format_value(c.field, c.new)}") for c in changes
    ]


def _permission_lines(permissions: GroupPermissions) -> list[PlanLine]:
    lines = [_detail("+", f"permissions.{flag}: true") for flag in FLAG_NAMES if flag in permissions.flags]
    lines += [_detail("+", f"granular.apps: {g.describe()}") for g in permissions.app_grants]
    lines += [_detail("+", f"granular.data_sources: {g.describe()}") for g in permissions.data_source_grants]
    return lines


def role_change_text(change: RoleChange) -> str:
    """``end-user -> builder``, followed by the cause in parentheses unless the YAML declared it."""
    text = f"{change.old} -> {change.new}"
    return text if change.cause == "declared" else f"{text} ({change.cause})"


# --- one function per op class ----------------------------------------------------------------------

_O = TypeVar("_O", bound=Op)
_RENDERERS: dict[type[Op], Callable[[Any], list[PlanLine]]] = {}


def _renders(cls: type[_O]) -> Callable[[Callable[[_O], list[PlanLine]]], Callable[[_O], list[PlanLine]]]:
    def register(function: Callable[[_O], list[PlanLine]]) -> Callable[[_O], list[PlanLine]]:
        _RENDERERS[cls] = function
        return function

    return register


@_renders(ops.CreateWorkspace)
def _create_workspace(op: ops.CreateWorkspace) -> list[PlanLine]:
    lines = [_resource("+", f"workspace {quote(op.workspace)} ({op.name})")]
    if op.status != "active":
        lines.append(_detail("+", f"status: {op.status}"))
    return lines


@_renders(ops.UpdateWorkspace)
def _update_workspace(op: ops.UpdateWorkspace) -> list[PlanLine]:
    return [_resource("~", f"workspace {quote(op.workspace)}"), *_field_changes(op.changes)]


@_renders(ops.ArchiveWorkspace)
def _archive_workspace(op: ops.ArchiveWorkspace) -> list[PlanLine]:
    return [_resource("*", f"workspace {quote(op.workspace)}: archive (members lose access; nothing is deleted)")]


@_renders(ops.UnarchiveWorkspace)
def _unarchive_workspace(op: ops.UnarchiveWorkspace) -> list[PlanLine]:
    return [_resource("*", f"workspace {quote(op.workspace)}: unarchive (members get their access back)")]


@_renders(ops.CreateApp)
def _create_app(op: ops.CreateApp) -> list[PlanLine]:
    return [_resource("+", f"app {quote(op.slug)} ({op.name})")]


@_renders(ops.UpdateApp)
def _update_app(op: ops.UpdateApp) -> list[PlanLine]:
    return [_resource("~", f"app {quote(op.slug)}"), *_field_changes(op.changes)]


@_renders(ops.CreateDataSource)
def _create_data_source(op: ops.CreateDataSource) -> list[PlanLine]:
    return [_resource("+", f"data source {quote(op.name)}")]


@_renders(ops.UpdateBuilderRole)
def _update_builder_role(op: ops.UpdateBuilderRole) -> list[PlanLine]:
    return [_resource("~", 'role "builder"'), *_field_changes(op.changes)]


@_renders(ops.CreateGroup)
def _create_group(op: ops.CreateGroup) -> list[PlanLine]:
    return [_resource("+", f"group {quote(op.name)}"), *_permission_lines(op.permissions)]


@_renders(ops.UpdateGroup)
def _update_group(op: ops.UpdateGroup) -> list[PlanLine]:
    return [_resource("~", f"group {quote(op.name)}"), *_field_changes(op.changes)]


@_renders(ops.RenameGroup)
def _rename_group(op: ops.RenameGroup) -> list[PlanLine]:
    return [_resource(">", f"group {quote(op.old_name)} -> {quote(op.new_name)}")]


@_renders(ops.DestroyGroup)
def _destroy_group(op: ops.DestroyGroup) -> list[PlanLine]:
    members = "1 member loses it" if op.member_count == 1 else f"{op.member_count} members lose it"
    return [_resource("-", f"group {quote(op.name)} ({members})")]


@_renders(ops.CreateUser)
def _create_user(op: ops.CreateUser) -> list[PlanLine]:
    name = " ".join(part for part in (op.first_name, op.last_name) if part)
    return [_resource("+", f"user account {quote(op.email)}" + (f" ({name})" if name else ""))]


@_renders(ops.UpdateUser)
def _update_user(op: ops.UpdateUser) -> list[PlanLine]:
    return [_resource("~", f"user account {quote(op.email)}"), *_field_changes(op.changes)]


@_renders(ops.CreateMembership)
def _create_membership(op: ops.CreateMembership) -> list[PlanLine]:
    lines = [_resource("+", f"user {quote(op.email)} ({op.role}, {op.status})")]
    if op.groups:
        lines.append(_detail("+", "groups: " + ", ".join(op.groups)))
    sources = dict(op.metadata_sources)
    lines += [
        _detail("+", f"metadata.{key}: {_from('(sensitive value)', sources.get(key))}") for key in op.metadata_keys
    ]
    return lines


def _from(masked: str, source: str | None) -> str:
    """``(sensitive value)``, naming the secret reference the value comes from (never the value itself):
    ``(sensitive value, from env ACME_KEY)``."""
    return f"{masked[:-1]}, from {source})" if source else masked


_METADATA_CHANGE = {
    "add": ("+", "(sensitive value)"),
    "change": ("~", "(sensitive value changed)"),
    "remove": ("-", "(sensitive value removed)"),
}


@_renders(ops.UpdateMembership)
def _update_membership(op: ops.UpdateMembership) -> list[PlanLine]:
    lines = [_resource("~", f"user {quote(op.email)}")]
    if op.role is not None:
        lines.append(_detail("~", "role: " + role_change_text(op.role)))
    if op.groups_added:
        lines.append(_detail("+", "groups: " + ", ".join(op.groups_added)))
    if op.groups_removed:
        lines.append(_detail("-", "groups: " + ", ".join(op.groups_removed)))
    sources = dict(op.metadata_sources)
    for change in op.metadata_changes:
        symbol, masked = _METADATA_CHANGE[change.kind]
        lines.append(_detail(symbol, f"metadata.{change.key}: {_from(masked, sources.get(change.key))}"))
    return lines


@_renders(ops.ArchiveMembership)
def _archive_membership(op: ops.ArchiveMembership) -> list[PlanLine]:
    return [_resource("*", f"user {quote(op.email)}: archive ({op.reason})")]


@_renders(ops.UnarchiveMembership)
def _unarchive_membership(op: ops.UnarchiveMembership) -> list[PlanLine]:
    return [_resource("*", f"user {quote(op.email)}: unarchive (status invited, new invitation)")]


def op_lines(op: Op) -> list[PlanLine]:
    """The resource line and detail lines of one op."""
    return _RENDERERS[type(op)](op)


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
    return lines


def render_text(plan: Plan, *, color: bool = False, workspace_names: Mapping[str, str] | None = None) -> str:
    """The plan as SPEC 4 text, without a trailing newline. ``color`` wraps the symbols in ANSI colours."""
    return "\n".join(line.render(color=color) for line in plan_lines(plan, workspace_names=workspace_names))
