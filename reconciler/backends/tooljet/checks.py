"""Plan checks only the ToolJet backend needs: the registry must match ToolJet, flags must fit its columns.

Stage: plan validation (pure: a plan, a snapshot and the schema variant in, problems out). The planner is shared
and knows nothing of ToolJet, so it plans ``CreateApp`` for a registry entry ToolJet lacks; this backend never
creates, renames or deletes apps and data sources (they hold work built inside ToolJet), so such a plan is an
error that lists what the workspace really has. Flags that ToolJet keeps in one column must agree.
"""

from __future__ import annotations

from collections.abc import Collection

from ... import ops
from ...errors import PlanRefused, Subject
from ...state import Snapshot
from .flags import missing_column_problems, tie_problems
from .variant import Variant

ARCHIVED_IN_INSTANCE = "User is archived in the instance. Contact super admin to activate them."


HINT = "see docs/tooljet.md (what the tooljet backend manages)"


def _refusal(message: str, about: Subject | None = None) -> PlanRefused:
    """One thing ToolJet would refuse, and what in the configuration it is about (``errors.Subject``)."""
    return PlanRefused("tooljet", message, hint=HINT, about=about)


def plan_problems(plan: ops.Plan, snapshot: Snapshot, variant: Variant) -> list[PlanRefused]:
    archived_users = {email for email, user in snapshot.users.items() if user.archived}
    return [
        *(_refusal(message) for message in registry_problems(plan, snapshot)),
        *flag_problems(plan, variant),
        *archived_problems(plan, archived_users),
        *invite_name_problems(plan),
        *archived_member_problems(plan, snapshot),
    ]


def registry_problems(plan: ops.Plan, snapshot: Snapshot) -> list[str]:
    problems = []
    for op in plan.ops:
        ws = snapshot.workspaces.get(op.workspace)
        where = f'workspace "{op.workspace}"'
        if isinstance(op, ops.CreateApp):
            problems.append(
                f'{where}: app "{op.slug}" does not exist in ToolJet, and the tooljet backend never creates apps '
                f"(build it in ToolJet, or remove it from the configuration); the workspace has {_apps(ws)}"
            )
        elif isinstance(op, ops.UpdateApp):
            names = {c.field: c for c in op.changes}
            change = names.get("name")
            actual = change.old if change else "?"
            problems.append(
                f'{where}: app "{op.slug}" is called "{actual}" in ToolJet, not "{change.new if change else "?"}"; '
                f"the tooljet backend never renames apps (declare name: {actual})"
            )
        elif isinstance(op, ops.CreateDataSource):
            problems.append(
                f'{where}: data source "{op.name}" does not exist in ToolJet, and the tooljet backend never creates '
                f"data sources; the workspace has {_sources(ws)}"
            )
    return problems


def flag_problems(plan: ops.Plan, variant: Variant) -> list[PlanRefused]:
    problems = []
    for op in plan.ops:
        before: frozenset[str] = frozenset()
        if isinstance(op, ops.CreateGroup):
            owner, permissions = f'workspace "{op.workspace}", group "{op.name}"', op.permissions
            about: Subject = ("group", op.workspace, op.name, "permissions")
        elif isinstance(op, ops.UpdateGroup):
            owner, permissions, before = f'workspace "{op.workspace}", group "{op.name}"', op.after, op.before.flags
            about = ("group", op.workspace, op.name, "permissions")
        elif isinstance(op, ops.UpdateBuilderRole):
            owner, permissions, before = f'workspace "{op.workspace}", role "builder"', op.after, op.before.flags
            about = ("builder", op.workspace, "builder", "permissions")
        else:
            continue
        found = missing_column_problems(variant, owner, permissions, before) + tie_problems(variant, owner, permissions)
        problems += [_refusal(message, about) for message in found]
    return problems


def archived_problems(plan: ops.Plan, archived_users: Collection[str]) -> list[PlanRefused]:
    """ToolJet refuses to invite or unarchive someone archived in the whole instance; so does this backend."""
    return [
        _refusal(
            f'workspace "{op.workspace}": {op.email}: {ARCHIVED_IN_INSTANCE}',
            ("member", op.workspace, op.email, "email"),
        )
        for op in plan.ops
        if isinstance(op, ops.CreateMembership | ops.UnarchiveMembership) and op.email in archived_users
    ]


def _apps(ws: object) -> str:
    apps = getattr(ws, "apps", None)
    if not apps:
        return "no apps" if ws is not None else "no apps (it does not exist yet)"
    return "these apps: " + ", ".join(f"{slug} ({name})" for slug, name in sorted(apps.items()))


def _sources(ws: object) -> str:
    sources = getattr(ws, "data_sources", None)
    if not sources:
        return "no data sources" if ws is not None else "no data sources (it does not exist yet)"
    return "these data sources: " + ", ".join(sorted(sources))


# --- issue 16 L2/L3: what ToolJet's invite and group services refuse ------------------------------------------

# server/src/modules/organization-users/dto/invite-new-user.dto.ts: @MaxLength(99) on firstName and lastName
# ('Invalid name') and on the email ('Invalid email'), applied after sanitizeInput (helpers/utils.helper.ts,
# sanitize-html with no tags allowed, which escapes '&', '<' and '>' in text and drops or escapes tags).
INVITE_MAX_CHARS = 99
INVALID_NAME = "Invalid name"
INVALID_EMAIL = "Invalid email"
_HTML_CHARS = frozenset("<>&")
# server/src/modules/group-permissions/constants/error.ts ADD_GROUP_USER_NON_EXISTING_USER, thrown by
# util.service.ts addUsersToGroup, which only finds members whose organization_users.status is not archived.
ARCHIVED_IN_WORKSPACE = "User archived in this workspace"


def invite_name_problems(plan: ops.Plan) -> list[PlanRefused]:
    """Names and addresses ToolJet's invitation would refuse (too long) or store altered (HTML characters)."""
    problems = []
    for op in plan.ops:
        where = f'workspace "{op.workspace}": {getattr(op, "email", "")}'
        if isinstance(op, ops.CreateMembership) and len(op.email) > INVITE_MAX_CHARS:
            problems.append(
                _refusal(
                    f"{where}: {INVALID_EMAIL} (ToolJet invites addresses of at most {INVITE_MAX_CHARS} characters)",
                    ("member", op.workspace, op.email, "email"),
                )
            )
        if not isinstance(op, ops.CreateUser):
            continue
        for label, value in (("first_name", op.first_name), ("last_name", op.last_name)):
            member = ("member", op.workspace, op.email, label)
            if len(value) > INVITE_MAX_CHARS:
                problems.append(
                    _refusal(
                        f"{where}: {label}: {INVALID_NAME} (ToolJet invites names of at most {INVITE_MAX_CHARS} "
                        "characters)",
                        member,
                    )
                )
            elif _HTML_CHARS & set(value):
                problems.append(
                    _refusal(
                        f"{where}: {label}: ToolJet passes invited names through sanitize-html, which would store "
                        "this name altered (the characters <, > and & are escaped or dropped): write the name "
                        "without them",
                        member,
                    )
                )
    return problems


def archived_member_problems(plan: ops.Plan, snapshot: Snapshot) -> list[PlanRefused]:
    """ToolJet refuses to add an archived member to a group or change their role; a member the same plan
    unarchives is not archived (the unarchive comes first in the apply order)."""
    unarchived = {(op.workspace, op.email) for op in plan.ops if isinstance(op, ops.UnarchiveMembership)}
    problems = []
    for op in plan.ops:
        if not isinstance(op, ops.UpdateMembership) or (op.workspace, op.email) in unarchived:
            continue
        ws = snapshot.workspaces.get(op.workspace)
        member = ws.memberships.get(op.email) if ws is not None else None
        if member is None or member.status != "archived":
            continue
        changes = []
        if op.role is not None:
            changes.append(f"role {op.role.old} -> {op.role.new}")
        if op.groups_added:
            changes.append("join " + ", ".join(op.groups_added))
        if changes:
            problems.append(
                _refusal(
                    f'workspace "{op.workspace}": {op.email}: {ARCHIVED_IN_WORKSPACE} ({"; ".join(changes)}): '
                    "ToolJet changes no role or group of an archived member; declare status: active to unarchive "
                    "them in the same plan, or keep their role and groups as they are",
                    ("member", op.workspace, op.email, "groups" if op.groups_added else "role"),
                )
            )
    return problems
