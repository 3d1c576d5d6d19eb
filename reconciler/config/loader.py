"""Load a configuration file or directory into a validated DesiredState (SPEC 2.2).

Stage: config. Reads YAML (and the CSV files it names, by the rules of ``files.py``: confined to the
configuration's directory, regular files of a bounded size), checks the form of each document with the pydantic
models, then hands the whole to ``checks.py`` for the cross-document rules. Every problem of a run is
collected and raised together as one ConfigError, in file order.

A workspace with form errors is not dropped: its broken parts are left out (``_salvage``) and the rest still
goes through the cross-document rules, so that a typo in one user entry does not hide an unknown group in
another. A user entry (or CSV row) with form errors is no membership, but its valid fields still take part in
those rules (``_partial_user``): its groups are checked, its email is compared. Unknown top-level keys leave the
workspaces to be checked as well.

Problems are located at the key of a mapping entry (SPEC 2.2's example points at ``role:``, column 9), or at
the item of a list.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..desired import DesiredState
from ..errors import ConfigError, Location, Problem
from ..safetext import escape, shorten
from . import models
from .csvsource import MAX_BYTES as CSV_MAX_BYTES
from .csvsource import CsvUserEntry, parse_users_csv
from .errors_map import describe_value, error_path, field_names, problems_from_validation, step_kinds
from .files import FileRefused, allowed_roots, confine, read_regular_file
from .identity import normalise_email
from .yamlsource import YamlDocument, load_yaml_text, read_yaml_bytes

VOCABULARY = field_names(models.ConfigFile)
Locate = Callable[..., Location]


@dataclass
class LoadedUser:
    model: models.User
    locate: Locate  # (path inside the entry, key=True) -> Location
    from_csv: bool = False
    # Fields of an entry with form errors (already reported), held by placeholders. Such an entry is no
    # membership, but its other fields still take part in the checks (duplicate email, unknown groups).
    broken: frozenset[str] = frozenset()
    part: int = 0  # the file of a split workspace it comes from (an index into SplitWorkspace.parts)


TOP_LISTS = ("users", "groups", "apps", "data_sources")
_NAME_KEY = {"users": "email", "groups": "name", "apps": "slug", "data_sources": "name"}


@dataclass
class LoadedWorkspace:
    """A workspace whose form is valid, located in its document.

    When the workspace as written had form errors (already reported), ``model`` holds what was left after
    leaving out the broken parts, so that the rules of ``checks.py`` can still report the *other* problems of
    the file. The fields below say what was left out, so that those rules do not report consequences of the
    errors already reported (a user naming a group whose declaration was broken, say).
    """

    model: models.Workspace
    doc: YamlDocument
    index: int
    base_dir: Path
    users: list[LoadedUser] = field(default_factory=list)
    kept: dict[str, list[int]] = field(default_factory=dict)  # top-level list -> original index of each kept item
    left_out: dict[str, set[str] | None] = field(default_factory=dict)  # list -> names left out (None: all)
    admin_unknown: bool = False  # a left-out user entry (YAML or CSV) may have been an active admin
    slug_valid: bool = True
    name_valid: bool = True
    display_slug: str = ""
    partial: bool = False  # parts with form errors were left out
    damaged_groups: set[str] = field(default_factory=set)  # groups kept with some of their parts left out
    partial_users: list[tuple[int, LoadedUser]] = field(default_factory=list)  # (index in the document, entry)

    def __post_init__(self) -> None:
        if not self.display_slug:
            self.display_slug = self.model.slug

    def locate(self, *path: str | int, key: bool = True) -> Location:
        """Where ``path`` (inside this workspace) is; a mapping entry is located at its key (SPEC 2.2 example)."""
        return self.doc.locate(self.doc_path(*path), key=key)

    def source_index(self, name: str, i: int) -> int:
        """The index in the document of the ``i``-th kept entry of the list ``name``."""
        return self.kept[name][i] if name in self.kept else i

    def doc_path(self, *path: str | int) -> tuple:
        """``path`` inside this workspace as a path in its document (entries left out shift the indexes)."""
        if len(path) > 1 and path[0] in self.kept and isinstance(path[1], int):
            path = (path[0], self.kept[str(path[0])][path[1]], *path[2:])
        return ("workspaces", self.index, *path)

    def part_of(self, entry: LoadedUser) -> LoadedWorkspace:
        """The file (part) of the workspace a user entry comes from: its directory is where the entry's secret
        references are read from (a workspace split over several files has several, see composition.py)."""
        return self

    def excused(self, what: str, name: str) -> bool:
        """True if ``name`` may have been declared by an entry of ``what`` that was left out (already reported)."""
        if what not in self.left_out:
            return False
        names = self.left_out[what]
        return names is None or name in names


YAML_SUFFIXES = (".yaml", ".yml")


def config_files(path: Path) -> tuple[list[Path], list[str]]:
    """The YAML files ``-f path`` loads, in load order, and warnings about what it does not load.

    A directory gives its ``*.yaml``/``*.yml`` files and those of its subdirectories, recursively (issue 17: a
    CODEOWNERS file can then give each team its own folder). The order is documented in docs/ownership.md: in
    each directory its own files first, then its subdirectories, both sorted by name (code point order): ``acme.yaml``,
    ``zz.yaml``, ``teams/finance/acme.yaml``, ``teams/sales/acme.yaml``. Names starting with a dot
    (editor and OS files such as ``.#workspace.yaml``, directories such as ``.github``) are skipped; symbolic
    links to directories are not followed (a warning names them), so a link cannot make a loop.
    """
    if path.is_dir():
        warnings: list[str] = []
        files = _yaml_files(path, warnings)
        if not files:
            raise ConfigError([Problem(Location(str(path)), "directory holds no *.yaml or *.yml files")])
        return files, warnings
    if not path.exists():
        raise ConfigError([Problem(Location(str(path)), "no such file or directory")])
    return [path], []


def _yaml_files(directory: Path, warnings: list[str]) -> list[Path]:
    """The YAML files of ``directory``, then those of each subdirectory, recursively (see config_files)."""
    entries = sorted(p for p in directory.iterdir() if not p.name.startswith("."))
    files = [p for p in entries if p.suffix in YAML_SUFFIXES and p.is_file()]
    for sub in entries:
        if not sub.is_dir():
            continue
        if sub.is_symlink():
            warnings.append(
                f"{escape(str(sub))}: a symbolic link to a directory is not followed (pass it with -f on its own)"
            )
            continue
        files += _yaml_files(sub, warnings)
    return files


def load_config(
    path: str | os.PathLike[str],
    *,
    resolve_secrets: bool = True,
    environ: Mapping[str, str] | None = None,
    workspaces: Collection[str] | None = None,
    warn: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> DesiredState:
    """Load, validate and normalise the configuration at ``path``; raise ConfigError with every problem.

    ``workspaces``: resolve the secret references of these workspaces only (the others are still checked, and
    keep placeholders: plan them never). Warnings (what is not loaded) go to ``warn`` as soon as they are
    known, so that they are seen also when errors follow, and are kept in ``DesiredState.warnings``. ``now`` is
    the moment ``expires:`` values are compared with (default: the machine's clock, or ``RECONCILER_NOW``).
    """
    from .checks import build_desired  # the cross-document rules

    root = Path(path)
    files, warnings = config_files(root)
    for warning in warnings if warn is not None else ():
        warn(warning)
    # Files are named relative to the configuration's directory, in the hash and for {file:} confinement, so
    # that neither depends on how the path was spelled (-f examples/, -f ./examples, an absolute path).
    root_dir = root if root.is_dir() else root.parent
    problems: list[Problem] = []
    digest = hashlib.sha256()
    loaded_workspaces: list[LoadedWorkspace] = []
    templates: list[LoadedTemplate] = []
    policies: list[Any] = []  # the top-level ``policies:`` entries of every file (policy_rules.LoadedPolicy)
    limits: list[LoadedLimits] = []  # the top-level ``limits:`` of every file that gives them (issue 16)
    for file in files:
        display = str(file)
        try:
            data = read_yaml_bytes(file, file=display)
            doc = load_yaml_text(data, file=display)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        digest.update(_relative_name(file, root_dir) + b"\0" + data + b"\0")  # the bytes read: no second read
        loaded = _validate_document(doc, file.parent, problems, templates, policies, limits)
        loaded_workspaces.extend(loaded)
    for ws in loaded_workspaces:
        _load_csv_users(ws, problems, digest, root_dir)
    return build_desired(
        loaded_workspaces,
        config_hash=digest.hexdigest(),
        resolve_secrets=resolve_secrets,
        environ=os.environ if environ is None else environ,
        problems=problems,
        config_root=root_dir,
        selected=None if workspaces is None or not workspaces else frozenset(workspaces),
        warnings=tuple(warnings),
        templates=templates,
        now=now,
        policies=policies,
        limits=limits,
    )


def _relative_name(path: Path, root_dir: Path) -> bytes:
    return Path(os.path.relpath(path, root_dir)).as_posix().encode()


def _validate_document(
    doc: YamlDocument,
    base_dir: Path,
    problems: list[Problem],
    templates: list[LoadedTemplate] | None = None,
    policies: list[Any] | None = None,
    limits: list[LoadedLimits] | None = None,
) -> list[LoadedWorkspace]:
    """Check the form of each workspace on its own, so one broken workspace does not hide the others' errors.

    The document's group templates (top-level ``templates:``) are appended to ``templates``, and its top-level
    ``policies:`` entries with a valid form to ``policies``."""
    if not isinstance(doc.data, dict):
        problems.append(
            Problem(
                doc.locate(()),
                "expected a mapping with 'version' and 'workspaces', got "
                + describe_value(doc.data, content=False),  # the file may be no configuration at all: not quoted
            )
        )
        return []

    def locate(path: tuple = (), key: bool = True) -> Location:
        return doc.locate(path, key=key)

    def report(exc: ValidationError, model: type[BaseModel], prefix: tuple = ()) -> None:
        problems.extend(
            problems_from_validation(
                exc,
                locate,
                prefix=prefix,
                source_text=lambda p: doc.source_text.get(tuple(p)),
                vocabulary=VOCABULARY,
                model=model,
            )
        )

    try:
        envelope = models.Envelope.model_validate(doc.data)
    except ValidationError as exc:
        report(exc, models.Envelope)
        # Unknown top-level keys (reported) do not hide the workspaces' own problems; other errors (version,
        # the form of the workspaces list) leave nothing that can be read with confidence.
        extra = {err["loc"][0] for err in exc.errors() if err["type"] == "extra_forbidden" and len(err["loc"]) == 1}
        if len(extra) < len(exc.errors()):
            return []
        envelope = models.Envelope.model_validate({k: v for k, v in doc.data.items() if k not in extra})
    if envelope.templates is not None and templates is not None:
        templates += _validate_templates(envelope.templates, doc, report)
    _validate_policies(envelope.policies, locate, report, policies if policies is not None else [])
    if envelope.limits is not None:
        try:
            block = models.Limits.model_validate(envelope.limits)
        except ValidationError as exc:
            report(exc, models.Limits, ("limits",))
        else:
            (limits if limits is not None else []).append(LoadedLimits(block, _entry_locator_at(locate, ("limits",))))
    loaded = []
    for index, raw in enumerate(envelope.workspaces):
        try:
            ws = models.Workspace.model_validate(raw)
        except ValidationError as exc:
            report(exc, models.Workspace, ("workspaces", index))
            item = _salvage(raw, exc, doc, index, base_dir)
            if item is None:
                continue
        else:
            item = LoadedWorkspace(ws, doc, index, base_dir)
        users = [
            (item.source_index("users", j), LoadedUser(user, _yaml_user_locator(item, j)))
            for j, user in enumerate(item.model.users)
        ]
        item.users = [user for _, user in sorted(users + item.partial_users, key=lambda pair: pair[0])]
        item.partial_users = []
        loaded.append(item)
    return loaded


# --- group templates (issue 17) -----------------------------------------------------------------------


@dataclass
class LoadedTemplate:
    """A group template whose form is valid (``broken``: it had form errors, already reported, and only its name
    is known: workspaces that use it are not told again that it is unknown)."""

    model: models.Group
    doc: YamlDocument
    index: int
    broken: bool = False

    def locate(self, *path: str | int, key: bool = True) -> Location:
        return self.doc.locate(("templates", "groups", self.index, *path), key=key)


def _validate_templates(raw: Any, doc: YamlDocument, report: Callable[..., None]) -> list[LoadedTemplate]:
    """The templates of one document; each group entry is checked on its own, so one broken entry does not hide
    the others (its errors are reported, and its name, if readable, is kept as a broken template)."""
    groups = raw.get("groups", []) if isinstance(raw, dict) else None
    shell = {k: v for k, v in raw.items() if k != "groups"} if isinstance(raw, dict) else raw
    if not isinstance(groups, list):  # not a mapping, or groups not a list: nothing to read entry by entry
        shell, groups = raw, []
    try:
        models.Templates.model_validate(shell)
    except ValidationError as exc:
        report(exc, models.Templates, ("templates",))
    result = []
    for index, entry in enumerate(groups):
        try:
            result.append(LoadedTemplate(models.Group.model_validate(entry), doc, index))
        except ValidationError as exc:
            report(exc, models.Group, ("templates", "groups", index))
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str):
                placeholder = models.Group.model_construct(name=name, previously=[], members="managed")
                result.append(LoadedTemplate(placeholder, doc, index, broken=True))
    return result


def _validate_policies(entries: list[Any], locate: Locate, report: Callable[..., None], out: list[Any]) -> None:
    """The top-level policies, each checked on its own (one broken rule does not hide the others)."""
    from .policy_models import PolicyEntry
    from .policy_rules import LoadedPolicy

    for k, raw in enumerate(entries):
        try:
            entry = PolicyEntry.model_validate(raw)
        except ValidationError as exc:
            report(exc, PolicyEntry, ("policies", k))
            continue
        out.append(LoadedPolicy(entry, _entry_locator_at(locate, ("policies", k))))


@dataclass(frozen=True)
class LoadedLimits:
    """A top-level ``limits:`` block whose form is valid, and a locator inside it (issue 16)."""

    model: models.Limits
    locate: Locate


def _entry_locator_at(locate: Locate, entry: tuple) -> Locate:
    def inner(path: tuple = (), key: bool = True) -> Location:
        return locate((*entry, *path), key=key)

    return inner


# --- salvaging a workspace with form errors --------------------------------------------------------------


def _salvage(raw: Any, exc: ValidationError, doc: YamlDocument, index: int, base_dir: Path) -> LoadedWorkspace | None:
    """The workspace without the parts that have form errors, or None when nothing sensible is left.

    Each error removes the smallest part that contains it and that the format allows to be absent: an unknown
    key, an optional key (``metadata``, ``granular``, ``settings``, ...), or an entry of one of the workspace's
    top-level lists (``users``, ``groups``, ``apps``, ``data_sources``). A broken ``slug`` or ``name`` is
    replaced by a placeholder and left out of the checks that compare workspaces.
    """
    if not isinstance(raw, dict):
        return None
    data = copy.deepcopy(raw)
    deletions: list[tuple] = []
    dropped: dict[str, set[int]] = {}
    placeholders: set[str] = set()
    for err in exc.errors(include_url=False):
        unit = _removable_part(error_path(err["loc"]))
        if unit is None:
            return None
        action, path = unit
        if action == "delete":
            deletions.append(path)
        elif action == "drop":
            dropped.setdefault(str(path[0]), set()).add(int(path[1]))
        else:
            placeholders.add(str(path[0]))
    left_out: dict[str, set[str] | None] = {}
    admin_unknown = False
    damaged_groups = {
        name
        for path in deletions
        if len(path) > 2 and path[0] == "groups" and isinstance(name := _get(raw, ("groups", path[1], "name")), str)
    }
    for path in deletions:
        parent = _get(data, path[:-1])
        if isinstance(parent, dict) and path[-1] in parent:
            if len(path) == 1 and path[0] in TOP_LISTS:  # the whole list is broken: excuse every reference
                left_out[str(path[0])] = None
                admin_unknown |= path[0] == "users"
            del parent[path[-1]]
    kept: dict[str, list[int]] = {}
    partial_users: list[tuple[int, LoadedUser]] = []
    for name, indices in dropped.items():
        items = data.get(name)
        if not isinstance(items, list):
            continue
        kept[name] = [i for i in range(len(items)) if i not in indices]
        names = left_out.setdefault(name, set())
        for i in sorted(indices):
            entry = items[i]
            if name == "users":
                partial = _partial_user(entry, _entry_locator(doc, ("workspaces", index, "users", i)))
                if partial is not None:
                    partial_users.append((i, partial))
            value = entry.get(_NAME_KEY[name]) if isinstance(entry, dict) else None
            if not isinstance(value, str):
                names = left_out[name] = None  # an entry without a usable name could have declared any name
            elif names is not None:
                names.add(normalise_email(value) if name == "users" else value)
            if name == "users":
                admin_unknown |= _maybe_active_admin(entry)
        data[name] = [items[i] for i in kept[name]]
    display_slug = raw.get("slug") if isinstance(raw.get("slug"), str) else "?"
    if "slug" in placeholders:
        data["slug"] = "invalid"
    if "name" in placeholders:
        data["name"] = "invalid"
    try:
        model = models.Workspace.model_validate(data)
    except ValidationError:
        return None  # cannot happen if _removable_part is right; then the errors above are all there is
    return LoadedWorkspace(
        model,
        doc,
        index,
        base_dir,
        kept=kept,
        left_out=left_out,
        admin_unknown=admin_unknown,
        slug_valid="slug" not in placeholders,
        name_valid="name" not in placeholders and ("name",) not in deletions,
        display_slug=display_slug,
        partial=True,
        damaged_groups=damaged_groups,
        partial_users=partial_users,
    )


def _maybe_active_admin(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return True
    return entry.get("role") not in ("builder", "end-user") and entry.get("status") != "archived"


def _removable_part(loc: tuple) -> tuple[str, tuple] | None:
    """What to remove for an error at ``loc`` (inside a workspace): ("delete", key path), ("drop", (list, i))
    or ("placeholder", (key,)); None when the error is about the workspace as a whole."""
    kinds = step_kinds(models.Workspace, loc)
    for n in range(len(loc), 0, -1):
        kind = kinds[n - 1]
        if kind in ("extra", "optional"):
            return "delete", loc[:n]
        if kind == "item" and n == 2 and loc[0] in TOP_LISTS:
            return "drop", loc[:n]
        if n == 1 and kind == "required":
            return "placeholder", loc[:1]
    return None


def _get(data: Any, path: tuple) -> Any:
    for step in path:
        in_list = isinstance(data, list) and isinstance(step, int) and 0 <= step < len(data)
        if not (in_list or (isinstance(data, dict) and step in data)):
            return None
        data = data[step]
    return data


def _yaml_user_locator(ws: LoadedWorkspace, j: int) -> Locate:
    """Locates inside the ``j``-th user entry of ``ws``, as ``ws.locate("users", j, ...)`` would."""
    return _entry_locator(ws.doc, ws.doc_path("users", j))


def _entry_locator(doc: YamlDocument, entry: tuple) -> Locate:
    """Locates inside the entry at document path ``entry``.

    It holds the document and the entry's path, not the workspace: the workspace holds its users, and a cycle
    through every user would keep the whole workspace alive until the garbage collector finds it.
    """

    def locate(path: tuple = (), key: bool = True) -> Location:
        return doc.locate((*entry, *path), key=key)

    return locate


# Stand-ins for the required fields of a user entry whose value had form errors (see _partial_user).
_PLACEHOLDERS: dict[str, str] = {"email": "invalid@invalid.invalid", "first_name": "invalid", "role": "end-user"}
_USER_FIELDS = frozenset(models.User.model_fields)  # (pydantic builds model_fields anew at every access)


def _partial_user(
    entry: Any, locate: Locate, *, from_csv: bool = False, broken: frozenset[str] = frozenset()
) -> LoadedUser | None:
    """A user entry with form errors (already reported) as a LoadedUser whose broken fields are placeholders,
    so that its other fields still take part in the checks; None when it is not a mapping at all.

    ``broken``: fields known to be wrong already (the CSV reader's; ``row`` for a problem of the row as a whole).
    """
    if not isinstance(entry, dict):
        return None
    known = set(broken) | {k for k in _PLACEHOLDERS if k not in entry}
    data = {k: v for k, v in entry.items() if k in _USER_FIELDS and k not in known}
    data.update({k: v for k, v in _PLACEHOLDERS.items() if k in known})
    for _ in range(len(_USER_FIELDS)):  # each round gives at least one more field up
        try:
            user = models.User.model_validate(data)
        except ValidationError as exc:
            for name in {str(err["loc"][0]) for err in exc.errors() if err["loc"]} - known:
                known.add(name)
                if name in _PLACEHOLDERS:
                    data[name] = _PLACEHOLDERS[name]
                else:
                    data.pop(name, None)
            continue
        return LoadedUser(user, locate, from_csv=from_csv, broken=frozenset(known or {"row"}))
    return None


def _load_csv_users(ws: LoadedWorkspace, problems: list[Problem], digest: hashlib._Hash, root_dir: Path) -> None:
    roots = allowed_roots(root_dir, ws.base_dir, ws.model.settings.csv_dirs)
    for k, name in enumerate(ws.model.users_csv):
        path = ws.base_dir / name
        data = _read_csv_file(ws, k, name, roots, problems)
        if data is None:
            ws.admin_unknown = True
            ws.left_out["users"] = None
            continue
        rows, csv_problems = parse_users_csv(data, display_name=str(path))
        if csv_problems:  # rows were left out: excuse what they might have declared
            problems.extend(csv_problems)
            ws.admin_unknown = True
            ws.left_out["users"] = None
        digest.update(_relative_name(path, root_dir) + b"\0" + data + b"\0")
        for row in rows:
            user = _csv_user(row, problems)
            if user is not None:
                ws.users.append(user)
                ws.admin_unknown |= bool(user.broken)


def _csv_user(row: CsvUserEntry, problems: list[Problem]) -> LoadedUser | None:
    """A CSV row's entry checked by the YAML's model, its problems reported at the cells (``row.locate``).

    A row with problems (the reader's, of the format, or the model's) is no membership, but its valid cells
    still take part in the checks, as a YAML entry's do (``_partial_user``); of a Groups cell, the valid names.
    """
    entry = dict(row.entry)
    data = entry | {k: v for k, v in _PLACEHOLDERS.items() if k in row.broken}  # cells that could not be read
    try:
        user = models.User.model_validate(data)
    except ValidationError as exc:
        problems.extend(problems_from_validation(exc, row.locate, vocabulary=VOCABULARY, model=models.User))
        bad_groups = {err["loc"][1] for err in exc.errors() if err["loc"][:1] == ("groups",) and len(err["loc"]) > 1}
        if bad_groups and isinstance(entry.get("groups"), list):
            entry["groups"] = [g for i, g in enumerate(entry["groups"]) if i not in bad_groups]
        return _partial_user(entry, row.locate, from_csv=True, broken=row.broken | {"row"})
    if row.broken:
        return _partial_user(entry, row.locate, from_csv=True, broken=row.broken)
    return LoadedUser(user, row.locate, from_csv=True)


def _read_csv_file(ws: LoadedWorkspace, k: int, name: str, roots: list[Path], problems: list[Problem]) -> bytes | None:
    """The bytes of the ``k``-th ``users_csv`` file, or None after reporting (at the YAML entry) why it is not
    read: outside the allowed directories (symlinks resolved), missing, not a regular file, too large, a key file.
    """
    path = ws.base_dir / name
    shown = repr(shorten(name, 80))
    _, outside = confine(path, roots)
    if outside is not None:
        problems.append(
            Problem(
                ws.locate("users_csv", k),
                f"CSV file {shown} {outside}",
                "to read CSV files from another directory, list it in this workspace's settings.csv_dirs, "
                "e.g. csv_dirs: [/srv/hr-exports]",
            )
        )
        return None
    try:
        return read_regular_file(path, max_bytes=CSV_MAX_BYTES)
    except FileRefused as exc:
        message = f"CSV file {shown} {exc.message.removeprefix('file ')}"
    except FileNotFoundError:
        message = f"CSV file {shown} not found (looked in {path})"
    except OSError as exc:
        message = f"CSV file {shown} cannot be read: {exc.strerror or exc}"
    problems.append(Problem(ws.locate("users_csv", k), message))
    return None


def sorted_problems(problems: list[Problem]) -> list[Problem]:
    """Report problems in file order, as a reader goes through the file."""
    return sorted(problems, key=lambda p: (p.location.file, p.location.line or 0, p.location.column or 0))
