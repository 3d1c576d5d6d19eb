"""The plan as data: one frozen dataclass per kind of change, and the Plan that holds them.

Stage: produced by ``planner.build_plan``, consumed by the renderers and by a backend's executor, which
both dispatch on the op class. Ops carry natural keys (workspace slug, group name, email), never database ids.
Metadata values travel in ``metadata`` fields (a ``state.Metadata``: ``UNMANAGED`` when the op writes none, the
values it writes, ``UNREAD`` when a saved plan was loaded without decrypting them) that are excluded from ``repr``
and from every renderer.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from .limits import SeatLimits
from .policies import Policy, PolicyResult
from .state import GroupPermissions, MembershipStatus, Metadata, Role, WorkspaceStatus


@dataclass(frozen=True)
class FieldChange:
    """One changed field: ``field`` in dotted form (``name``, ``permissions.apps.create``, ``granular.apps``)."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True, kw_only=True)
class Op:
    action: ClassVar[str] = "update"  # create | update | destroy | rename | archive | unarchive
    workspace: str

    @property
    def address(self) -> str:
        raise NotImplementedError


# --- workspaces and the registry ---------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CreateWorkspace(Op):
    action: ClassVar[str] = "create"
    name: str
    status: WorkspaceStatus = "active"

    @property
    def address(self) -> str:
        return self.workspace


@dataclass(frozen=True, kw_only=True)
class UpdateWorkspace(Op):
    changes: tuple[FieldChange, ...]

    @property
    def address(self) -> str:
        return self.workspace


@dataclass(frozen=True, kw_only=True)
class ArchiveWorkspace(Op):
    """``status: archived`` on an existing workspace: nobody has access any more; nothing is deleted."""

    action: ClassVar[str] = "archive"

    @property
    def address(self) -> str:
        return self.workspace


@dataclass(frozen=True, kw_only=True)
class UnarchiveWorkspace(Op):
    action: ClassVar[str] = "unarchive"

    @property
    def address(self) -> str:
        return self.workspace


@dataclass(frozen=True, kw_only=True)
class CreateApp(Op):
    action: ClassVar[str] = "create"
    slug: str
    name: str

    @property
    def address(self) -> str:
        return f"{self.workspace}/app/{self.slug}"


@dataclass(frozen=True, kw_only=True)
class UpdateApp(Op):
    slug: str
    changes: tuple[FieldChange, ...]

    @property
    def address(self) -> str:
        return f"{self.workspace}/app/{self.slug}"


@dataclass(frozen=True, kw_only=True)
class CreateDataSource(Op):
    action: ClassVar[str] = "create"
    name: str

    @property
    def address(self) -> str:
        return f"{self.workspace}/data_source/{self.name}"


# --- roles and groups ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class UpdateBuilderRole(Op):
    before: GroupPermissions
    after: GroupPermissions
    changes: tuple[FieldChange, ...]

    @property
    def address(self) -> str:
        return f"{self.workspace}/role/builder"


@dataclass(frozen=True, kw_only=True)
class CreateGroup(Op):
    action: ClassVar[str] = "create"
    name: str
    permissions: GroupPermissions

    @property
    def address(self) -> str:
        return f"{self.workspace}/group/{self.name}"


@dataclass(frozen=True, kw_only=True)
class RenameGroup(Op):
    action: ClassVar[str] = "rename"
    old_name: str
    new_name: str

    @property
    def address(self) -> str:
        return f"{self.workspace}/group/{self.new_name}"


@dataclass(frozen=True, kw_only=True)
class UpdateGroup(Op):
    name: str
    before: GroupPermissions
    after: GroupPermissions
    changes: tuple[FieldChange, ...]

    @property
    def address(self) -> str:
        return f"{self.workspace}/group/{self.name}"


@dataclass(frozen=True, kw_only=True)
class DestroyGroup(Op):
    action: ClassVar[str] = "destroy"
    name: str
    member_count: int

    @property
    def address(self) -> str:
        return f"{self.workspace}/group/{self.name}"


# --- people ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CreateUser(Op):
    """An instance-wide identity; ``workspace`` is the first workspace that declares it (for grouping)."""

    action: ClassVar[str] = "create"
    email: str
    first_name: str
    last_name: str

    @property
    def address(self) -> str:
        return f"user/{self.email}"


@dataclass(frozen=True, kw_only=True)
class UpdateUser(Op):
    email: str
    changes: tuple[FieldChange, ...]

    @property
    def address(self) -> str:
        return f"user/{self.email}"


@dataclass(frozen=True)
class MetadataKeyChange:
    key: str
    kind: str  # "add" | "change" | "remove"


@dataclass(frozen=True, kw_only=True)
class CreateMembership(Op):
    action: ClassVar[str] = "create"
    email: str
    role: Role
    status: MembershipStatus  # invited, or archived when declared so
    groups: tuple[str, ...] = ()
    metadata_keys: tuple[str, ...] = ()
    # what the new membership gets: UNMANAGED (nothing) or its values
    metadata: Metadata = field(default=Metadata.UNMANAGED, repr=False, compare=False, hash=False)
    # (key, where its secret reference reads from: "env ACME_KEY" / "file secrets/x.txt"); never a value
    metadata_sources: tuple[tuple[str, str], ...] = ()

    @property
    def address(self) -> str:
        return f"{self.workspace}/user/{self.email}"


@dataclass(frozen=True)
class RoleChange:
    """A change of effective role of an existing membership, with its cause (SPEC 1, rule 2)."""

    workspace: str
    email: str
    old: Role
    new: Role
    cause: str


GrantKind = Literal["new", "unarchived"]


@dataclass(frozen=True)
class Grant:
    """Admin or builder access given to a membership that has no role to change: a new membership, or one that
    comes back from the archive with its role unchanged. Listed with the role changes, so that the role section
    shows every new privilege; ``cause`` says when a group implies the role."""

    workspace: str
    email: str
    role: Role
    kind: GrantKind
    cause: str


@dataclass(frozen=True)
class RailWarning:
    """A safety rail (SPEC 5) the plan breaks: apply refuses it (``mass-change``: unless --allow-mass-change)."""

    rule: str
    message: str
    hint: str = ""


@dataclass(frozen=True)
class Ceded:
    """Something the configuration leaves to other writers (issue 17): listed by plan and drift, never drift.

    ``kind``: ``ignored`` (a member matching settings.ignore), ``external`` (a group whose members are external),
    ``role`` / ``groups`` / ``metadata`` (a member's kind that settings.manage leaves alone, where the
    configuration says otherwise)."""

    address: str
    kind: str
    reason: str


@dataclass(frozen=True)
class WorkspaceRails:
    """A workspace's rail settings, carried by the plan so that apply (also of a saved plan) checks the same ones.

    ``ignore``: members the mass-change totals leave out (they are not this configuration's);
    ``confirm_removals``: ``prune: confirm``, whose archives and group destructions need --allow-removals."""

    workspace: str
    mass_change_share: float = 0.25
    mass_change_min: int = 10
    ignore: tuple[str, ...] = ()
    confirm_removals: bool = False


@dataclass(frozen=True)
class ExpiringAccess:
    """A membership (``group`` empty) or group membership that ends within the window ``plan``/``drift`` look
    ahead (``--expiring-within``): ``expires`` as shown (UTC, zone included), ``at`` as an ISO 8601 UTC time."""

    workspace: str
    email: str
    group: str
    expires: str
    at: str


@dataclass(frozen=True)
class HygieneFinding:
    """Access hygiene (``drift``, ``report``): a stale invitation, or an active member not signed in for long
    (``since``: when, as shown, UTC; ``days``: how long ago), or without any sign-in on record."""

    workspace: str
    email: str
    kind: str  # stale-invitation | not-signed-in | no-sign-in-on-record
    since: str = ""
    days: int = 0


@dataclass(frozen=True, kw_only=True)
class UpdateMembership(Op):
    email: str
    role: RoleChange | None = None
    groups_added: tuple[str, ...] = ()
    groups_removed: tuple[str, ...] = ()
    metadata_changes: tuple[MetadataKeyChange, ...] = ()
    # the whole new metadata when metadata_changes is not empty (EMPTY: remove it all), else UNMANAGED
    metadata: Metadata = field(default=Metadata.UNMANAGED, repr=False, compare=False, hash=False)
    metadata_sources: tuple[tuple[str, str], ...] = ()  # as in CreateMembership, for added and changed keys
    # (group, when it ended) for the removed groups whose membership expired (``expires:``), shown as the reason
    expired_groups: tuple[tuple[str, str], ...] = ()
    # ToolJet holds the member in several default groups or none (issue 16, M4): the default groups found, and
    # the role whose default group is then the only one (the new role, or without ``role`` the role as read,
    # ToolJet's reading of them); None: nothing to repair.
    default_groups_found: tuple[str, ...] = ()
    repair_role: Role | None = None
    # Why the stored metadata could not be read (never its value): the op replaces it with ``metadata``.
    metadata_unreadable: str = ""

    @property
    def address(self) -> str:
        return f"{self.workspace}/user/{self.email}"


DECLARED_ARCHIVE_REASON = "status: archived in configuration; groups and metadata kept"


@dataclass(frozen=True, kw_only=True)
class ArchiveMembership(Op):
    action: ClassVar[str] = "archive"
    email: str
    reason: str

    @property
    def address(self) -> str:
        return f"{self.workspace}/user/{self.email}"


@dataclass(frozen=True, kw_only=True)
class UnarchiveMembership(Op):
    action: ClassVar[str] = "unarchive"
    email: str

    @property
    def address(self) -> str:
        return f"{self.workspace}/user/{self.email}"


@dataclass(frozen=True, kw_only=True)
class TransferApps(Op):
    """The apps ``email`` owns pass to ``to`` (``settings.transfer_apps_to``) before ``email`` is demoted to
    end-user: ToolJet lets owners edit their apps whatever their role, and its role change moves them to the
    acting admin (server/src/modules/roles/util.service.ts, ``editDefaultGroupUserRole``). Only a backend whose
    snapshot has app owners (ToolJet) leads to one."""

    email: str
    to: str
    apps: tuple[str, ...]

    @property
    def address(self) -> str:
        return f"{self.workspace}/user/{self.email}/apps"


OP_TYPES: dict[str, type[Op]] = {
    cls.__name__: cls
    for cls in (
        CreateWorkspace,
        UpdateWorkspace,
        ArchiveWorkspace,
        UnarchiveWorkspace,
        CreateApp,
        UpdateApp,
        CreateDataSource,
        UpdateBuilderRole,
        CreateGroup,
        RenameGroup,
        UpdateGroup,
        DestroyGroup,
        CreateUser,
        UpdateUser,
        CreateMembership,
        UpdateMembership,
        ArchiveMembership,
        UnarchiveMembership,
        TransferApps,
    )
}

SUMMARY_KEYS = ("add", "change", "destroy", "rename", "archive", "unarchive", "role_changes", "grants")
_ACTION_TO_KEY = {
    "create": "add",
    "update": "change",
    "destroy": "destroy",
    "rename": "rename",
    "archive": "archive",
    "unarchive": "unarchive",
}


@dataclass(frozen=True)
class Plan:
    ops: tuple[Op, ...]
    # Changes of the stored role of existing memberships (archived ones and those being (un)archived included).
    role_changes: tuple[RoleChange, ...] = ()
    # Members and groups left alone because of ``prune: none`` (addresses); drift lists them.
    unmanaged: tuple[str, ...] = ()
    # The workspaces the plan was made for: apply re-reads exactly these to compare fingerprints.
    workspaces: tuple[str, ...] = ()
    # ``slug/user/email`` addresses of the configuration's protected_users (checked again at apply).
    protected: tuple[str, ...] = ()
    config_hash: str = ""
    state_fingerprint: str = ""
    created_at: str = ""
    # A random id given when the plan is built: apply records it, and a saved plan is applied at most once.
    plan_id: str = ""
    # New admins and builders without a role change (new memberships, unarchives), shown with the role changes.
    grants: tuple[Grant, ...] = ()
    # The safety rails the plan breaks, filled by ``workflow.make_plan``; apply checks them again.
    warnings: tuple[RailWarning, ...] = ()
    # What a reviewer should know that is not a change, e.g. a declared demotion that a group absorbs.
    notes: tuple[str, ...] = ()
    # What the configuration cedes to other writers (settings.ignore, members: external, settings.manage): listed
    # by plan and drift, never drift.
    ceded: tuple[Ceded, ...] = ()
    # Per-workspace rail settings (thresholds, prune: confirm); workspaces without an entry use the defaults.
    rails: tuple[WorkspaceRails, ...] = ()
    # Access that ends within the window the plan looked ahead (``--expiring-within``, ``expiring_window``).
    expiring: tuple[ExpiringAccess, ...] = ()
    expiring_window: str = ""
    # The policies the plan was checked against (issue 18), their digest (apply refuses the plan when the
    # configuration's policies differ), and the results on the state the plan leads to (drift: on the database).
    policies: tuple[Policy, ...] = ()
    policy_digest: str = ""
    policy_results: tuple[PolicyResult, ...] = ()
    # Access hygiene findings (``drift``): stale invitations, members who stopped signing in.
    hygiene: tuple[HygieneFinding, ...] = ()
    # Declared seat limits (issue 16, ``limits:``) the plan was checked against (apply checks them again under
    # its lock), and the warnings of limits it leaves exceeded without raising the count.
    seat_limits: tuple[SeatLimits, ...] = ()
    seat_warnings: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.ops

    @property
    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(SUMMARY_KEYS, 0)
        for op in self.ops:
            counts[_ACTION_TO_KEY[op.action]] += 1
        counts["role_changes"] = len(self.role_changes)
        counts["grants"] = len(self.grants)
        return counts

    def for_workspace(self, slug: str) -> tuple[Op, ...]:
        return tuple(op for op in self.ops if op.workspace == slug)


def archived_after(plan: Plan, archived: Collection[str]) -> frozenset[str]:
    """The workspaces that are archived once ``plan`` is applied, given the ones ``archived`` before it
    (executors send no invitation for memberships of those)."""
    result = set(archived)
    for op in plan.ops:
        if isinstance(op, ArchiveWorkspace) or (isinstance(op, CreateWorkspace) and op.status == "archived"):
            result.add(op.workspace)
        elif isinstance(op, UnarchiveWorkspace):
            result.discard(op.workspace)
        elif isinstance(op, UpdateWorkspace):  # a plan saved before ArchiveWorkspace existed
            for change in op.changes:
                if change.field == "status":
                    (result.add if change.new == "archived" else result.discard)(op.workspace)
    return frozenset(result)
