"""Regenerate docs/reliability.md from the reliability and property suites.

    .venv/bin/python tests/reliability/make_reliability_doc.py [OUTPUT]

Runs ``pytest tests/reliability tests/property --reliability-doc OUTPUT`` (default docs/reliability.md); the
table comes from each test's ``reliability(area, fault, outcome)`` marker and the run's results (see
tests/reliability/conftest.py). Set RECONCILER_TEST_POSTGRES_URL to include the PostgreSQL rows.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    output = Path(argv[0]) if argv else ROOT / "docs" / "reliability.md"
    return pytest.main(
        [str(ROOT / "tests" / "reliability"), str(ROOT / "tests" / "property"), "--reliability-doc", str(output), "-q"]
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
