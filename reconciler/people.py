"""Views of the people in a snapshot: the ``users`` table and its ToolJet-style counts.

Stage: reporting. Pure functions over ``state.Snapshot``; metadata values never leave this module unmasked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from .access import describe_groups, implying_groups
from .grants import Access, member_access
from .safetext import escape as escape_control
from .state import FLAG_NAMES, Membership, Snapshot, User, Workspace

MASK = "••••"
COUNTED_STATUSES = ("invited", "active")
BUILDER_ROLES = ("admin", "builder")


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


@dataclass(frozen=True)
class UserCounts:
    """ToolJet's licence counting: distinct users with an invited or active membership in an active
    workspace; builders are those among them whose role is admin or builder in any such membership."""

    total: int
    builders: int

    def footer(self) -> str:
        return f"Total users: {self.total}  Builders: {self.builders}"


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
                    member.metadata.keys(),
                )
            )
    return rows


def count_users(snapshot: Snapshot, slugs: Iterable[str]) -> UserCounts:
    counted: set[str] = set()
    builders: set[str] = set()
    for slug in slugs:
        ws = snapshot.workspaces.get(slug)
        if ws is None or ws.status != "active":
            continue
        for member in ws.memberships.values():
            if member.status in COUNTED_STATUSES:
                counted.add(member.email)
                if member.role in BUILDER_ROLES:
                    builders.add(member.email)
    return UserCounts(len(counted), len(builders))


def role_cause(workspace: Workspace, member: Membership) -> str:
    """Why the stored (effective) role is what it is."""
    implied = implying_groups(member.groups, workspace.groups)
    if member.role == "builder" and implied:
        return "implied by " + describe_groups(implied)
    return "declared"


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


def explain_text(workspace: Workspace, user: User, member: Membership, *, reveal: bool) -> str:
    access = member_access(workspace, member)
    lines = [
        f'{user.email} in workspace "{workspace.slug}" ({workspace.name})',
        f"  status: {member.status}" + _no_access(workspace, member),
        f"  role:   {member.role} ({role_cause(workspace, member)})",
        f"  groups: {', '.join(sorted(member.groups)) or 'none'}",
        "",
        "Permissions:",
    ]
    width = max(len(f) for f in FLAG_NAMES)
    for flag in FLAG_NAMES:
        sources = access.flags.get(flag)
        lines.append(f"  {flag:<{width}}  " + (f"yes  via {', '.join(sources)}" if sources else "no"))
    lines += _access_lines("Apps:", access.apps) + _access_lines("Data sources:", access.data_sources)
    lines += ["", "globals.currentUser:", *json.dumps(current_user(user, member, reveal=reveal), indent=2).splitlines()]
    return "\n".join(escape_control(line) for line in lines)  # names, emails and groups are user data


def _no_access(workspace: Workspace, member: Membership) -> str:
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
        via = f"  via {', '.join(access.sources)}" if access.sources else ""
        lines.append(f"  {name:<{width}}  {access.level:<11}{via}".rstrip())
    return lines
