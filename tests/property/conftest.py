"""The property tests carry the reliability suite's marker (see tests/reliability/conftest.py)."""

from __future__ import annotations

import pytest

MARKER = "reliability(area, fault, outcome): a fault or bad input the suite tries, and the outcome it asserts"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
