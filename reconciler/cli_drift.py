"""``drift``: a read-only plan for CI, with an exit code (SPEC 3).

Stage: CLI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli import Runtime, cli, config_option, err
from .cli_plan import _plan_from_config, _render, workspace_option


@cli.command()
@config_option()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "junit"]),
    default="text",
    show_default=True,
)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report to this file.")
@workspace_option()
@click.pass_obj
def drift(runtime: Runtime, config_path: Path, fmt: str, output: Path | None, workspaces: tuple[str, ...]) -> None:
    """Report whether the database differs from the configuration (read-only, for CI).

    Exit codes: 0 in sync, 2 drift, 1 error.

    \b
    Example:
      reconciler drift -f workspace.yaml --format junit --output drift.xml
    """
    planned, _ = _plan_from_config(runtime, config_path, workspaces, False)
    if fmt == "junit":
        from .render.junit import render_junit

        text = render_junit(planned.plan, planned.desired, planned.snapshot)
    else:
        text = _render(planned.plan, fmt, runtime.color and output is None)
    if output is not None:
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        err(f"Wrote the drift report to {output}.")
    else:
        click.echo(text)
    sys.exit(0 if planned.plan.empty else 2)
