"""Options that several commands share (the global ones are in ``app``).

Stage: CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def config_option(required: bool = True) -> Any:
    return click.option(
        "-f",
        "--file",
        "config_path",
        type=click.Path(path_type=Path),
        required=required,
        help="Configuration file, or a directory of *.yaml/*.yml files.",
    )


def workspace_option() -> Any:
    return click.option(
        "--workspace", "workspaces", multiple=True, metavar="SLUG", help="Only this workspace (repeatable)."
    )


def all_workspaces_option() -> Any:
    return click.option("--all-workspaces", is_flag=True, help="Every workspace in the database.")
