"""The access matrix of the report: what one member can do with each app and data source, and who grants it.

Stage: report model (pure). A member's access is the highest level any of their *sources* grants: the role
(``admin`` edits every app and configures every data source, ``end-user`` views every app, ``builder`` has the
workspace's configured builder permissions) and each custom group. Every source that grants the winning level
is listed. Archived memberships, and memberships of an archived workspace, grant nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..access import APP_LEVELS, DATA_SOURCE_LEVELS, app_level, data_source_level, role_permissions
from ..state import GroupPermissions, Role, Workspace

ResourceType = Literal["app", "data_source"]
LEVELS: dict[ResourceType, tuple[str, ...]] = {"app": APP_LEVELS, "data_source": DATA_SOURCE_LEVELS}


@dataclass(frozen=True, order=True)
class Source:
    """Who grants access: a role (the membership's default group) or a custom group."""

    kind: Literal["role", "group"]
    name: str

    @property
    def label(self) -> str:
        """``role:admin`` or ``group:finance`` (the spelling of the CSV and JSON formats)."""
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class Resource:
    type: ResourceType
    key: str  # app slug or data source name
    name: str  # display name (the key for data sources)


@dataclass(frozen=True)
class Cell:
    access: str
    granted_by: tuple[Source, ...] = ()


@dataclass(frozen=True)
class AccessProfile:
    """What decides a member's access; members who share one share a matrix row."""

    role: Role
    groups: frozenset[str]
    grants_access: bool  # False for archived memberships and archived workspaces


NO_ACCESS = Cell("none")


def resources_of(workspace: Workspace) -> tuple[Resource, ...]:
    apps = tuple(Resource("app", slug, workspace.apps[slug]) for slug in sorted(workspace.apps))
    sources = tuple(Resource("data_source", name, name) for name in sorted(workspace.data_sources))
    return apps + sources


def sources_of(profile: AccessProfile, workspace: Workspace) -> list[tuple[Source, GroupPermissions]]:
    found = [(Source("role", profile.role), role_permissions(workspace, profile.role))]
    for name in sorted(profile.groups):
        if name in workspace.groups:
            found.append((Source("group", name), workspace.groups[name]))
    return found


class MatrixBuilder:
    """Matrix rows of one workspace. What each source grants on each resource is worked out once and reused
    for every profile, so many distinct profiles (10,000 members in random groups) stay cheap."""

    def __init__(self, workspace: Workspace, resources: Sequence[Resource]) -> None:
        self.workspace = workspace
        self.resources = tuple(resources)
        self._ranks = [{level: i for i, level in enumerate(LEVELS[r.type])} for r in self.resources]
        self._levels: dict[Source, tuple[str, ...]] = {}

    def levels(self, source: Source, permissions: GroupPermissions) -> tuple[str, ...]:
        """What ``source`` grants on each resource, in resource order."""
        if source not in self._levels:
            self._levels[source] = tuple(
                (app_level if r.type == "app" else data_source_level)(permissions, r.key) for r in self.resources
            )
        return self._levels[source]

    def row(self, profile: AccessProfile) -> tuple[Cell, ...]:
        if not profile.grants_access:
            return tuple(NO_ACCESS for _ in self.resources)
        granted = [(source, self.levels(source, p)) for source, p in sources_of(profile, self.workspace)]
        return tuple(self._cell(i, granted) for i in range(len(self.resources)))

    def _cell(self, index: int, granted: Sequence[tuple[Source, tuple[str, ...]]]) -> Cell:
        """The highest level any source grants on resource ``index``, with every source that grants it."""
        rank = self._ranks[index]
        best = max((levels[index] for _, levels in granted), key=rank.__getitem__, default="none")
        if best == "none":
            return NO_ACCESS
        return Cell(best, tuple(source for source, levels in granted if levels[index] == best))
