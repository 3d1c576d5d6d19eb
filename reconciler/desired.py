"""The desired state: the configuration normalised into the snapshot types of ``state.py``.

Stage: produced by the config layer, consumed by the planner. Memberships carry the *declared* role and
``status`` ``active`` (meaning "not archived") or ``archived``; the planner derives effective roles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .state import User, Workspace


@dataclass(frozen=True)
class Settings:
    prune: Literal["archive", "none"] = "archive"
    strict_roles: bool = False
    protected_users: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DesiredWorkspace:
    workspace: Workspace
    settings: Settings = Settings()
    # new group name -> the names it had before (``previously:``), for in-place renames
    previously: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    @property
    def slug(self) -> str:
        return self.workspace.slug


@dataclass(frozen=True)
class DesiredState:
    workspaces: dict[str, DesiredWorkspace] = field(default_factory=dict, hash=False)
    users: dict[str, User] = field(default_factory=dict, hash=False)
    config_hash: str = ""
    # True when secret references were resolved; validate-only loads leave placeholders.
    secrets_resolved: bool = True

    def needs_key(self) -> bool:
        """Whether any membership manages metadata (then a master key is required)."""
        return any(m.metadata for ws in self.workspaces.values() for m in ws.workspace.memberships.values())
