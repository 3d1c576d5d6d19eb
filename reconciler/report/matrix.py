"""The access matrix of the report: one column per app and data source, one row per access profile.

Stage: report model (pure). The access itself (the highest level any of a member's sources grants, and every
source that grants it) comes from the access engine, ``access.WorkspaceAccess``, which ``explain`` asks too;
this module only lays its answers out in the matrix's column order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..access import Access, AccessProfile, WorkspaceAccess
from ..state import Workspace

ResourceType = Literal["app", "data_source"]
Cell = Access  # one cell of the matrix: a level and the sources that grant it


@dataclass(frozen=True)
class Resource:
    type: ResourceType
    key: str  # app slug or data source name
    name: str  # display name (the key for data sources)


def resources_of(workspace: Workspace) -> tuple[Resource, ...]:
    """The matrix's columns: apps by slug, then data sources by name (the engine's order)."""
    apps = tuple(Resource("app", slug, workspace.apps[slug]) for slug in sorted(workspace.apps))
    sources = tuple(Resource("data_source", name, name) for name in sorted(workspace.data_sources))
    return apps + sources


def matrix_row(engine: WorkspaceAccess, profile: AccessProfile) -> tuple[Cell, ...]:
    access = engine.of_profile(profile)
    return (*access.apps.values(), *access.data_sources.values())
