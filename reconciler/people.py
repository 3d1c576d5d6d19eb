"""Views of the people in a snapshot: the ``users`` table with its seat counts, and ``explain``.

Stage: reporting. Pure functions over ``state.Snapshot``; access, role causes and seats come from the access
engine (``access.py``), as the report's do. Metadata values never leave this module unmasked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from .access import Access, Seats, Source, member_access, role_cause, seat_counts
from .safetext import escape as escape_control
from .state import FLAG_NAMES, Membership, Role, Snapshot, User, Workspace

MASK = "••••"


@dataclass(frozen=True)
class UserRow:
    email: str
    first_name: str
    last_name: str
    workspace: str
    status: str
    role: str
    groups: tuple[str, ...]
    metadata_keys: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def as_json(self) -> dict:
        return {
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "workspace": self.workspace,
            "status": self.status,
            "role": self.role,
            "groups": list(self.groups),
            "metadata": dict.fromkeys(self.metadata_keys, MASK),
        }


def user_rows(snapshot: Snapshot, slugs: Iterable[str]) -> list[UserRow]:
    rows = []
    for slug in sorted(slugs):
        ws = snapshot.workspaces.get(slug)
        if ws is None:
            continue
        for email in sorted(ws.memberships):
            member = ws.memberships[email]
            user = snapshot.users.get(email)
            rows.append(
                UserRow(
                    email,
                    user.first_name if user else "",
                    user.last_name if user else "",
                    slug,
                    member.status,
                    member.role,
                    tuple(sorted(member.groups)),
                    member.metadata.keys() if member.metadata.known else (),  # unread: none known
                )
            )
    return rows


def seats_of(snapshot: Snapshot, slugs: Iterable[str], *, whole_instance: bool = False) -> Seats:
    """The seats the ``slugs`` workspaces take, each person counted once (``users``' footer);
    ``whole_instance`` when they are every workspace of the instance (then super admins count too)."""
    chosen = {slug: snapshot.workspaces[slug] for slug in slugs if slug in snapshot.workspaces}
    return seat_counts(Snapshot(chosen, snapshot.users), whole_instance=whole_instance).instance


def seats_footer(seats: Seats) -> str:
    return f"Total users: {seats.total}  Builders: {seats.builders}"


def current_user(user: User, member: Membership, *, reveal: bool) -> dict:
    """``globals.currentUser`` as ToolJet apps see it: groups are all_users, the custom groups, then the role;
    ``metadata`` is absent when empty and masked unless ``reveal``."""
    data: dict = {
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "groups": ["all_users", *sorted(member.groups), member.role],
        "role": member.role,
    }
    if member.metadata.has_values:
        keys = member.metadata.keys()
        data["metadata"] = dict(member.metadata.values) if reveal else dict.fromkeys(keys, MASK)
    return data


def explain_text(
    workspace: Workspace, user: User, member: Membership, *, reveal: bool, declared: Role | None = None
) -> str:
    access = member_access(workspace, member, archived_in_instance=user.archived)
    cause = role_cause(member, workspace.groups, declared)
    lines = [
        f'{user.email} in workspace "{workspace.slug}" ({workspace.name})',
        f"  status: {member.status}" + _no_access(workspace, user, member),
        f"  role:   {member.role} ({cause.text})",
        f"  groups: {', '.join(sorted(member.groups)) or 'none'}",
        "",
        "Permissions:",
    ]
    width = max(len(f) for f in FLAG_NAMES)
    for flag in FLAG_NAMES:
        sources = access.flags.get(flag)
        lines.append(f"  {flag:<{width}}  " + (f"yes  via {_via(sources)}" if sources else "no"))
    lines += _access_lines("Apps:", access.apps) + _access_lines("Data sources:", access.data_sources)
    lines += ["", "globals.currentUser:", *json.dumps(current_user(user, member, reveal=reveal), indent=2).splitlines()]
    return "\n".join(escape_control(line) for line in lines)  # names, emails and groups are user data


def explain_data(
    workspace: Workspace, user: User, member: Membership, *, reveal: bool, declared: Role | None = None
) -> dict:
    """``explain --format json``: the same answers as the text, from the same engine."""
    access = member_access(workspace, member, archived_in_instance=user.archived)
    return {
        "email": user.email,
        "workspace": workspace.slug,
        "status": member.status,
        "role": {"name": member.role, "cause": role_cause(member, workspace.groups, declared).text},
        "groups": sorted(member.groups),
        "permissions": {flag: [s.describe() for s in sources] for flag, sources in access.flags.items()},
        "apps": {k: _access_json(a) for k, a in access.apps.items()},
        "data_sources": {k: _access_json(a) for k, a in access.data_sources.items()},
        "currentUser": current_user(user, member, reveal=reveal),
    }


def _access_json(access: Access) -> dict:
    return {"access": access.level, "granted_by": [s.describe() for s in access.granted_by]}


def _via(sources: tuple[Source, ...]) -> str:
    return ", ".join(source.describe() for source in sources)


def _no_access(workspace: Workspace, user: User, member: Membership) -> str:
    if user.archived:
        return "  (archived in the whole instance: no access anywhere until a super admin unarchives them)"
    if member.status == "archived":
        return "  (archived members have no access)"
    if workspace.status != "active":
        return "  (the workspace is archived: its members have no access)"
    return ""


def _access_lines(title: str, items: dict[str, Access]) -> list[str]:
    lines = ["", title]
    if not items:
        return [*lines, "  (none registered)"]
    width = max(len(k) for k in items)
    for name, access in items.items():
        via = f"  via {_via(access.granted_by)}" if access.granted_by else ""
        lines.append(f"  {name:<{width}}  {access.level:<11}{via}".rstrip())
    return lines
