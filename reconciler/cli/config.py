"""Configuration commands: ``validate`` and ``schema``; neither touches a database.

Stage: CLI.
"""

from __future__ import annotations

from pathlib import Path

import click

from .options import config_option
from .output import warning


@click.command()
@config_option()
@click.option("--resolve-secrets", is_flag=True, help="Also resolve {env:} and {file:} secret references.")
def validate(config_path: Path, resolve_secrets: bool) -> None:
    """Check a configuration without touching any database.

    \b
    Example:
      reconciler validate -f examples/workspace.yaml
    """
    from ..config.loader import load_config

    desired = load_config(config_path, resolve_secrets=resolve_secrets, warn=warning)
    for result in desired.policy_results:  # a broken warn policy (a broken deny one is an error)
        if not result.passed:
            from ..render.governance import result_text

            warning(result_text(result))
    users = sum(len(ws.workspace.memberships) for ws in desired.workspaces.values())
    spaces = len(desired.workspaces)
    click.echo(
        f"{config_path}: valid ({spaces} workspace{'s' * (spaces != 1)}, {users} membership{'s' * (users != 1)})."
    )


@click.command()
def schema() -> None:
    """Print the JSON Schema of the configuration format (for yaml-language-server).

    \b
    Example:
      reconciler schema > reconciler.schema.json
    """
    import json

    from ..config.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))
