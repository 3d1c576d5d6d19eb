"""Configurations made of several files (issue 17): workspaces split over files, and group templates.

Stage: config, between the form checks of each document (``loader.py``) and the rules that need a whole
workspace (``checks.py``). docs/ownership.md describes the layout this allows (a CODEOWNERS file giving each
team its folder).

- **Split workspaces.** Files that declare the same ``slug`` declare one workspace: each contributes groups,
  users, CSV files and registry entries, in load order (``loader.config_files``). The workspace-wide keys
  (``name``, ``status``, ``roles``, ``limits`` and each key of ``settings``) may be given in several files only if they
  agree; a disagreement is an error at the later file, naming the first. ``settings.csv_dirs`` and
  ``settings.secret_dirs`` belong to the file that lists them (they are relative to it) and so never disagree.
  Lists are concatenated, so the rules of one workspace (``group 'x' is declared twice``, ``Duplicate email``)
  name both places when two files declare the same group, user or app. Within *one* file the same slug twice
  is still an error: it is a copy that went wrong, not a split.
- **Templates.** ``templates: {groups: [...]}`` at the top of any file declares group definitions once; their
  names are unique across the configuration. A template may not use ``template`` or ``duplicate_of`` itself.
  ``checks.py`` applies them where a workspace's group says ``template: NAME``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from ..errors import Location, Problem
from ..safetext import quoted
from . import models
from .loader import TOP_LISTS, LoadedTemplate, LoadedUser, LoadedWorkspace

__all__ = ["SplitWorkspace", "TemplateIndex", "index_templates", "join_split_workspaces"]

WORKSPACE_KEYS = ("name", "status", "roles", "limits")
PER_FILE_SETTINGS = frozenset({"csv_dirs", "secret_dirs"})
DECLARED_TWICE = "workspace slug {!r} is declared twice"


@dataclass
class SplitWorkspace(LoadedWorkspace):
    """One workspace declared by several files (``parts``, in load order), checked as one.

    ``locate`` finds a path in the file that holds it: an entry of a list by its place in the joined list
    (``origins``), a workspace-wide key in the first file that gives it (``owners``)."""

    parts: list[LoadedWorkspace] = field(default_factory=list)
    owners: dict[str, int] = field(default_factory=dict)  # "name", "roles", "settings.prune", ... -> part
    origins: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # list -> (part, index in it)

    def locate(self, *path: str | int, key: bool = True) -> Location:
        if not path:
            return self.parts[0].locate(key=key)
        head = str(path[0])
        if head in TOP_LISTS and len(path) > 1 and isinstance(path[1], int):
            part, index = self.origins[head][path[1]]
            return self.parts[part].locate(head, index, *path[2:], key=key)
        if head in TOP_LISTS:
            part = next((k for k, p in enumerate(self.parts) if getattr(p.model, head)), 0)
            return self.parts[part].locate(*path, key=key)
        owner = f"settings.{path[1]}" if head == "settings" and len(path) > 1 else head
        return self.parts[self.owners.get(owner, 0)].locate(*path, key=key)

    def part_of(self, entry: LoadedUser) -> LoadedWorkspace:
        return self.parts[entry.part]

    def excused(self, what: str, name: str) -> bool:
        return any(part.excused(what, name) for part in self.parts)


def join_split_workspaces(workspaces: list[LoadedWorkspace], problems: list[Problem]) -> list[LoadedWorkspace]:
    """The workspaces with those of the same slug joined into one (in the place of the first), reporting the
    same slug twice in one file and the workspace-wide keys that split files disagree on."""
    by_slug: dict[str, list[LoadedWorkspace]] = {}
    for ws in workspaces:
        if ws.slug_valid:
            by_slug.setdefault(ws.model.slug, []).append(ws)
    result = []
    for ws in workspaces:
        parts = by_slug.get(ws.model.slug) if ws.slug_valid else None
        if parts is None or len(parts) == 1:
            result.append(ws)
        elif parts[0] is ws:
            _report_same_file(parts, problems)
            result.append(_join(parts, problems))
    return result


def _report_same_file(parts: list[LoadedWorkspace], problems: list[Problem]) -> None:
    first_in_file: dict[str, LoadedWorkspace] = {}
    for ws in parts:
        first = first_in_file.setdefault(ws.doc.file, ws)
        if first is not ws:
            problems.append(
                Problem(
                    ws.locate("slug"),
                    DECLARED_TWICE.format(ws.model.slug),
                    f"first declared at {first.locate('slug')}; a workspace may be split over several files, "
                    "not declared twice in one",
                )
            )


def _join(parts: list[LoadedWorkspace], problems: list[Problem]) -> SplitWorkspace:
    slug = parts[0].model.slug
    owners: dict[str, int] = {}
    values: dict[str, Any] = {}
    for k, part in enumerate(parts):
        given = {key: getattr(part.model, key) for key in WORKSPACE_KEYS if key in part.model.model_fields_set}
        settings = part.model.settings
        given |= {f"settings.{key}": getattr(settings, key) for key in settings.model_fields_set - PER_FILE_SETTINGS}
        for key, value in given.items():
            if key not in owners:
                owners[key], values[key] = k, value
            elif values[key] != value and _readable(part, key):
                first = parts[owners[key]]
                path = key.split(".")
                problems.append(
                    Problem(
                        part.locate(*path),
                        f"workspace {slug!r} is split over several files that disagree on {key}"
                        + _both(value, values[key]),
                        f"first declared at {first.locate(*path)}; give it in one file only",
                    )
                )
    origins = {
        name: [(k, i) for k, part in enumerate(parts) for i in range(len(getattr(part.model, name)))]
        for name in TOP_LISTS
    }
    settings_update = {key[len("settings.") :]: value for key, value in values.items() if key.startswith("settings.")}
    model = parts[0].model.model_copy(
        update={
            **{key: values[key] for key in WORKSPACE_KEYS if key in values},
            "settings": parts[0].model.settings.model_copy(update=settings_update),
            **{name: [item for part in parts for item in getattr(part.model, name)] for name in TOP_LISTS},
        }
    )
    users = []
    for k, part in enumerate(parts):
        for entry in part.users:
            entry.part = k
            users.append(entry)
    return SplitWorkspace(
        model=model,
        doc=parts[0].doc,
        index=parts[0].index,
        base_dir=parts[0].base_dir,
        users=users,
        left_out=_left_out(parts),
        admin_unknown=any(p.admin_unknown for p in parts),
        name_valid=all(p.name_valid for p in parts),
        display_slug=slug,
        partial=any(p.partial for p in parts),
        damaged_groups=set().union(*(p.damaged_groups for p in parts)),
        parts=parts,
        owners=owners,
        origins=origins,
    )


def _readable(part: LoadedWorkspace, key: str) -> bool:
    """Whether ``key`` of ``part`` is as written (a broken name was replaced by a placeholder: no conflict)."""
    return not (key == "name" and not part.name_valid)


def _both(here: Any, there: Any) -> str:
    """`` ('B' here, 'A' in the other file)`` for short values; nothing for sections."""
    if isinstance(here, str | bool | int | float) and isinstance(there, str | bool | int | float):
        return f" ({models.describe_value(here)} here, {models.describe_value(there)} in the other file)"
    return ""


def _left_out(parts: list[LoadedWorkspace]) -> dict[str, set[str] | None]:
    joined: dict[str, set[str] | None] = {}
    for part in parts:
        for name, names in part.left_out.items():
            if name in joined and (joined[name] is None or names is None):
                joined[name] = None
            else:
                joined[name] = (joined.get(name) or set()) | (names or set())
    return joined


def check_names(workspaces: list[LoadedWorkspace], problems: list[Problem]) -> None:
    """``name`` is optional in each file of a split workspace, but the workspace needs one."""
    for ws in workspaces:
        if ws.model.name is None and ws.name_valid:
            hint = None
            if isinstance(ws, SplitWorkspace):
                hint = f"give the name of workspace {ws.display_slug!r} in one of the files that declare it"
            problems.append(Problem(ws.locate(), "missing required key 'name'", hint))


# --- templates --------------------------------------------------------------------------------------------


@dataclass
class TemplateIndex:
    """The configuration's group templates by name (the first of a name, when it is declared twice)."""

    by_name: dict[str, LoadedTemplate] = field(default_factory=dict)

    def names(self) -> Collection[str]:
        return [name for name, template in self.by_name.items() if not template.broken]


def index_templates(templates: list[LoadedTemplate], problems: list[Problem]) -> TemplateIndex:
    """Templates by name; a name declared twice, or a template that uses ``template`` or ``duplicate_of``, is
    an error (the template is still indexed, so that workspaces using it are not told it is unknown)."""
    index = TemplateIndex()
    for template in templates:
        name = template.model.name
        first = index.by_name.setdefault(name, template)
        if first is not template:
            problems.append(
                Problem(
                    template.locate("name"),
                    f"template {quoted(name)} is declared twice",
                    f"first declared at {first.locate('name')}",
                )
            )
            continue
        for key in ("template", "duplicate_of"):
            if not template.broken and getattr(template.model, key) is not None:
                problems.append(
                    Problem(
                        template.locate(key),
                        f"a template cannot use {key}: templates are complete group definitions",
                        "write the definition out in the template",
                    )
                )
    return index
