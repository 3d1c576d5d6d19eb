"""Safety rails (SPEC 5): checked against the fresh snapshot before anything is written.

Stage: apply preconditions. Pure: a plan and a snapshot in, a list of refusals out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from fnmatch import fnmatchcase

from . import ops
from .errors import PlanRefused
from .roles import LAST_ADMIN_MESSAGE, active_admins, describe_groups, implying_groups
from .state import ROLE_RANK, GroupPermissions, Snapshot, Workspace

MASS_CHANGE_SHARE = 0.25  # the defaults; settings.rails changes them per workspace (ops.WorkspaceRails)
MASS_CHANGE_MINIMUM = 10


def check_rails(
    plan: ops.Plan,
    snapshot: Snapshot,
    *,
    protected: Collection[str] = (),
    allow_mass_change: bool = False,
    allow_removals: bool = False,
) -> list[PlanRefused]:
    """Every rule the plan breaks. ``protected`` holds ``slug/user/email`` addresses (SPEC 2.1)."""
    refusals = _last_admin(plan, snapshot) + _role_rule(plan, snapshot) + _protected(plan, protected)
    if not allow_mass_change:
        refusals += _mass_change(plan, snapshot)
    if not allow_removals:
        refusals += removals(plan)
    return refusals


def _after(plan: ops.Plan, slug: str) -> tuple[set[str], dict[str, str]]:
    """The members the plan leaves without an active membership (archived, or unarchived: invited again, whatever
    their status was), and the roles it sets."""
    inactive, roles = set(), {}
    for op in plan.for_workspace(slug):
        if isinstance(op, ops.ArchiveMembership | ops.UnarchiveMembership | ops.CreateMembership):
            inactive.add(op.email)
        elif isinstance(op, ops.UpdateMembership) and op.role is not None:
            roles[op.email] = op.role.new
    return inactive, roles


def _last_admin(plan: ops.Plan, snapshot: Snapshot) -> list[PlanRefused]:
    """Rule 4 on the state *after* the plan: the active members that stay active and are admin then (promoted
    ones included) must not be none. Invited admins never count, nor do new or unarchived memberships (invited):
    computed from the ops themselves, so a hand-edited plan that unarchives an active admin (who would be invited
    again) is refused too."""
    refusals = []
    for slug, ws in sorted(snapshot.workspaces.items()):
        before = active_admins(ws.memberships.values())
        if not before:
            continue
        inactive, roles = _after(plan, slug)
        after = [
            email
            for email, member in ws.memberships.items()
            if member.status == "active" and email not in inactive and roles.get(email, member.role) == "admin"
        ]
        if not after:
            refusals.append(
                PlanRefused(
                    "last-admin",
                    f"{LAST_ADMIN_MESSAGE} (workspace {slug!r}: the plan removes its last active admin "
                    f"{', '.join(before)})",
                    hint="keep an active admin in the configuration; invited admins do not count",
                )
            )
    return refusals


def _role_rule(plan: ops.Plan, snapshot: Snapshot) -> list[PlanRefused]:
    """SPEC 1 rule 1 on the state *after* the plan, from its ops and the snapshot alone (whatever else a saved plan
    says): no member that is not archived is an end-user in a builder-level group. The planner promotes such
    members; a plan that does not (edited by hand) is refused, naming the member and the group."""
    refusals = []
    slugs = set(plan.workspaces) | {op.workspace for op in plan.ops}
    for slug in sorted(slugs):
        ws = snapshot.workspaces.get(slug)
        definitions, members = _groups_after(plan, slug, ws)
        for email, (role, status, groups) in sorted(members.items()):
            if role != "end-user" or status == "archived":
                continue
            implied = implying_groups(groups, definitions)
            if implied:
                refusals.append(
                    PlanRefused(
                        "role-rule",
                        f"the plan would leave end-user {email} in builder-level {describe_groups(implied)} in "
                        f"workspace {slug!r} without promoting them (a member of a builder-level group is at least "
                        "builder)",
                        hint="make the plan again from the configuration: reconciler promotes such members itself",
                    )
                )
    return refusals


def _groups_after(
    plan: ops.Plan, slug: str, ws: Workspace | None
) -> tuple[dict[str, GroupPermissions], dict[str, tuple[str, str, set[str]]]]:
    """The group definitions and the (role, status, groups) of every member once the plan's ops are applied."""
    definitions = dict(ws.groups) if ws is not None else {}
    members = {e: (m.role, m.status, set(m.groups)) for e, m in (ws.memberships.items() if ws is not None else ())}
    block = plan.for_workspace(slug)
    renamed = {op.old_name: op.new_name for op in block if isinstance(op, ops.RenameGroup)}
    for old, new in renamed.items():
        if old in definitions:
            definitions[new] = definitions.pop(old)
    for email, (role, status, groups) in members.items():
        members[email] = (role, status, {renamed.get(g, g) for g in groups})
    for op in block:
        if isinstance(op, ops.CreateGroup):
            definitions[op.name] = op.permissions
        elif isinstance(op, ops.UpdateGroup):
            definitions[op.name] = op.after
        elif isinstance(op, ops.CreateMembership):
            members[op.email] = (op.role, op.status, set(op.groups))
        elif isinstance(op, ops.UpdateMembership) and op.email in members:
            role, status, groups = members[op.email]
            removed = set(op.groups_removed) | {renamed[g] for g in op.groups_removed if g in renamed}
            groups = (groups - removed) | set(op.groups_added)
            members[op.email] = (op.role.new if op.role is not None else role, status, groups)
        elif isinstance(op, ops.ArchiveMembership | ops.UnarchiveMembership) and op.email in members:
            role, _, groups = members[op.email]
            members[op.email] = (role, "archived" if isinstance(op, ops.ArchiveMembership) else "invited", groups)
    for op in block:
        if isinstance(op, ops.DestroyGroup):
            definitions.pop(op.name, None)
    return definitions, members


def _protected(plan: ops.Plan, protected: Collection[str]) -> list[PlanRefused]:
    refusals = []
    for op in plan.ops:
        if op.address not in protected:
            continue
        if isinstance(op, ops.ArchiveMembership):
            what = "archive"
        elif (
            isinstance(op, ops.UpdateMembership)
            and op.role is not None
            and ROLE_RANK[op.role.new] < ROLE_RANK[op.role.old]
        ):
            what = f"demote ({op.role.old} -> {op.role.new})"
        else:
            continue
        refusals.append(
            PlanRefused(
                "protected-user",
                f"the plan would {what} protected user {op.address.split('/user/')[1]} in workspace {op.workspace!r}",
                hint="remove the user from settings.protected_users first if this is intended",
            )
        )
    return refusals


def _mass_change(plan: ops.Plan, snapshot: Snapshot) -> list[PlanRefused]:
    """Archiving, or changing the role of, more than 25 % of a workspace's non-archived members; destroying more
    than 25 % of its custom groups (each counted alone, for workspaces with at least 10 of them). The share and the
    minimum are the workspace's settings.rails when the plan carries them. Members matching settings.ignore are
    left out of the archive share (the configuration never archives them, so they would dilute it), but not of the
    role share: rule 1 still reaches them when a group's definition changes (docs/ownership.md)."""
    archives = Counter(op.workspace for op in plan.ops if isinstance(op, ops.ArchiveMembership))
    destroys = Counter(op.workspace for op in plan.ops if isinstance(op, ops.DestroyGroup))
    archived = {(op.workspace, op.email) for op in plan.ops if isinstance(op, ops.ArchiveMembership)}
    roles: Counter[str] = Counter()
    for op in plan.ops:
        if not isinstance(op, ops.UpdateMembership) or op.role is None or (op.workspace, op.email) in archived:
            continue
        ws = snapshot.workspaces.get(op.workspace)
        member = ws.memberships.get(op.email) if ws is not None else None
        if member is not None and member.status != "archived":
            roles[op.workspace] += 1
    refusals = []
    settings = rails_of(plan)
    for slug, ws in sorted(snapshot.workspaces.items()):
        rails = settings.get(slug, ops.WorkspaceRails(slug))
        members = sum(1 for m in ws.memberships.values() if m.status != "archived")
        managed = sum(1 for m in ws.memberships.values() if m.status != "archived" and not _ignored(m.email, rails))
        for count, total, what in (
            (archives[slug], managed, "archive {count} of the {total} non-archived members"),
            (roles[slug], members, "change the role of {count} of the {total} non-archived members"),
            (destroys[slug], len(ws.groups), "destroy {count} of the {total} custom groups"),
        ):
            if total >= rails.mass_change_min and count > rails.mass_change_share * total:
                refusals.append(
                    PlanRefused(
                        "mass-change",
                        f"the plan would {what.format(count=count, total=total)} of workspace {slug!r} (more than "
                        f"{rails.mass_change_share * 100:g}%)",
                        hint="check the configuration; pass --allow-mass-change if this is intended",
                    )
                )
    return refusals


# --- issue 17: per-workspace thresholds, prune: confirm ------------------------------------------------------


def rails_of(plan: ops.Plan) -> dict[str, ops.WorkspaceRails]:
    """The plan's per-workspace rail settings (workspaces without one use the defaults)."""
    return {rails.workspace: rails for rails in plan.rails}


def _ignored(email: str, rails: ops.WorkspaceRails) -> bool:
    """Members matching settings.ignore are not the configuration's: the mass-change totals leave them out."""
    return any(fnmatchcase(email.lower(), pattern) for pattern in rails.ignore)


def removals(plan: ops.Plan) -> list[PlanRefused]:
    """``prune: confirm``: the plan's archives of members not in the configuration and its group destructions
    need --allow-removals (a declared ``status: archived`` is no removal: the configuration asks for it)."""
    confirm = {rails.workspace for rails in plan.rails if rails.confirm_removals}
    archives: Counter[str] = Counter()
    destroys: Counter[str] = Counter()
    for op in plan.ops:
        if op.workspace not in confirm:
            continue
        if isinstance(op, ops.ArchiveMembership) and op.reason != ops.DECLARED_ARCHIVE_REASON:
            archives[op.workspace] += 1
        elif isinstance(op, ops.DestroyGroup):
            destroys[op.workspace] += 1
    refusals = []
    for slug in sorted(confirm):
        parts = [
            f"{count} {noun}{'' if count == 1 else 's'}"
            for count, noun in ((archives[slug], "archive of a member"), (destroys[slug], "group destruction"))
            if count
        ]
        if parts:
            refusals.append(
                PlanRefused(
                    "removals",
                    f"the plan removes what is not in the configuration of workspace {slug!r} ({' and '.join(parts)}), "
                    "and its settings.prune is confirm",
                    hint="review the removals in the plan, then pass --allow-removals to apply them",
                )
            )
    return refusals
