"""errors.py holds every exception, with one multi-refusal shape (issue 15)."""

from __future__ import annotations

import inspect

import reconciler
from reconciler import errors
from reconciler.errors import PlanRefusals, PlanRefused, ReconcilerError, refused


def test_several_refusals_are_one_exception_with_a_line_each() -> None:
    first = PlanRefused("last-admin", "no admin left", hint="keep an admin")
    second = PlanRefused("mass-change", "too many archives")
    error = refused([first, second])
    assert isinstance(error, PlanRefusals) and isinstance(error, PlanRefused)
    assert error.rule == "last-admin" and error.hint == "keep an admin"
    assert error.lines() == ["no admin left", "too many archives"]
    assert refused([second]) is second


def test_every_user_facing_exception_is_defined_in_errors_py() -> None:
    import pkgutil

    for module_info in pkgutil.walk_packages(reconciler.__path__, "reconciler."):
        module = __import__(module_info.name, fromlist=["_"])
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, ReconcilerError):
                assert value.__module__ == errors.__name__, f"{module_info.name}.{name} is defined outside errors.py"
