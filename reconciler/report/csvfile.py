"""The report as CSV (``report --format csv``): one row per member and resource, for spreadsheets.

Stage: report render (pure). Every cell is neutralised against formula injection (a leading ``=``, ``+``,
``-``, ``@``, tab or carriage return gets a ``'``), because names and emails come from users. A member of a
workspace without apps or data sources still gets one row, with the resource columns empty. List cells
(groups, metadata keys, grantors, drift, expiries) are joined with ``"; "``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from ..config.csvsource import neutralise_cell
from ..safetext import escape as escape_control
from .matrix import Cell
from .model import MemberEntry, Report, WorkspaceReport

COLUMNS = (
    "workspace",
    "email",
    "first_name",
    "last_name",
    "status",
    "role",
    "role_cause",
    "groups",
    "metadata_keys",
    "resource_type",
    "resource",
    "access",
    "granted_by",
    "drift",
    "expires",
)
SEPARATOR = "; "


def person_cells(workspace: WorkspaceReport, member: MemberEntry) -> list[str]:
    return [
        workspace.slug,
        member.email,
        member.first_name,
        member.last_name,
        member.status,
        member.role,
        member.cause.text,
        SEPARATOR.join(member.groups),
        SEPARATOR.join(member.metadata_keys),
    ]


def access_cells(workspace: WorkspaceReport, row: tuple[Cell, ...]) -> list[list[str]]:
    """``resource_type, resource, access, granted_by`` per resource; one empty set when there is none."""
    if not workspace.resources:
        return [["", "", "", ""]]
    return [
        [resource.type, resource.key, cell.level, SEPARATOR.join(source.label for source in cell.granted_by)]
        for resource, cell in zip(workspace.resources, row, strict=True)
    ]


def workspace_rows(workspace: WorkspaceReport) -> Iterator[list[str]]:
    """Every cell neutralised; the access cells of a profile are built (and neutralised) once."""
    profiles = [[neutralised(cells) for cells in access_cells(workspace, row)] for row in workspace.profiles]
    for member in workspace.members:
        person = neutralised(person_cells(workspace, member))
        drift = neutralised([SEPARATOR.join(entry.description for entry in member.drift), expires_cell(member)])
        for cells in profiles[member.profile]:
            yield person + cells + drift


def expires_cell(member: MemberEntry) -> str:
    """``membership 2027-03-31; group finance 2027-03-30 13:30 UTC`` (issue 18)."""
    return SEPARATOR.join(f"group {group} {when}" if group else f"membership {when}" for group, when in member.expires)


def neutralised(values: list[str]) -> list[str]:
    """Control and invisible characters made visible (``\\x1b``, ``<U+202E>``), then formulas neutralised."""
    return [neutralise_cell(escape_control(value)) for value in values]


def render_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for workspace in report.workspaces:
        writer.writerows(workspace_rows(workspace))
    return buffer.getvalue()
