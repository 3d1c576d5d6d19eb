"""The lines of the text plan that describe one op: ``op_lines(op)``, one function per op class.

Stage: core (pure). The way alembic's ``autogenerate/render.py`` dispatches on the op class. The text plan
(``render/text.py``) lays these lines out; the access report's drift marks (``report/drift.py``) and the JUnit
drift report describe a change with the same words, so the lines sit below both. Metadata values are never read
here: only ``metadata_keys`` and ``metadata_changes``. Every piece of user text goes through ``safetext.escape``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from . import ops
from .ops import FieldChange, Op, RoleChange
from .safetext import escape
from .state import FLAG_NAMES, GroupPermissions

__all__ = ["PlanLine", "format_value", "op_lines", "quote", "role_change_text"]

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


def quote(text: str) -> str:
    """A name in double quotes, with quotes and backslashes escaped so a name cannot fake the layout."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _resource(symbol: str, text: str) -> PlanLine:
    return PlanLine(2, symbol, escape(text))


def _detail(symbol: str, text: str) -> PlanLine:
    return PlanLine(6, symbol, escape(text))


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
    if op.repair_role is not None:
        lines.append(_detail("~", _repair_text(op)))
    if op.groups_added:
        lines.append(_detail("+", "groups: " + ", ".join(op.groups_added)))
    expired = dict(op.expired_groups)
    removed = [name for name in op.groups_removed if name not in expired]
    if removed:
        lines.append(_detail("-", "groups: " + ", ".join(removed)))
    lines += [_detail("-", f"groups: {name} (expired {when})") for name, when in op.expired_groups]
    sources = dict(op.metadata_sources)
    if op.metadata_unreadable:
        lines.append(
            _detail("~", f"metadata: replaces the stored value, which cannot be read ({op.metadata_unreadable})")
        )
    for change in op.metadata_changes:
        symbol, masked = _METADATA_CHANGE[change.kind]
        lines.append(_detail(symbol, f"metadata.{change.key}: {_from(masked, sources.get(change.key))}"))
    return lines


def _repair_text(op: ops.UpdateMembership) -> str:
    """``default groups: admin, builder -> admin`` (ToolJet holds several, or none; issue 16)."""
    found = ", ".join(op.default_groups_found) if op.default_groups_found else "none"
    role = op.repair_role
    if op.role is not None:  # the role line above says what changes
        return f"default groups: {found} -> {role} (ToolJet requires exactly one)"
    return f"default groups: {found} -> {role} (ToolJet requires exactly one; it reads the member as {role})"


@_renders(ops.ArchiveMembership)
def _archive_membership(op: ops.ArchiveMembership) -> list[PlanLine]:
    return [_resource("*", f"user {quote(op.email)}: archive ({op.reason})")]


@_renders(ops.UnarchiveMembership)
def _unarchive_membership(op: ops.UnarchiveMembership) -> list[PlanLine]:
    return [_resource("*", f"user {quote(op.email)}: unarchive (status invited, new invitation)")]


@_renders(ops.TransferApps)
def _transfer_apps(op: ops.TransferApps) -> list[PlanLine]:
    count = "1 app" if len(op.apps) == 1 else f"{len(op.apps)} apps"
    return [
        _resource(
            "~", f"apps owned by {quote(op.email)}: owner -> {quote(op.to)} ({count}; settings.transfer_apps_to)"
        ),
        _detail("~", "apps: " + ", ".join(quote(name) for name in op.apps)),
    ]


def op_lines(op: Op) -> list[PlanLine]:
    """The resource line and detail lines of one op."""
    return _RENDERERS[type(op)](op)
