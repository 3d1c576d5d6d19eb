"""The command line (SPEC 3): parse options, call the library, print, map errors to exit codes.

Errors are caught once, here, at the edge: a ReconcilerError prints ``Error: ...`` lines on stderr and exits 1;
a traceback appears only with ``--debug``. Heavy modules are imported inside the commands so that
``reconciler --help`` starts quickly.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .backends.registry import BACKENDS
from .errors import ReconcilerError

if TYPE_CHECKING:
    from .backends.base import Backend
    from .keys import KeyringResult

DEFAULT_DATABASE = "sqlite:///reconciler.db"
CONFIRM_QUESTION = "Do you want to perform these actions? Only 'yes' will be accepted to approve."


@dataclass
class Runtime:
    database_url: str
    backend_name: str
    master_key_file: str | None
    debug: bool
    color: bool
    _backend: Backend | None = None
    _keys: dict[bool, KeyringResult] = field(default_factory=dict)
    _notices_shown: set[str] = field(default_factory=set)

    def backend(self) -> Backend:
        if self._backend is None:
            from .backends.registry import open_backend

            self._backend = open_backend(self.backend_name, self.database_url)
        return self._backend

    def keyring(self, *, create: bool = False, required: bool = False) -> Any:
        from .keys import load_keyring, require_keyring

        result = self._keys.get(create)
        if result is None:
            result = load_keyring(
                self.database_url, environ=os.environ, master_key_file=self.master_key_file, create=create
            )
            self._keys[create] = result
        if result.notice and result.notice not in self._notices_shown:
            self._notices_shown.add(result.notice)
            err(result.notice)
        return require_keyring(result) if required else result.keyring

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()


def err(message: str) -> None:
    click.echo(message, err=True)


def fail(message: str, hint: str | None = None) -> NoReturn:
    raise ReconcilerError(message, hint=hint)


class ReconcilerGroup(click.Group):
    """Catches user errors once, at the edge, and turns them into ``Error:`` lines and exit code 1."""

    @staticmethod
    def _report(ctx: click.Context, lines: list[str], hint: str | None = None) -> None:
        runtime = ctx.obj
        if isinstance(runtime, Runtime) and runtime.debug:
            raise
        for line in lines:
            err(f"Error: {line}")
        if hint:
            err(f"Hint: {hint}")
        ctx.exit(1)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except ReconcilerError as exc:
            self._report(ctx, exc.lines(), exc.hint)
        except OSError as exc:  # a file that cannot be read or written: the user's to fix
            name = f"{exc.filename}: " if exc.filename else ""
            self._report(ctx, [f"{name}{exc.strerror or exc}"])
        except KeyboardInterrupt:
            err("Interrupted; an apply in progress was rolled back.")
            ctx.exit(130)
        except Exception as exc:  # a bug: say so plainly, show the traceback only with --debug
            self._report(
                ctx,
                [f"internal error ({type(exc).__name__}); this is a bug in reconciler"],
                "run again with --debug for the traceback, and report it",
            )
        finally:
            if isinstance(ctx.obj, Runtime):
                ctx.obj.close()


@click.group(cls=ReconcilerGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--database",
    envvar="RECONCILER_DATABASE_URL",
    default=DEFAULT_DATABASE,
    show_default=True,
    help="Database URL (also RECONCILER_DATABASE_URL), e.g. postgresql://user@host/db.",
)
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    envvar="RECONCILER_BACKEND",
    default="builtin",
    show_default=True,
    help="Storage backend (also RECONCILER_BACKEND).",
)
@click.option("--master-key-file", type=click.Path(dir_okay=False), help="File holding the 64-hex-digit master key.")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option("--no-color", is_flag=True, help="Never colour the output (NO_COLOR is honoured too).")
@click.version_option(package_name="reconciler")
@click.pass_context
def cli(
    ctx: click.Context, database: str, backend: str, master_key_file: str | None, debug: bool, no_color: bool
) -> None:
    """Access configuration as code for ToolJet-style workspaces.

    \b
    Example:
      reconciler validate -f workspace.yaml
      reconciler plan -f workspace.yaml
      reconciler apply -f workspace.yaml
    """
    color = not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()
    ctx.obj = Runtime(database, backend, master_key_file, debug, color)


def config_option(required: bool = True) -> Any:
    return click.option(
        "-f",
        "--file",
        "config_path",
        type=click.Path(path_type=Path),
        required=required,
        help="Configuration file, or a directory of *.yaml/*.yml files.",
    )


# --- config ----------------------------------------------------------------------------------


@cli.command()
@config_option()
@click.option("--resolve-secrets", is_flag=True, help="Also resolve {env:} and {file:} secret references.")
def validate(config_path: Path, resolve_secrets: bool) -> None:
    """Check a configuration without touching any database.

    \b
    Example:
      reconciler validate -f examples/workspace.yaml
    """
    from .config.loader import load_config

    desired = load_config(config_path, resolve_secrets=resolve_secrets, warn=lambda message: err(f"Warning: {message}"))
    users = sum(len(ws.workspace.memberships) for ws in desired.workspaces.values())
    spaces = len(desired.workspaces)
    click.echo(
        f"{config_path}: valid ({spaces} workspace{'s' * (spaces != 1)}, {users} membership{'s' * (users != 1)})."
    )


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the configuration format (for yaml-language-server).

    \b
    Example:
      reconciler schema > reconciler.schema.json
    """
    import json

    from .config.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@cli.group()
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
    from .backends.registry import upgrade_backend

    before, after = upgrade_backend(runtime.backend_name, runtime.database_url)
    if before == after:
        click.echo(f"Database schema is up to date (revision {after}).")
    else:
        click.echo(f"Database schema upgraded from {before or 'empty'} to {after}.")


def register_later_commands() -> None:
    """Each module registers its commands on ``cli`` when imported."""
    from . import cli_drift, cli_export, cli_people, cli_plan, cli_report  # noqa: F401


def main() -> None:
    from .workflow import freeze_large_survivors

    freeze_large_survivors()  # one command per process: see workflow.paused_gc
    register_later_commands()
    cli(prog_name="reconciler")
