"""Turn pydantic's validation errors into located, readable problems (SPEC 2.2).

Stage: config. pydantic reports a ``loc`` tuple; the YAML loader knows where every path sits in the file.
"""

from __future__ import annotations

import difflib
import functools
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import Location, Problem
from ..safetext import quoted
from .models import UNION_TAGS, describe_value

Locate = Callable[..., Location]

_KIND = {
    "string_type": "a string",
    "bool_type": "true or false",
    "int_type": "an integer",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


# errors where a string was expected: a YAML 1.1 boolean or number there gets the quoting hint
_WANTS_STRING = frozenset({"string_type", "metadata_value"})


def field_names(*models: type[BaseModel]) -> set[str]:
    """Every key the format knows, for "did you mean" hints."""
    names: set[str] = set()
    seen: set[type] = set()
    stack = list(models)
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            names.add(info.alias or name)
            for arg in _model_args(info.annotation):
                stack.append(arg)
    return names


def _model_args(annotation: Any) -> list[type[BaseModel]]:
    found = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_model_args(arg))
    return found


def problems_from_validation(
    exc: ValidationError,
    locate: Locate,
    *,
    prefix: Sequence[str | int] = (),
    source_text: Callable[[tuple], str | None] = lambda path: None,
    vocabulary: set[str] | None = None,
    model: type[BaseModel] | None = None,
) -> list[Problem]:
    """Located problems for pydantic's errors; ``model`` is what was validated (for "did you mean" hints from
    the keys allowed where the unknown key is, before the whole ``vocabulary``)."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = error_path(err["loc"])
        allowed = _allowed_keys(model, loc[:-1]) if err["type"] == "extra_forbidden" and model else None
        problems.append(_problem(err, (*prefix, *loc), locate, source_text, vocabulary or set(), allowed))
    return problems


def _allowed_keys(model: type[BaseModel], loc: Sequence[Any]) -> list[str] | None:
    found = model_at(model, loc)
    if found is None:
        return None
    return sorted(info.alias or name for name, info in found.model_fields.items())


def error_path(loc: Sequence[str | int]) -> tuple[str | int, ...]:
    """pydantic's ``loc`` as a document path: without the tag pydantic adds for the union member of a metadata
    value or of a user's group entry (a name or ``{name, expires}``).

    A metadata value sits at ``metadata.<key>`` and a group entry at ``groups.<index>``, so the tag can only be
    the step right after the key or index.
    """
    path = tuple(loc)
    for i in range(len(path) - 2):
        if path[i] in ("metadata", "groups") and path[i + 2] in UNION_TAGS:
            return path[: i + 2] + path[i + 3 :]
    return path


def step_kinds(annotation: Any, loc: tuple) -> list[str]:
    """For each step of ``loc``: an optional, required or unknown ("extra") key of a model, a list "item",
    a mapping "value", or "other" (below something that is not a model, list or mapping)."""
    # The kinds do not depend on which list item: 100,000 broken entries are one walk, not 100,000.
    return list(_step_kinds(annotation, tuple(0 if isinstance(s, int) else s for s in loc)))


@functools.lru_cache(maxsize=1024)
def _step_kinds(annotation: Any, loc: tuple) -> tuple[str, ...]:
    return tuple(kind for kind, _ in _walk(annotation, loc))


def model_at(root: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    """The model whose mapping sits at ``loc`` under ``root``, or None when it is not a model."""
    steps = list(_walk(root, loc))
    current = _unwrap(steps[-1][1] if steps else root)
    if typing.get_origin(current) in (typing.Union, types.UnionType):  # the metadata value: str | SecretRef
        members = [_unwrap(a) for a in typing.get_args(current)]
        found = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        current = found[0] if len(found) == 1 else None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _walk(annotation: Any, loc: Sequence[Any]) -> Iterator[tuple[str, Any]]:
    current: Any = annotation
    for step in loc:
        current = _unwrap(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = next(
                (f for name, f in current.model_fields.items() if step in (name, f.alias)),
                None,
            )
            if info is None:
                kind, current = "extra", None
            else:
                kind, current = ("required" if info.is_required() else "optional"), info.annotation
        elif origin is list and isinstance(step, int):
            kind, current = "item", typing.get_args(current)[0]
        elif origin is dict:
            kind, current = "value", typing.get_args(current)[1]
        else:
            kind, current = "other", None
        yield kind, current


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> X and ``Annotated[X, ...]`` -> X; other unions are left alone."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _problem(
    err: dict,
    path: tuple,
    locate: Locate,
    source_text: Callable,
    vocabulary: set[str],
    allowed: list[str] | None,
) -> Problem:
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        key = str(path[-1])
        return Problem(locate(path, key=True), f"unknown key {quoted(key)}", _key_hint(key, allowed, vocabulary))
    if kind == "missing":
        return Problem(locate(path[:-1]), f"missing required key '{path[-1]}'")
    if kind == "literal_error" and path == ("version",):
        return Problem(
            locate(path),
            f"unsupported format version {_version(value)}: this reconciler reads version 1",
            "upgrade reconciler, or write 'version: 1'",
        )
    if kind == "literal_error":
        expected = err["ctx"]["expected"].replace("'", "").replace(" or ", ", ")
        return Problem(locate(path), f"{_short(value)} is not one of {expected}")
    hint = _quote_hint(source_text(path), value, secret="metadata" in path) if kind in _WANTS_STRING else None
    if kind in _KIND:
        return Problem(locate(path), f"expected {_KIND[kind]}, got {describe_value(value)}", hint)
    return Problem(locate(path), err["msg"], hint)


def _key_hint(key: str, allowed: list[str] | None, vocabulary: set[str]) -> str | None:
    """ "did you mean" from the keys allowed here; else say when the key belongs somewhere else."""
    if allowed is None:
        close = difflib.get_close_matches(key, sorted(vocabulary), n=1, cutoff=0.6)
        return f"did you mean '{close[0]}'?" if close else None
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if key in vocabulary:
        return f"'{key}' is not allowed here, check the indentation; allowed here: {', '.join(allowed)}"
    return f"allowed here: {', '.join(allowed)}"


def _version(value: Any) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else describe_value(value)


def _short(value: Any) -> str:
    return quoted(value) if isinstance(value, str) else describe_value(value)


def _quote_hint(source: str | None, value: Any, *, secret: bool = False) -> str | None:
    """YAML 1.1 reads NO, yes, on and 1.10 as booleans and numbers: tell the user to quote them.

    A metadata value is never repeated, not even in a hint (SPEC 6): only what YAML read it as is named.
    """
    if not isinstance(value, bool | int | float) or source is None:
        return None
    if secret:
        kind = "a boolean" if isinstance(value, bool) else "a number"
        return f"YAML reads this value as {kind}; put it in quotes"
    if source == str(value):
        return f'quote it: "{source}"'
    return f'YAML reads {source} as {describe_value(value)}; quote it: "{source}"'
