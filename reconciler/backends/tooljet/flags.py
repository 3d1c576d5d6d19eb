"""Permission flags: the configuration's flags onto the boolean columns of ``permission_groups``.

Stage: storage (pure). ToolJet stores some of the configuration's flags in one column: folders as
``folder_crud`` (earlier 3.x) or ``folder_create``/``folder_delete`` (recent builds; folder update travels with
create, as the ``1766500000000`` migration's copy of ``folder_crud`` implies), and workspace constants always as
``org_constant_crud``. Flags sharing a column must agree; :func:`tie_problems` names the ones that do not, so
the plan fails instead of writing something ToolJet cannot hold. The optional flags (promote/release, workflows,
ToolJet database, modules) map only where the schema has their column; a true one elsewhere is refused. Columns
the configuration has no word for (folder data source, workflow and module folders, ...) are never written, and
when true they make the group builder-level (:func:`unmapped_flag_columns`, read into the snapshot).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from ...state import FLAG_NAMES, GroupPermissions
from .variant import FOLDER_CRUD, Variant

_COMMON = {
    "apps.create": "app_create",
    "apps.delete": "app_delete",
    "workspace_constants.create": "org_constant_crud",
    "workspace_constants.update": "org_constant_crud",
    "workspace_constants.delete": "org_constant_crud",
    "data_sources.create": "data_source_create",
    "data_sources.delete": "data_source_delete",
    # the optional flags (issue 16), each only where the schema has its column
    "apps.promote": "app_promote",  # 1749810303901
    "apps.release": "app_release",
    "workflows.create": "workflow_create",  # 1746705301652
    "workflows.delete": "workflow_delete",
    "tooljet_database.create": "tjdb_crud",  # 1782112343421 (one column for the CRUD, like org_constant_crud)
    "tooljet_database.update": "tjdb_crud",
    "tooljet_database.delete": "tjdb_crud",
    "modules.create": "module_create",  # 1782196835449
    "modules.delete": "module_delete",
}
# The ToolJet migration that adds each optional column, for the refusal on older schemas.
_ADDED_BY = {
    "app_promote": "1749810303901",
    "app_release": "1749810303901",
    "workflow_create": "1746705301652",
    "workflow_delete": "1746705301652",
    "tjdb_crud": "1782112343421",
    "module_create": "1782196835449",
    "module_delete": "1782196835449",
}
_FOLDERS_CRUD = dict.fromkeys(("folders.create", "folders.update", "folders.delete"), "folder_crud")
_FOLDERS_SPLIT = {
    "folders.create": "folder_create",
    "folders.update": "folder_create",
    "folders.delete": "folder_delete",
}


def flag_columns(variant: Variant) -> dict[str, str]:
    """Configuration flag -> column, in ``FLAG_NAMES`` order; flags whose column the schema lacks are left out."""
    folders = _FOLDERS_CRUD if variant.folder_columns == FOLDER_CRUD else _FOLDERS_SPLIT
    mapping = {**_COMMON, **folders}
    return {flag: mapping[flag] for flag in FLAG_NAMES if mapping[flag] in variant.group_flags}


def unmapped_flag_columns(variant: Variant) -> tuple[str, ...]:
    """The boolean columns of ``permission_groups`` no configuration flag maps to (sorted)."""
    return tuple(sorted(variant.group_flags - set(mapped_columns(variant))))


def missing_column_problems(
    variant: Variant, owner: str, permissions: GroupPermissions, before: frozenset[str] = frozenset()
) -> list[str]:
    """Flags turned true (not already true in ``before``) whose column this schema does not have: the optional
    flags on older ToolJet builds."""
    present = flag_columns(variant)
    mapping = {**_COMMON, **_FOLDERS_SPLIT}
    problems = []
    for flag in FLAG_NAMES:
        if flag in permissions.flags and flag not in before and flag not in present:
            column = mapping[flag]
            problems.append(
                f"{owner}: permissions.{flag} needs the column permission_groups.{column}, which this ToolJet "
                f"database does not have (added by ToolJet's migration {_ADDED_BY.get(column, '?')}); "
                "remove the key or upgrade ToolJet"
            )
    return problems


def mapped_columns(variant: Variant) -> tuple[str, ...]:
    """The columns this backend reads and writes, each once, in a stable order."""
    return tuple(dict.fromkeys(flag_columns(variant).values()))


def flags_from_columns(variant: Variant, values: Mapping[str, bool]) -> frozenset[str]:
    return frozenset(flag for flag, column in flag_columns(variant).items() if values.get(column))


def column_values(variant: Variant, flags: Iterable[str]) -> dict[str, bool]:
    """Column values for ``flags`` (which must pass :func:`tie_problems`)."""
    wanted = set(flags)
    values: dict[str, bool] = {}
    for flag, column in flag_columns(variant).items():
        values[column] = values.get(column, False) or flag in wanted
    return values


def tie_problems(variant: Variant, owner: str, permissions: GroupPermissions) -> list[str]:
    """Flags that share a column but disagree, as sentences naming ``owner`` (e.g. ``group "ops"``)."""
    shared: defaultdict[str, list[str]] = defaultdict(list)
    for flag, column in flag_columns(variant).items():
        shared[column].append(flag)
    problems = []
    for column, flags in shared.items():
        values = {flag in permissions.flags for flag in flags}
        if len(flags) > 1 and len(values) > 1:
            problems.append(
                f"{owner}: this ToolJet database stores {', '.join(flags)} in one column ({column}); "
                "declare them all true or all false"
            )
    return problems
