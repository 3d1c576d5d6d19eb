"""build_plan(desired, snapshot) -> Plan.

Stage: plan. Pure: no Session, no I/O. Compares the configuration, normalised into the snapshot types, with
what the database holds, by natural keys and set operations (no quadratic passes), and records every change
as an op from ``ops.py``, with the affected role changes and their causes (SPEC 1, rule 2), the grants of admin
and builder to new or unarchived memberships, and notes (a declared demotion that a group absorbs). Groups never
promote an archived membership (docs/plan-and-apply.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from . import ops
from .desired import DesiredState, DesiredWorkspace
from .expiry import expired_reason
from .ops import DECLARED_ARCHIVE_REASON, FieldChange, Grant, MetadataKeyChange, Plan, RoleChange, WorkspaceRails
from .ownership import cede, joined_by
from .roles import BuilderLevelReason, describe_groups, effective_role, implying_groups
from .state import (
    DEFAULT_BUILDER_PERMISSIONS,
    FLAG_NAMES,
    ROLE_RANK,
    GroupPermissions,
    Membership,
    Metadata,
    Role,
    Snapshot,
    User,
    Workspace,
    settle,
)

PRUNE_REASON = "not in configuration, prune: {prune}; groups and metadata kept"
PRUNE_ARCHIVE_REASON = PRUNE_REASON.format(prune="archive")
PRIVILEGED: frozenset[Role] = frozenset({"admin", "builder"})
HELD_NOTES_PER_WORKSPACE = 10  # notes about declared end-users kept at builder, per workspace, before a count


def build_plan(
    desired: DesiredState,
    snapshot: Snapshot,
    *,
    workspaces: Collection[str] | None = None,
    created_at: str | None = None,
    plan_id: str | None = None,
) -> Plan:
    """Diff ``desired`` against ``snapshot``; ``workspaces`` limits the plan to those slugs. ``created_at`` and
    ``plan_id`` default to now and a fresh random id (the only inputs that are not the two states)."""
    selected = [s for s in sorted(desired.workspaces) if workspaces is None or s in workspaces]
    out: list[ops.Op] = []
    role_changes: list[RoleChange] = []
    grants: list[Grant] = []
    notes: list[str] = []
    unmanaged: list[str] = []
    users_done: set[str] = set()
    protected: list[str] = []
    ceded: list[ops.Ceded] = []
    for slug in selected:
        protected += [f"{slug}/user/{e}" for e in sorted(desired.workspaces[slug].settings.protected_users)]
        diff = _WorkspaceDiff(desired.workspaces[slug], snapshot.workspaces.get(slug))
        ceded += diff.ceded
        out += diff.workspace_ops()
        out += _user_ops(slug, diff.planned_memberships(), desired.users, snapshot.users, users_done)
        out += diff.membership_ops()
        out += app_transfers(desired.workspaces[slug], snapshot.workspaces.get(slug), diff.role_changes)
        out += diff.destroy_ops()
        role_changes += diff.role_changes
        grants += diff.grants
        notes += diff.notes()
        unmanaged += diff.unmanaged
    return Plan(
        ops=tuple(out),
        role_changes=tuple(role_changes),
        grants=tuple(grants),
        notes=tuple(notes),
        unmanaged=tuple(unmanaged),
        workspaces=tuple(selected),
        protected=tuple(protected),
        config_hash=desired.config_hash,
        state_fingerprint=snapshot.fingerprint,
        created_at=created_at or datetime.now(UTC).isoformat(timespec="seconds"),
        plan_id=plan_id or uuid.uuid4().hex,
        ceded=tuple(ceded),
        rails=workspace_rails(desired, selected),
    )


def demoted_owners(have: Workspace | None, role_changes: Iterable[RoleChange]) -> list[tuple[str, tuple[str, ...]]]:
    """The members ``role_changes`` demote to end-user who own apps in ``have`` (ToolJet's ``apps.user_id``), with
    the names of their apps."""
    if have is None or not have.app_owners:
        return []
    return [
        (change.email, have.app_owners[change.email])
        for change in role_changes
        if change.new == "end-user" and change.old != "end-user" and have.app_owners.get(change.email)
    ]


def app_transfers(
    want: DesiredWorkspace, have: Workspace | None, role_changes: Iterable[RoleChange]
) -> list[ops.TransferApps]:
    """With ``settings.transfer_apps_to``, the apps of each demoted owner pass to that admin, as ToolJet's role
    change passes them to the acting admin (server/src/modules/roles/util.service.ts). Without it no op: the
    workflow refuses the demotion with ToolJet's message."""
    target = want.settings.transfer_apps_to
    if target is None:
        return []
    return [
        ops.TransferApps(workspace=want.slug, email=email, to=target, apps=apps)
        for email, apps in demoted_owners(have, role_changes)
        if email != target
    ]


def workspace_rails(desired: DesiredState, slugs: Iterable[str]) -> tuple[WorkspaceRails, ...]:
    """The rail settings of the workspaces that do not use the defaults (issue 17), for the plan to carry."""
    result = []
    for slug in slugs:
        ws = desired.workspaces[slug]
        rails = WorkspaceRails(
            slug,
            ws.ownership.mass_change_share,
            ws.ownership.mass_change_min,
            ws.ownership.ignore,
            ws.settings.prune == "confirm",
        )
        if rails != WorkspaceRails(slug):
            result.append(rails)
    return tuple(result)


def keep_unnamed_apps(before: GroupPermissions, after: GroupPermissions) -> GroupPermissions:
    """``after`` with the apps no configuration can name (ToolJet apps without a slug, ``AppGrant.unnamed``) kept
    in the grant that replaces theirs in place (same position) when it keeps the access level and names apps; in
    any other case they leave with their grant. Either way the plan's ``granular.apps`` line shows them."""
    grants = list(after.app_grants)
    for i, (old, new) in enumerate(zip(before.app_grants, after.app_grants, strict=False)):
        if old.unnamed and new.apps is not None and new.access == old.access:
            grants[i] = replace(new, unnamed=old.unnamed)
    return replace(after, app_grants=tuple(grants))


def diff_permissions(before: GroupPermissions, after: GroupPermissions) -> tuple[FieldChange, ...]:
    changes = [
        FieldChange(f"permissions.{flag}", flag in before.flags, flag in after.flags)
        for flag in FLAG_NAMES
        if (flag in before.flags) != (flag in after.flags)
    ]
    if before.app_grants != after.app_grants:
        changes.append(
            FieldChange(
                "granular.apps",
                tuple(g.describe() for g in before.app_grants),
                tuple(g.describe() for g in after.app_grants),
            )
        )
    if before.data_source_grants != after.data_source_grants:
        changes.append(
            FieldChange(
                "granular.data_sources",
                tuple(g.describe() for g in before.data_source_grants),
                tuple(g.describe() for g in after.data_source_grants),
            )
        )
    return tuple(changes)


def _user_ops(
    slug: str,
    memberships: dict[str, Membership],
    wanted: dict[str, User],
    existing: dict[str, User],
    done: set[str],
) -> list[ops.Op]:
    """Instance-wide users, each planned once, under the first workspace that declares them."""
    result: list[ops.Op] = []
    for email in sorted(memberships.keys() - done):
        done.add(email)
        want, have = wanted[email], existing.get(email)
        if have is None:
            result.append(
                ops.CreateUser(workspace=slug, email=email, first_name=want.first_name, last_name=want.last_name)
            )
            continue
        changes = tuple(
            FieldChange(name, getattr(have, name), getattr(want, name))
            for name in ("first_name", "last_name")
            if getattr(have, name) != getattr(want, name)
        )
        if changes:
            result.append(ops.UpdateUser(workspace=slug, email=email, changes=changes))
    return result


@dataclass
class _WorkspaceDiff:
    desired: DesiredWorkspace
    current: Workspace | None

    def __post_init__(self) -> None:
        self.want = self.desired.workspace
        self.slug = self.want.slug
        self.have = self.current or Workspace(self.slug, self.want.name, builder=DEFAULT_BUILDER_PERMISSIONS)
        self.prune = self.desired.settings.prune != "none"  # archive, or confirm (apply asks for --allow-removals)
        self.renames = self._renames()  # old name -> new name
        self.everyone = self.have.memberships  # ignored members included (they still lose a destroyed group)
        ceding = cede(self.desired, self.have, self.renames)
        self.want, self.have, self.ignored, self.ceded = ceding.want, ceding.have, ceding.ignored, ceding.ceded
        # the database's groups as they will be named after the renames
        self.have_groups = {self.renames.get(n, n): p for n, p in self.have.groups.items()}
        # what the configuration leaves alone (unmentioned optional flags, builder-level extras) as stored
        self.want = replace(
            self.want,
            builder=settle(self.want.builder, self.have.builder),
            groups={name: settle(p, self.have_groups.get(name)) for name, p in self.want.groups.items()},
        )
        self.unmanaged_groups = set() if self.prune else self.have_groups.keys() - self.want.groups.keys()
        self.role_changes: list[RoleChange] = []
        self.grants: list[Grant] = []
        # declared end-users whom a builder-level group keeps at builder (a declared demotion it absorbs)
        self.held: list[tuple[str, tuple[BuilderLevelReason, ...]]] = []
        self.unmanaged: list[str] = [f"{self.slug}/group/{n}" for n in sorted(self.unmanaged_groups)]

    def planned_memberships(self) -> dict[str, Membership]:
        """The declared memberships the plan creates or keeps: not those that expired before they ever existed
        (an expired membership is absent; one the database holds is archived instead)."""
        return {e: m for e, m in self.want.memberships.items() if not self._expired_unknown(e)}

    def _expired_unknown(self, email: str) -> bool:
        expiries = self.desired.expiries.get(email)
        return expiries is not None and expiries.membership_expired and email not in self.have.memberships

    def _archive_reason(self, email: str) -> str:
        expiries = self.desired.expiries.get(email)
        if expiries is not None and expiries.membership_expired and expiries.membership is not None:
            return f"{expired_reason(expiries.membership)}; groups and metadata kept"
        return DECLARED_ARCHIVE_REASON

    def _renames(self) -> dict[str, str]:
        renames = {}
        for new, olds in sorted(self.desired.previously.items()):
            if new in self.have.groups:
                continue
            for old in olds:
                if old in self.have.groups and old not in self.want.groups and old not in renames:
                    renames[old] = new
                    break
        return renames

    # --- workspace, registry, roles, groups ----------------------------------------------------

    def workspace_ops(self) -> list[ops.Op]:
        slug, want, have = self.slug, self.want, self.have
        result: list[ops.Op] = []
        if self.current is None:
            result.append(ops.CreateWorkspace(workspace=slug, name=want.name, status=want.status))
        else:
            if have.name != want.name:
                result.append(ops.UpdateWorkspace(workspace=slug, changes=(FieldChange("name", have.name, want.name),)))
            if have.status != want.status:
                archive = want.status == "archived"
                result.append(
                    ops.ArchiveWorkspace(workspace=slug) if archive else ops.UnarchiveWorkspace(workspace=slug)
                )
        for app_slug, name in sorted(want.apps.items()):
            if app_slug not in have.apps:
                result.append(ops.CreateApp(workspace=slug, slug=app_slug, name=name))
            elif have.apps[app_slug] != name:
                result.append(
                    ops.UpdateApp(
                        workspace=slug, slug=app_slug, changes=(FieldChange("name", have.apps[app_slug], name),)
                    )
                )
        result += [ops.CreateDataSource(workspace=slug, name=n) for n in sorted(want.data_sources - have.data_sources)]
        if want.builder != have.builder:
            after = keep_unnamed_apps(have.builder, want.builder)
            result.append(
                ops.UpdateBuilderRole(
                    workspace=slug, before=have.builder, after=after, changes=diff_permissions(have.builder, after)
                )
            )
        result += [
            ops.RenameGroup(workspace=slug, old_name=old, new_name=new) for old, new in sorted(self.renames.items())
        ]
        for name, perms in sorted(want.groups.items()):
            before = self.have_groups.get(name)
            if before is None:
                result.append(ops.CreateGroup(workspace=slug, name=name, permissions=perms))
            elif before != perms:
                after = keep_unnamed_apps(before, perms)
                result.append(
                    ops.UpdateGroup(
                        workspace=slug, name=name, before=before, after=after, changes=diff_permissions(before, after)
                    )
                )
        return result

    def destroy_ops(self) -> list[ops.Op]:
        if not self.prune:
            return []
        doomed = sorted(self.have_groups.keys() - self.want.groups.keys())
        counts = dict.fromkeys(doomed, 0)
        for member in self.everyone.values():
            for group in member.groups:
                name = self.renames.get(group, group)
                if name in counts:
                    counts[name] += 1
        return [ops.DestroyGroup(workspace=self.slug, name=name, member_count=counts[name]) for name in doomed]

    # --- memberships ---------------------------------------------------------------------------

    def membership_ops(self) -> list[ops.Op]:
        creates: list[ops.Op] = []
        updates: list[ops.Op] = []
        archives: list[ops.Op] = []
        for email in sorted(self.want.memberships):
            want = self.want.memberships[email]
            have = self.have.memberships.get(email)
            if have is None:
                if not self._expired_unknown(email):
                    creates.append(self._create(want))
                continue
            if want.status == "archived" and have.status != "archived":
                archives.append(
                    ops.ArchiveMembership(workspace=self.slug, email=email, reason=self._archive_reason(email))
                )
            elif want.status != "archived" and have.status == "archived":
                updates.append(ops.UnarchiveMembership(workspace=self.slug, email=email))
            update = self._update(want, have)
            if update is not None:
                updates.append(update)
            if have.status == "archived" and want.status != "archived" and (update is None or update.role is None):
                self._grant(want, have.role, "unarchived", self._effective(want, have)[1])
        for email in sorted(self.have.memberships.keys() - self.want.memberships.keys()):
            if self.have.memberships[email].status == "archived":
                continue  # not in the file and archived: left alone, groups never promote it (rule of archives)
            if self.prune:
                reason = PRUNE_REASON.format(prune=self.desired.settings.prune) + joined_by(self.have, email)
                archives.append(ops.ArchiveMembership(workspace=self.slug, email=email, reason=reason))
                repair = self._repair(self.have.memberships[email], None)
                if repair is not None:
                    updates.append(repair)
            else:
                self.unmanaged.append(f"{self.slug}/user/{email}")
                have = self.have.memberships[email]
                promotion = self._repair(have, self._unmanaged_promotion(have))
                if promotion is not None:
                    updates.append(promotion)
        for email in sorted(self.ignored):  # ignored members are left alone, but rule 1 holds for them too
            have = self.ignored[email]
            promotion = self._unmanaged_promotion(have) if have.status != "archived" else None
            promotion = self._repair(have, promotion)
            if promotion is not None:
                updates.append(promotion)
        return creates + updates + archives

    def notes(self) -> list[str]:
        """A declared end-user whom a builder-level group keeps at builder: a declared demotion shows no change.
        Stored metadata that could not be read: replaced when the file manages it, else left alone."""
        notes = [
            f"{self.slug}: {email} is declared end-user but stays builder because of {describe_groups(implied)}; "
            f"to make them an end-user, take {'the group' if len(implied) == 1 else 'those groups'} out of their "
            "entry (as ToolJet's Edit role does)"
            for email, implied in self.held[:HELD_NOTES_PER_WORKSPACE]
        ]
        more = len(self.held) - HELD_NOTES_PER_WORKSPACE
        if more > 0:
            notes.append(
                f"{self.slug}: {more} more member{'s' if more > 1 else ''} declared end-user "
                f"stay{'' if more > 1 else 's'} builder because of their groups"
            )
        for email, reason in sorted(self.have.metadata_problems.items()):
            want = self.want.memberships.get(email)
            managed = want is not None and not want.metadata.unmanaged
            outcome = "the plan replaces it with the configuration's" if managed else "left alone (not managed here)"
            notes.append(f"{self.slug}: the stored metadata of {email} cannot be read: {reason}; {outcome}")
        return notes

    def _unmanaged_promotion(self, have: Membership) -> ops.UpdateMembership | None:
        """Rule 1 holds for unmanaged members too: an end-user in a group that becomes builder-level is
        promoted (their groups stay as they are; only the role follows the group's new permissions)."""
        if have.role != "end-user":
            return None
        # the groups they hold after the plan: a group the plan destroys (prune) promotes nobody
        definitions = {**self.have_groups, **self.want.groups} if not self.prune else dict(self.want.groups)
        groups = {self.renames.get(g, g) for g in have.groups} & definitions.keys()
        new, implied = effective_role("end-user", groups, definitions)
        if new == "end-user":
            return None
        change = RoleChange(self.slug, have.email, "end-user", new, "implied by " + describe_groups(implied))
        self.role_changes.append(change)
        return ops.UpdateMembership(workspace=self.slug, email=have.email, role=change)

    def _create(self, want: Membership) -> ops.CreateMembership:
        status = "archived" if want.status == "archived" else "invited"
        if status == "archived":
            role, implied = want.role, ()  # groups never promote an archived membership
        else:
            role, implied = effective_role(want.role, want.groups, self.want.groups)
            self._grant(want, role, "new", implied)
        keys = want.metadata.keys() if want.metadata.known else ()
        return ops.CreateMembership(
            workspace=self.slug,
            email=want.email,
            role=role,
            status=status,
            groups=tuple(sorted(want.groups)),
            metadata_keys=keys,
            metadata=want.metadata if want.metadata.has_values else Metadata.UNMANAGED,
            metadata_sources=self._metadata_sources(want.email, keys),
        )

    def _grant(
        self, want: Membership, role: Role, kind: ops.GrantKind, implied: tuple[BuilderLevelReason, ...]
    ) -> None:
        if role not in PRIVILEGED:
            return
        cause = f"builder via {describe_groups(implied)}; declared {want.role}" if implied else "declared"
        self.grants.append(Grant(self.slug, want.email, role, kind, cause))

    def _update(self, want: Membership, have: Membership) -> ops.UpdateMembership | None:
        have_groups = {self.renames.get(g, g) for g in have.groups}
        managed_have = (
            have_groups - self.unmanaged_groups - (have_groups - self.want.groups.keys() if self.prune else set())
        )
        added = tuple(sorted(want.groups - have_groups))
        removed = tuple(sorted(managed_have - want.groups))
        role_change = self._role_change(want, have, have_groups)
        unreadable = "" if want.metadata.unmanaged else self.have.metadata_problems.get(want.email, "")
        meta_changes = _metadata_changes(have.metadata, want.metadata, replacing=bool(unreadable))
        found = self._groups_to_repair(have, want.status)
        if role_change is None and not added and not removed and not meta_changes and not unreadable and found is None:
            return None
        return ops.UpdateMembership(
            workspace=self.slug,
            email=want.email,
            role=role_change,
            groups_added=added,
            groups_removed=removed,
            metadata_changes=meta_changes,
            metadata=want.metadata if meta_changes or unreadable else Metadata.UNMANAGED,
            metadata_sources=self._metadata_sources(want.email, [c.key for c in meta_changes if c.kind != "remove"]),
            expired_groups=self._expired_groups(want.email, removed),
            default_groups_found=found or (),
            repair_role=None if found is None else role_change.new if role_change is not None else have.role,
            metadata_unreadable=unreadable,
        )

    def _groups_to_repair(self, have: Membership, status_after: str) -> tuple[str, ...] | None:
        """The default groups found for a member ToolJet holds in several or none, unless the membership is and
        stays archived: ToolJet refuses group changes for archived members, so those wait for the unarchive."""
        if have.status == "archived" and status_after == "archived":
            return None
        return self.have.default_groups_found.get(have.email)

    def _repair(self, have: Membership, promotion: ops.UpdateMembership | None) -> ops.UpdateMembership | None:
        """A member the file does not manage, whom ToolJet holds in several default groups or none: the one
        default group ToolJet reads them by (its precedence) is kept, the others removed (issue 16, M4)."""
        found = self._groups_to_repair(have, have.status)
        if found is None:
            return promotion
        if promotion is not None:
            role = promotion.role.new if promotion.role is not None else have.role
            return replace(promotion, default_groups_found=found, repair_role=role)
        return ops.UpdateMembership(
            workspace=self.slug, email=have.email, default_groups_found=found, repair_role=have.role
        )

    def _expired_groups(self, email: str, removed: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        expiries = self.desired.expiries.get(email)
        if expiries is None:
            return ()
        ended = expiries.expired_groups()
        return tuple((name, ended[name].describe()) for name in removed if name in ended)

    def _metadata_sources(self, email: str, keys: Iterable[str]) -> tuple[tuple[str, str], ...]:
        """Where the secret references among ``keys`` read from, for the plan to name (never a value)."""
        sources = self.desired.metadata_sources.get(email, {})
        return tuple((key, sources[key]) for key in keys if key in sources)

    def _effective(self, want: Membership, have: Membership) -> tuple[Role, tuple[BuilderLevelReason, ...]]:
        """Rule 1 for an existing membership. Groups the file does not manage (prune: none) stay, and so does the
        role they imply. Groups never raise an archived membership (one that stays or becomes archived) above
        both its stored and its declared role: it has no access to raise, and export then plan stays empty."""
        have_groups = {self.renames.get(g, g) for g in have.groups}
        kept = have_groups & self.unmanaged_groups
        definitions = {**{name: self.have_groups[name] for name in kept}, **self.want.groups}
        new, implied = effective_role(want.role, want.groups | kept, definitions)
        if want.status == "archived" and ROLE_RANK[new] > ROLE_RANK[have.role]:
            return want.role, ()
        return new, implied

    def _role_change(self, want: Membership, have: Membership, have_groups: set[str]) -> RoleChange | None:
        new, implied = self._effective(want, have)
        if new == have.role:
            if implied and "archived" not in (want.status, have.status):
                self.held.append((want.email, implied))
            return None
        before = implying_groups(have_groups, self.have_groups) if have.role == "builder" else ()
        cause = change_cause(have.role, new, want.role, implied, before)
        if have.status == "archived":
            cause += "; while archived" if want.status == "archived" else "; on unarchive"
        elif want.status == "archived":
            cause += "; on archive"
        change = RoleChange(self.slug, want.email, have.role, new, cause)
        self.role_changes.append(change)
        return change


def change_cause(
    old: Role,
    new: Role,
    declared: Role,
    implied: tuple[BuilderLevelReason, ...],
    before: tuple[BuilderLevelReason, ...],
) -> str:
    """The cause of a change of effective role ``old`` -> ``new`` (SPEC 1, rule 2).

    ``implied`` are the groups that make ``new`` builder (only when ``declared`` is end-user), ``before`` the
    builder-level groups the member sat in while builder. The database stores the effective role only, so the
    declared role before the change is known except for a builder in a builder-level group: then the cause names
    both the group that no longer implies builder and the declared role the member falls back to.
    """
    if implied:
        if old == "end-user":
            return "implied by " + describe_groups(implied)
        return f"declared {declared}; held at builder by {describe_groups(implied)}"  # an admin declared end-user
    if before and new == "end-user":
        return "no longer implied by " + ", ".join(f'group "{r.group}"' for r in before) + f"; declared {declared}"
    return "declared"


def _metadata_changes(have: Metadata, want: Metadata, *, replacing: bool = False) -> tuple[MetadataKeyChange, ...]:
    """The keys that change when the stored metadata ``have`` becomes ``want``; none when ``want`` is unmanaged.
    A managed ``want`` needs ``have``'s values: planning against a snapshot read without decrypting them raises,
    unless ``replacing`` (the backend read them and found them unreadable): then every key of ``want`` is new."""
    if want.unmanaged:
        return ()
    if replacing and not have.known:
        return tuple(MetadataKeyChange(k, "add") for k in sorted(want.values))
    old, new = have.values, want.values
    changes = [MetadataKeyChange(k, "add") for k in new.keys() - old.keys()]
    changes += [MetadataKeyChange(k, "change") for k in new.keys() & old.keys() if new[k] != old[k]]
    changes += [MetadataKeyChange(k, "remove") for k in old.keys() - new.keys()]
    return tuple(sorted(changes, key=lambda c: c.key))
