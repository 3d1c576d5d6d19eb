"""The example configuration (examples/) applied to a database, for the report tests.

Deliberately no ``conftest.py`` here: a second module named ``conftest`` would shadow ``tests/conftest.py`` for
tests that import from it. Test modules wrap ``example_database`` in a fixture of their own.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import MASTER_KEY_HEX, Harness

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CRM_TOKEN = "crm-Pangolin-5521"  # the example's {env: ACME_CRM_TOKEN} metadata value
API_KEY = (EXAMPLES / "secrets" / "alice-api-key.txt").read_text().strip()  # its {file:} value


@dataclass
class ExampleDatabase:
    url: str
    config: Path  # examples/ copied to a temporary directory
    harness: Harness


def apply_example(url: str, directory: Path) -> ExampleDatabase:
    shutil.copytree(EXAMPLES, directory / "config")
    harness = Harness(url, directory)
    harness.apply()
    return ExampleDatabase(url, harness.config_path, harness)


def example_database(url: str, directory: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ExampleDatabase]:
    """For a fixture: the example applied to ``url``, with its secret and the master key in the environment."""
    monkeypatch.setenv("ACME_CRM_TOKEN", CRM_TOKEN)
    monkeypatch.setenv("RECONCILER_MASTER_KEY", MASTER_KEY_HEX)
    example = apply_example(url, directory)
    yield example
    example.harness.close()
