"""The JSON the HTML report's script renders the matrix from, and how it is embedded safely.

Stage: report render (pure). Compact on purpose, for 10,000 members: members are arrays (the script names the
positions), each workspace's grantors are listed once and cells point at them, and members who share an access
profile share one row of cells.
"""

from __future__ import annotations

import json
from typing import Any

from ..access import Source
from ..safetext import escape as escape_control
from .model import MemberEntry, Report, WorkspaceReport

# The JSON text goes inside <script type="application/json">: no "<" may survive (it could close the element
# or open a comment), and "&" and ">" are escaped too so the text is inert in any HTML context.
_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def embed_json(data: Any) -> str:
    return json.dumps(visible(data), ensure_ascii=False, separators=(",", ":")).translate(_ESCAPES)


def visible(data: Any) -> Any:
    """``data`` with every string's control and invisible characters made visible (``\\x1b``, ``<U+202E>``): the
    script shows the strings as text, and a bidi override in a name must not reorder what the reviewer reads."""
    if isinstance(data, str):
        return escape_control(data)
    if isinstance(data, list):
        return [visible(item) for item in data]
    if isinstance(data, dict):
        return {key: visible(value) for key, value in data.items()}
    return data


def short_cause(member: MemberEntry) -> str:
    """Shown under the role in the matrix; the full cause (with reasons) is in the title and the detail row."""
    if member.cause.kind == "implied":
        return "implied by " + ", ".join(reason.group for reason in member.cause.groups)
    return "declared"


def member_array(member: MemberEntry) -> list[Any]:
    return [
        member.email,
        member.name,
        member.status,
        member.role,
        member.cause.text,
        list(member.groups),
        list(member.metadata_keys),
        member.profile,
        [entry.description for entry in member.drift],
        short_cause(member),
    ]


def workspace_payload(workspace: WorkspaceReport) -> dict[str, Any]:
    sources: dict[Source, int] = {}
    profiles = [
        [[cell.level, [sources.setdefault(s, len(sources)) for s in cell.granted_by]] for cell in row]
        for row in workspace.profiles
    ]
    return {
        "slug": workspace.slug,
        "status": workspace.status,
        "resources": [[r.type, r.key, r.name] for r in workspace.resources],
        "sources": [source.label for source in sources],
        "profiles": profiles,
        "members": [member_array(m) for m in workspace.members],
    }


def report_payload(report: Report) -> dict[str, Any]:
    return {"report_version": report.report_version, "workspaces": [workspace_payload(w) for w in report.workspaces]}
