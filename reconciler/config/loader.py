"""Load a configuration file or directory into a validated DesiredState (SPEC 2.2).

Stage: config. Reads YAML (and the CSV files it names), checks the form of each document with the pydantic
models, then hands the whole to ``checks.py`` for the cross-document rules. Every problem of a run is
collected and raised together as one ConfigError.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ..desired import DesiredState
from ..errors import ConfigError, Location, Problem
from . import models
from .csvsource import load_users_csv
from .errors_map import field_names, problems_from_validation
from .yamlsource import YamlDocument, load_yaml_file

VOCABULARY = field_names(models.ConfigFile)
Locate = Callable[..., Location]


@dataclass
class LoadedUser:
    model: models.User
    locate: Locate  # (path inside the entry, key=False) -> Location
    from_csv: bool = False


@dataclass
class LoadedWorkspace:
    model: models.Workspace
    doc: YamlDocument
    index: int
    base_dir: Path
    users: list[LoadedUser] = field(default_factory=list)

    def locate(self, *path: str | int, key: bool = False) -> Location:
        return self.doc.locate(("workspaces", self.index, *path), key=key)


def config_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise ConfigError([Problem(Location(str(path)), "directory holds no *.yaml or *.yml files")])
        return files
    if not path.exists():
        raise ConfigError([Problem(Location(str(path)), "no such file or directory")])
    return [path]


def load_config(
    path: str | os.PathLike[str],
    *,
    resolve_secrets: bool = True,
    environ: Mapping[str, str] | None = None,
) -> DesiredState:
    """Load, validate and normalise the configuration at ``path``; raise ConfigError with every problem."""
    from .checks import build_desired  # the cross-document rules

    root = Path(path)
    files = config_files(root)
    problems: list[Problem] = []
    digest = hashlib.sha256()
    workspaces: list[LoadedWorkspace] = []
    for file in files:
        display = str(file)
        try:
            doc = load_yaml_file(file, display_name=display)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        digest.update(display.encode() + b"\0" + file.read_bytes() + b"\0")
        loaded = _validate_document(doc, file.parent, problems)
        workspaces.extend(loaded)
    for ws in workspaces:
        _load_csv_users(ws, problems, digest)
    if problems:
        raise ConfigError(sorted_problems(problems))
    return build_desired(
        workspaces,
        config_hash=digest.hexdigest(),
        resolve_secrets=resolve_secrets,
        environ=os.environ if environ is None else environ,
    )


def _validate_document(doc: YamlDocument, base_dir: Path, problems: list[Problem]) -> list[LoadedWorkspace]:
    """Check the form of each workspace on its own, so one broken workspace does not hide the others' errors."""
    if not isinstance(doc.data, dict):
        problems.append(Problem(doc.locate(()), "expected a mapping with 'version' and 'workspaces'"))
        return []

    def report(exc: ValidationError, prefix: tuple = ()) -> None:
        problems.extend(
            problems_from_validation(
                exc,
                doc.locate,
                prefix=prefix,
                source_text=lambda p: doc.source_text.get(tuple(p)),
                vocabulary=VOCABULARY,
            )
        )

    try:
        envelope = models.Envelope.model_validate(doc.data)
    except ValidationError as exc:
        report(exc)
        return []
    loaded = []
    for index, raw in enumerate(envelope.workspaces):
        try:
            ws = models.Workspace.model_validate(raw)
        except ValidationError as exc:
            report(exc, ("workspaces", index))
            continue
        item = LoadedWorkspace(ws, doc, index, base_dir)
        item.users = [LoadedUser(user, _yaml_user_locator(item, j)) for j, user in enumerate(ws.users)]
        loaded.append(item)
    return loaded


def _yaml_user_locator(ws: LoadedWorkspace, j: int) -> Locate:
    def locate(path: tuple = (), key: bool = False) -> Location:
        return ws.locate("users", j, *path, key=key)

    return locate


def _load_csv_users(ws: LoadedWorkspace, problems: list[Problem], digest: hashlib._Hash) -> None:
    for k, name in enumerate(ws.model.users_csv):
        path = ws.base_dir / name
        if not path.is_file():
            problems.append(Problem(ws.locate("users_csv", k), f"CSV file {name!r} not found (looked in {path})"))
            continue
        try:
            entries = load_users_csv(path, display_name=str(path))
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
        for entry in entries:
            locate = _csv_locator(entry.locations)
            try:
                user = models.User.model_validate(entry.entry)
            except ValidationError as exc:
                problems.extend(problems_from_validation(exc, locate, vocabulary=VOCABULARY))
                continue
            ws.users.append(LoadedUser(user, locate, from_csv=True))


def sorted_problems(problems: list[Problem]) -> list[Problem]:
    """Report problems in file order, as a reader goes through the file."""
    return sorted(problems, key=lambda p: (p.location.file, p.location.line or 0, p.location.column or 0))


def _csv_locator(locations: Mapping[str, Location]) -> Locate:
    def locate(path: tuple = (), key: bool = False) -> Location:
        return locations.get(str(path[0]) if path else "row", locations["row"])

    return locate
