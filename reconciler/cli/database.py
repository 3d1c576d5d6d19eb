"""Database maintenance: ``db upgrade``.

Stage: CLI.
"""

from __future__ import annotations

import click

from .runtime import Runtime


@click.group()
def db() -> None:
    """Database maintenance.

    \b
    Example:
      reconciler --database postgresql://localhost/access db upgrade
    """


@db.command("upgrade")
@click.pass_obj
def db_upgrade(runtime: Runtime) -> None:
    """Migrate the database schema to this version of reconciler.

    \b
    Example:
      reconciler --database postgresql://localhost/access db upgrade
    """
    from ..backends.registry import upgrade_backend

    before, after = upgrade_backend(runtime.backend_name, runtime.database_url)
    if before == after:
        click.echo(f"Database schema is up to date (revision {after}).")
    else:
        click.echo(f"Database schema upgraded from {before or 'empty'} to {after}.")
