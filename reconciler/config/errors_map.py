"""Turn pydantic's validation errors into located, readable problems (SPEC 2.2).

Stage: config. pydantic reports a ``loc`` tuple; the YAML loader knows where every path sits in the file.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import Location, Problem

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


def describe_value(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value[:60]!r}"
    return type(value).__name__


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
) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        path = (*prefix, *err["loc"])
        problems.append(_problem(err, path, locate, source_text, vocabulary or set()))
    return problems


def _problem(err: dict, path: tuple, locate: Locate, source_text: Callable, vocabulary: set[str]) -> Problem:
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        key = str(path[-1])
        close = difflib.get_close_matches(key, sorted(vocabulary), n=1, cutoff=0.6)
        return Problem(locate(path, key=True), f"unknown key '{key}'", f"did you mean '{close[0]}'?" if close else None)
    if kind == "missing":
        return Problem(locate(path[:-1]), f"missing required key '{path[-1]}'")
    if kind == "literal_error":
        expected = err["ctx"]["expected"].replace("'", "").replace(" or ", ", ")
        return Problem(locate(path), f"{_short(value)} is not one of {expected}")
    hint = _quote_hint(source_text(path), value)
    if kind in _KIND:
        return Problem(locate(path), f"expected {_KIND[kind]}, got {describe_value(value)}", hint)
    return Problem(locate(path), err["msg"], hint)


def _short(value: Any) -> str:
    return repr(value[:60]) if isinstance(value, str) else describe_value(value)


def _quote_hint(source: str | None, value: Any) -> str | None:
    """YAML 1.1 reads NO, yes, on and 1.10 as booleans and numbers: tell the user to quote them."""
    if isinstance(value, bool | int | float) and source is not None:
        return f'YAML reads {source} as {describe_value(value)}; quote it: "{source}"'
    return None
