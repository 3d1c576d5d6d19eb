"""Immutable snapshot types shared by every stage.

A backend reads the database into these; the config layer normalises the YAML into the same shapes
(``desired.py``), so the planner compares like with like and never knows which database it talks to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar, Literal

Role = Literal["admin", "builder", "end-user"]
ROLES: tuple[Role, ...] = ("end-user", "builder", "admin")  # ascending order of power
ROLE_RANK = {r: i for i, r in enumerate(ROLES)}
MembershipStatus = Literal["invited", "active", "archived"]
WorkspaceStatus = Literal["active", "archived"]
AppAccess = Literal["edit", "view"]
DataSourceAccess = Literal["configure", "use"]

# Permission flags in their YAML spelling (section.action), in display order.
FLAG_NAMES: tuple[str, ...] = (
    "apps.create",
    "apps.delete",
    "folders.create",
    "folders.update",
    "folders.delete",
    "workspace_constants.create",
    "workspace_constants.update",
    "workspace_constants.delete",
    "data_sources.create",
    "data_sources.delete",
    "apps.promote",
    "apps.release",
    "workflows.create",
    "workflows.delete",
    "tooljet_database.create",
    "tooljet_database.update",
    "tooljet_database.delete",
    "modules.create",
    "modules.delete",
)
# The flags added after the first ten (issue 16). A configuration that does not mention one leaves it as the
# database holds it on existing groups (a new group gets false, what ToolJet's createGroup writes), so that
# configurations written before they existed keep planning what they planned.
OPTIONAL_FLAG_NAMES: frozenset[str] = frozenset(FLAG_NAMES[10:])


@dataclass(frozen=True)
class AppGrant:
    access: AppAccess
    apps: tuple[str, ...] | None  # None means all apps
    hide_from_dashboard: bool = False
    # Apps ToolJet grants through this row that have no slug (its v2 external API creates them): labels such as
    # ``app <id>``. A configuration cannot name them, so they take no part in comparisons; the plan names them.
    unnamed: tuple[str, ...] = field(default=(), compare=False)

    def describe(self) -> str:
        names = (*self.apps, *self.unnamed) if self.apps is not None else ()
        target = "all" if self.apps is None else "[" + ", ".join(names) + "]"
        hidden = " hidden" if self.hide_from_dashboard else ""
        return f"{self.access} {target}{hidden}"


@dataclass(frozen=True)
class DataSourceGrant:
    access: DataSourceAccess
    data_sources: tuple[str, ...] | None  # None means all data sources

    def describe(self) -> str:
        target = "all" if self.data_sources is None else "[" + ", ".join(self.data_sources) + "]"
        return f"{self.access} {target}"


@dataclass(frozen=True)
class GroupPermissions:
    """Flags and granular grants of a custom group or of the builder role."""

    flags: frozenset[str] = frozenset()  # the FLAG_NAMES that are true
    app_grants: tuple[AppGrant, ...] = ()
    data_source_grants: tuple[DataSourceGrant, ...] = ()
    # Desired side only: the OPTIONAL_FLAG_NAMES the configuration does not mention (kept as stored; see settle).
    unmanaged_flags: frozenset[str] = frozenset()
    # Snapshot side only: what else makes the group builder-level in the database, in the backend's words
    # (a true flag column or an environment access the configuration has no key for). The role rules count
    # them; the configuration cannot change them, so the planner carries them over (settle).
    builder_level_extras: tuple[str, ...] = ()


def settle(want: GroupPermissions, have: GroupPermissions | None) -> GroupPermissions:
    """The desired permissions with what the configuration leaves alone taken from the stored ``have``: its
    unmentioned optional flags and its builder-level extras. Without a stored group, unmentioned flags are
    false (what a new group gets)."""
    if have is None:
        return GroupPermissions(want.flags - want.unmanaged_flags, want.app_grants, want.data_source_grants)
    kept = have.flags & want.unmanaged_flags
    flags = (want.flags - want.unmanaged_flags) | kept
    return GroupPermissions(flags, want.app_grants, want.data_source_grants, frozenset(), have.builder_level_extras)


ADMIN_PERMISSIONS = GroupPermissions(
    flags=frozenset(FLAG_NAMES),
    app_grants=(AppGrant("edit", None),),
    data_source_grants=(DataSourceGrant("configure", None),),
)
DEFAULT_BUILDER_PERMISSIONS = ADMIN_PERMISSIONS  # ToolJet's DEFAULT_GROUP_PERMISSIONS: the builder gets every flag
END_USER_PERMISSIONS = GroupPermissions(app_grants=(AppGrant("view", None),))


@dataclass(frozen=True)
class User:
    email: str  # lower-case
    first_name: str
    last_name: str = ""
    # What the ToolJet instance knows of the person beyond a workspace; both count in ToolJet's seats
    # (access.seat_counts). Other backends and the configuration leave them false.
    archived: bool = False  # archived in the whole instance (ToolJet users.status)
    super_admin: bool = False  # ToolJet user_type 'instance'


MetadataState = Literal["unmanaged", "unread", "values"]


@dataclass(frozen=True, repr=False)
class Metadata:
    """A membership's metadata, in one of three explicit states (once ``None``, which meant each of them):

    - ``Metadata.UNMANAGED``: not managed by the configuration (a user entry without ``metadata:``, an empty CSV
      Metadata cell: SPEC 2.3), so plan leaves whatever is stored alone. In an op: the op writes no metadata.
    - ``Metadata.UNREAD``: the database (or a saved plan) holds metadata that this read did not decrypt, because
      its reader needs no values (the apply's precondition check, ``show``). Its values and keys are unknown.
    - ``Metadata.of(values)``: exactly these keys and values. ``Metadata.EMPTY`` (no keys) is "no metadata": the
      YAML's ``metadata: {}``, and what a snapshot holds for a membership without stored metadata (a database
      without a row and one holding an empty object are alike).

    Asking an unmanaged or unread one for its values raises, and so does using it as a truth value, so that no
    caller can take "unknown" or "leave alone" for "empty" again. Values never appear in ``repr``.
    """

    state: MetadataState
    _values: Mapping[str, str] = field(default_factory=dict, hash=False)

    UNMANAGED: ClassVar[Metadata]
    UNREAD: ClassVar[Metadata]
    EMPTY: ClassVar[Metadata]

    @classmethod
    def of(cls, values: Mapping[str, str]) -> Metadata:
        return cls("values", dict(values))

    @property
    def known(self) -> bool:
        """Whether the keys and values are known (possibly none)."""
        return self.state == "values"

    @property
    def unmanaged(self) -> bool:
        return self.state == "unmanaged"

    @property
    def has_values(self) -> bool:
        """Known, with at least one key."""
        return self.state == "values" and bool(self._values)

    @property
    def values(self) -> Mapping[str, str]:
        """The keys and values, read-only."""
        if self.state != "values":
            raise ValueError(f"metadata is {self.state}: it has no known values")
        return MappingProxyType(self._values)

    def keys(self) -> tuple[str, ...]:
        """The keys, sorted."""
        return tuple(sorted(self.values))

    def __bool__(self) -> bool:
        raise TypeError("Metadata has no truth value: ask .known, .unmanaged or .has_values")

    def __repr__(self) -> str:
        if self.state != "values":
            return f"Metadata.{self.state.upper()}"
        return f"Metadata({len(self._values)} key{'' if len(self._values) == 1 else 's'})"


Metadata.UNMANAGED = Metadata("unmanaged")
Metadata.UNREAD = Metadata("unread")
Metadata.EMPTY = Metadata("values")


@dataclass(frozen=True)
class Membership:
    email: str
    role: Role  # the effective role as stored
    status: MembershipStatus
    groups: frozenset[str] = frozenset()
    # Decrypted metadata (see Metadata). A snapshot holds EMPTY or values (UNREAD when read without decrypting);
    # the desired state UNMANAGED, EMPTY or values.
    metadata: Metadata = field(default=Metadata.EMPTY, hash=False, compare=True, repr=False)


@dataclass(frozen=True)
class Workspace:
    slug: str
    name: str
    status: WorkspaceStatus = "active"
    apps: dict[str, str] = field(default_factory=dict, hash=False)  # slug -> display name
    data_sources: frozenset[str] = frozenset()
    builder: GroupPermissions = DEFAULT_BUILDER_PERMISSIONS
    groups: dict[str, GroupPermissions] = field(default_factory=dict, hash=False)  # custom groups by name
    memberships: dict[str, Membership] = field(default_factory=dict, hash=False)  # by email
    id: str | None = None  # backend identifier, used in invitation links
    # Members that joined by single sign-on rather than by an invitation (issue 17): email -> how ("saml",
    # "google", "openid", "ldap", "git", or "sso" when only the SSO profile shows it). Read by the ToolJet
    # backend; the plan names it, so that a reviewer sees whose sign-ins create and sync these members.
    sso_sources: dict[str, str] = field(default_factory=dict, hash=False)
    # The instance's default workspace (ToolJet's ``organizations.is_default``), which cannot be archived.
    is_default: bool = False
    # Apps each member owns (ToolJet's ``apps.user_id``: owners may edit their apps whatever their role): email ->
    # app names, sorted. Empty where the backend has no owners.
    app_owners: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    # What a backend read tolerantly where the database holds a state the tool never writes (ToolJet, issue 16):
    # email -> why the stored metadata is not a map of strings (never the value); the membership's metadata is
    # UNREAD. email -> the default groups found when not exactly one (the role is read by ToolJet's precedence).
    metadata_problems: dict[str, str] = field(default_factory=dict, hash=False)
    default_groups_found: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Snapshot:
    """What the database holds for the declared workspaces (absent slugs simply do not exist yet)."""

    workspaces: dict[str, Workspace] = field(default_factory=dict, hash=False)
    users: dict[str, User] = field(default_factory=dict, hash=False)  # every user the plan may touch
    fingerprint: str = ""
