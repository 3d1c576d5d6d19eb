"""Permission flags: the configuration's ten flags onto the boolean columns of ``permission_groups``.

Stage: storage (pure). ToolJet stores some of the configuration's flags in one column: folders as
``folder_crud`` (earlier 3.x) or ``folder_create``/``folder_delete`` (recent builds; folder update travels with
create, as the ``1766500000000`` migration's copy of ``folder_crud`` implies), and workspace constants always as
``org_constant_crud``. Flags sharing a column must agree; :func:`tie_problems` names the ones that do not, so
the plan fails instead of writing something ToolJet cannot hold. Columns the configuration has no word for
(workflow, promote/release, folder data source, ...) are never written on existing groups.
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
}
_FOLDERS_CRUD = dict.fromkeys(("folders.create", "folders.update", "folders.delete"), "folder_crud")
_FOLDERS_SPLIT = {
    "folders.create": "folder_create",
    "folders.update": "folder_create",
    "folders.delete": "folder_delete",
}


def flag_columns(variant: Variant) -> dict[str, str]:
    """Configuration flag -> column, in ``FLAG_NAMES`` order."""
    folders = _FOLDERS_CRUD if variant.folder_columns == FOLDER_CRUD else _FOLDERS_SPLIT
    mapping = {**_COMMON, **folders}
    return {flag: mapping[flag] for flag in FLAG_NAMES}


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
