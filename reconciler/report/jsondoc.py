"""The report as JSON (``report --format json``): the same data as the HTML page, versioned for other tools.

Stage: report render (pure). ``report_version`` 1. Access cells name their grantors as ``role:NAME`` or
``group:NAME``; metadata appears as its keys only.
"""

from __future__ import annotations

import json
from typing import Any

from ..access import RoleCause, Seats
from ..hygiene import describe_finding
from ..safetext import escape_json
from ..state import FLAG_NAMES
from .drift import DriftEntry
from .matrix import Cell
from .model import ApplyEntry, GroupEntry, MemberEntry, Report, WorkspaceReport


def seats_dict(seats: Seats) -> dict[str, int]:
    return {"users": seats.total, "builders": seats.builders, "admins": seats.admins}


def drift_list(entries: tuple[DriftEntry, ...]) -> list[dict[str, str]]:
    return [{"address": e.address, "action": e.action, "description": e.description} for e in entries]


def cell_dict(cell: Cell) -> dict[str, Any]:
    return {"access": cell.level, "granted_by": [source.label for source in cell.granted_by]}


def cause_dict(cause: RoleCause) -> dict[str, Any]:
    groups = [{"group": g.group, "reasons": list(g.reasons)} for g in cause.groups]
    return {"kind": cause.kind, "text": cause.text, "groups": groups}


def profile_access(workspace: WorkspaceReport, row: tuple[Cell, ...]) -> dict[str, dict[str, Any]]:
    access: dict[str, dict[str, Any]] = {"apps": {}, "data_sources": {}}
    for resource, cell in zip(workspace.resources, row, strict=True):
        access["apps" if resource.type == "app" else "data_sources"][resource.key] = cell_dict(cell)
    return access


def member_dict(member: MemberEntry, access: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "email": member.email,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "status": member.status,
        "role": member.role,
        "role_cause": cause_dict(member.cause),
        "groups": list(member.groups),
        "metadata_keys": list(member.metadata_keys),
        "access": access,
        "drift": drift_list(member.drift),
        "expires": [{"group": group, "expires": when} for group, when in member.expires],
    }


def group_dict(group: GroupEntry) -> dict[str, Any]:
    return {
        "name": group.name,
        "kind": group.kind,
        "members": group.members,
        "flags": {flag: flag in group.flags for flag in FLAG_NAMES},
        "granular": {"apps": list(group.app_grants), "data_sources": list(group.data_source_grants)},
        "builder_level": list(group.builder_level),
        "drift": drift_list(group.drift),
    }


def workspace_dict(workspace: WorkspaceReport) -> dict[str, Any]:
    summary = workspace.summary
    access = [profile_access(workspace, row) for row in workspace.profiles]  # shared by the members of a profile
    hygiene = [
        {"email": f.email, "finding": f.kind, "since": f.since, "days": f.days, "text": describe_finding(f)}
        for f in workspace.hygiene
    ]
    return {
        "slug": workspace.slug,
        "name": workspace.name,
        "status": workspace.status,
        "summary": {
            "members": summary.members,
            "by_status": dict(summary.by_status),
            "by_role": {role: dict(counts) for role, counts in summary.by_role.items()},
            "seats": seats_dict(summary.seats),
        },
        "resources": [{"type": r.type, "key": r.key, "name": r.name} for r in workspace.resources],
        "groups": [group_dict(g) for g in workspace.groups],
        "members": [member_dict(m, access[m.profile]) for m in workspace.members],
        "drift": drift_list(workspace.drift),
        "hygiene": hygiene,
    }


def apply_dict(entry: ApplyEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "started_at": entry.started_at.isoformat(),
        "actor": entry.actor,
        "command": entry.command,
        "result": entry.result,
        "config_hash": entry.config_hash,
        "summary": dict(entry.summary),
        "error": entry.error,
        "workspaces": list(entry.workspaces),
    }


def report_to_dict(report: Report) -> dict[str, Any]:
    return {
        "report_version": report.report_version,
        "generated_at": report.generated_at.isoformat(timespec="seconds"),
        "drift_checked": report.drift_checked,
        "config_hash": report.config_hash,
        "seats": seats_dict(report.seats),
        "workspaces": [workspace_dict(w) for w in report.workspaces],
        "applies": [apply_dict(a) for a in report.applies],
    }


def render_json(report: Report) -> str:
    """Compact (one line): a 10,000-member report is tens of megabytes, and indenting it would triple the
    time to write it. Pipe it through ``jq .`` to read it."""
    return escape_json(json.dumps(report_to_dict(report), ensure_ascii=False, separators=(",", ":"))) + "\n"
