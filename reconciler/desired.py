"""The desired state: the configuration normalised into the snapshot types of ``state.py``.

Stage: produced by the config layer, consumed by the planner. Memberships carry the *declared* role and
``status`` ``active`` (meaning "not archived") or ``archived``; the planner derives effective roles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal

from .errors import Location
from .expiry import MemberExpiries
from .limits import SeatLimits
from .policies import Policy, PolicyResult
from .state import User, Workspace


@dataclass(frozen=True)
class Settings:
    prune: Literal["archive", "none", "confirm"] = "archive"  # confirm: planned as archive, applied on request
    strict_roles: bool = False
    protected_users: frozenset[str] = frozenset()
    # the admin who receives the apps of a member demoted to end-user (ToolJet's owners; docs/tooljet.md)
    transfer_apps_to: str | None = None


@dataclass(frozen=True)
class Ownership:
    """What the configuration cedes to other writers (issue 17, docs/ownership.md), and its rails' thresholds.

    The default owns everything, as before the settings existed."""

    ignore: tuple[str, ...] = ()  # lower-case email globs: members never created, changed, archived or drift
    manage_roles: bool = True
    manage_groups: bool = True
    manage_metadata: bool = True
    external_groups: frozenset[str] = frozenset()  # groups whose members belong to SSO/SCIM sync or the UI
    mass_change_share: float = 0.25
    mass_change_min: int = 10

    def ignoring(self, email: str) -> str | None:
        """The first ignore pattern ``email`` matches (case-insensitively), or None."""
        lowered = email.lower()
        return next((pattern for pattern in self.ignore if fnmatchcase(lowered, pattern)), None)


@dataclass(frozen=True)
class DesiredWorkspace:
    workspace: Workspace
    settings: Settings = Settings()
    # new group name -> the names it had before (``previously:``), for in-place renames
    previously: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    # email -> metadata key -> where a secret reference's value came from ("env ACME_KEY", "file secrets/x.txt"),
    # so that the plan can name the reference (never the value)
    metadata_sources: dict[str, dict[str, str]] = field(default_factory=dict, hash=False)
    # False when the secret references were left unresolved (validate, or a workspace not selected for plan):
    # the metadata then holds placeholders and must not be planned
    secrets_resolved: bool = True
    ownership: Ownership = Ownership()
    # email -> when the membership and its group memberships end (``expires:``), and what had ended at load time;
    # only members with an ``expires`` anywhere. Expired memberships are declared archived in ``workspace``, and
    # expired group memberships are left out of it.
    expiries: dict[str, MemberExpiries] = field(default_factory=dict, hash=False)
    # where a path of this workspace is written (``locate("slug")``), resolved only for a refusal; None when the
    # workspace was not loaded from a file
    locate: Callable[..., Location] | None = field(default=None, compare=False, hash=False, repr=False)

    # where a path inside a member's entry is written (``locate_member(email, ("role",))``), or None
    locate_member: Callable[[str, tuple], Location | None] | None = field(
        default=None, compare=False, hash=False, repr=False
    )

    # where a path inside a custom group's definition is written (``locate_group(name, ("permissions",))``), or None
    locate_group: Callable[[str, tuple], Location | None] | None = field(
        default=None, compare=False, hash=False, repr=False
    )

    def where(self, *path: str | int) -> str:
        """``file:line:column: path`` of ``path`` in the configuration, or the workspace's slug."""
        return str(self.locate(*path)) if self.locate is not None else f"workspace {self.slug!r}"

    def where_group(self, name: str, *path: str) -> str:
        """Where ``path`` of group ``name``'s definition is written; the workspace's groups when it has none."""
        found = self.locate_group(name, path) if self.locate_group is not None else None
        return str(found) if found is not None else self.where("groups")

    def where_member(self, email: str, *path: str) -> str:
        """Where ``path`` of ``email``'s entry is written; the workspace's place when it has no entry."""
        found = self.locate_member(email, path) if self.locate_member is not None else None
        return str(found) if found is not None else self.where("users")

    @property
    def slug(self) -> str:
        return self.workspace.slug


@dataclass(frozen=True)
class DesiredState:
    workspaces: dict[str, DesiredWorkspace] = field(default_factory=dict, hash=False)
    users: dict[str, User] = field(default_factory=dict, hash=False)
    config_hash: str = ""
    # True when secret references were resolved (with a selection of workspaces: those of the selected ones, see
    # DesiredWorkspace.secrets_resolved); validate-only loads leave placeholders.
    secrets_resolved: bool = True
    # what the user should know but is not an error (e.g. subdirectories of -f DIR that are not loaded)
    warnings: tuple[str, ...] = ()
    # ``policies:`` (top level and per workspace), where each is written ((scope, id) -> its location, resolved
    # only for an error), and their results on this desired state (warnings; a broken deny is a ConfigError)
    policies: tuple[Policy, ...] = ()
    policy_places: dict[tuple[str, str], Callable[[], Location]] = field(default_factory=dict, compare=False)
    policy_results: tuple[PolicyResult, ...] = ()
    # ``limits:`` (issue 16): the top-level block (scope "") and the workspaces', and where each kind is written
    # (scope -> a locator taking the kind, resolved only for an error)
    limits: tuple[SeatLimits, ...] = ()
    limit_places: dict[str, Callable[[str], Location]] = field(default_factory=dict, compare=False)

    def needs_key(self) -> bool:
        """Whether any membership declares metadata values (then a master key is required to write them)."""
        return any(m.metadata.has_values for ws in self.workspaces.values() for m in ws.workspace.memberships.values())
