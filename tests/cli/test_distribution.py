"""What a user installs: the distribution's name (not the unrelated ``reconciler`` on PyPI) in every install line,
hint and doc; CI installs that are pinned; a LICENSE that matches pyproject.toml; a changelog."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from reconciler.backends.builtin.db import POSTGRES_HINT
from reconciler.cli.app import DISTRIBUTION

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
TEXT_SUFFIXES = {".md", ".yml", ".yaml", ".py", ".toml", ".txt", ".cfg", ".sh", ""}
SKIPPED_DIRS = {".git", ".venv", "node_modules", "benchmarks", "__pycache__", "build", "dist"}
# A requirement naming the distribution: "reconciler[postgres]", "pip install reconciler", "reconciler==0.1.0".
_BARE_NAME = re.compile(r"""(?<![\w./-])reconciler(?:\[[a-z,]+\]|==|>=|~=)|pip install\s+['"]?reconciler\b(?![\w-])""")


def repository_text_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        if any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in path.relative_to(ROOT).parts):
            continue
        if path.is_file() and path.suffix in TEXT_SUFFIXES and path.stat().st_size < 2_000_000:
            files.append(path)
    return files


def test_the_distribution_is_not_the_unrelated_reconciler() -> None:
    assert PYPROJECT["project"]["name"] == DISTRIBUTION == "access-reconciler"
    assert PYPROJECT["project"]["scripts"] == {"reconciler": "reconciler.cli:main"}  # the command stays
    assert "postgres" in PYPROJECT["project"]["optional-dependencies"]


def test_no_install_line_names_the_bare_reconciler() -> None:
    """Outside the tests (which hold bad examples on purpose); a line warning about the other project is fine."""
    offenders = []
    for path in repository_text_files():
        if path.relative_to(ROOT).parts[0] == "tests":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if _BARE_NAME.search(line) and "unrelated project" not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_check_finds_bare_names() -> None:
    for line in (
        """pip install 'reconciler[postgres]'""",
        'run: pip install "reconciler[postgres]"',
        "pip install reconciler",
        'e.g. "reconciler[postgres]==0.1.0"',
    ):
        assert _BARE_NAME.search(line), line
    for line in (
        "pip install 'access-reconciler[postgres]'",
        "reconciler plan -f x",
        "pip install -e '.[postgres]'",
        "pip install reconciler-thing",
    ):
        assert not _BARE_NAME.search(line), line


def test_the_hint_and_the_docs_name_the_distribution() -> None:
    assert "access-reconciler" in POSTGRES_HINT and "psycopg" in POSTGRES_HINT
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'pip install "access-reconciler[postgres] @ git+https://github.com/OWNER/REPO@COMMIT"' in readme
    ci = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    assert 'RECONCILER_PACKAGE: "access-reconciler[postgres] @ git+https://github.com/OWNER/REPO@COMMIT_SHA"' in ci


def test_ci_installs_are_pinned() -> None:
    for path in [*sorted((ROOT / "examples" / "ci").glob("*.y*ml")), ROOT / "action.yml"]:
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            if "pip install" in line and not line.lstrip().startswith("#"):
                assert re.search(r'pip install "\$(RECONCILER_PACKAGE|package)"', line), (path.name, line)
        if "rev:" in text:  # pre-commit: a commit, not a tag
            assert re.search(r"rev: COMMIT_SHA\b", text), path.name


def test_the_license_matches_pyproject() -> None:
    assert PYPROJECT["project"]["license"] == {"text": "Apache-2.0"}
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    assert "9. Accepting Warranty or Additional Liability." in license_text


def test_the_changelog_has_unreleased_and_the_current_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, flags=re.MULTILINE)
    assert headings[:2] == ["Unreleased", PYPROJECT["project"]["version"]]
    assert "Keep a Changelog" in changelog
    unreleased = changelog.split("## [Unreleased]", 1)[1].split("\n## [", 1)[0]
    for subject in ("access-reconciler", "exits 1", "SIGPIPE", "action.yml", "completion", "LICENSE"):
        assert subject in unreleased, subject
