"""The command line (SPEC 3): parse options, call the library, print, map errors to exit codes.

Errors are caught once, here, at the edge: a ReconcilerError prints ``Error: ...`` lines on stderr and exits 1;
a traceback appears only with ``--debug``. Heavy modules are imported inside the commands so that
``reconciler --help`` starts quickly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .backends.registry import BACKENDS
from .errors import ReconcilerError
from .safetext import escape

if TYPE_CHECKING:
    from .backends.base import Backend
    from .keys import KeyringResult

DISTRIBUTION = "access-reconciler"  # the name on the package index; the import package and command are `reconciler`
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

    def backend(self, *, create: bool = False) -> Backend:
        """The database. Only ``create`` (``apply``) may create it or its schema (SPEC 3); every other command
        gets :class:`~reconciler.errors.DatabaseMissing` for a database that does not exist yet."""
        if self._backend is None:
            from .backends.registry import open_backend

            self._backend = open_backend(self.backend_name, self.database_url, create=create)
        return self._backend

    def backend_or_absent(self) -> tuple[Backend, str | None]:
        """For ``plan``: the database, or an empty stand-in for one that does not exist yet, with a note."""
        from .errors import DatabaseMissing

        try:
            return self.backend(), None
        except DatabaseMissing as exc:
            from .backends.registry import backend_class

            kind = backend_class(self.backend_name)
            if not kind.CREATES_SCHEMA:
                raise
            note = f"Note: {exc.message}; this plan starts from an empty state, and 'reconciler apply' will create it."
            return kind.absent(self.database_url, exc), note

    def keyring(self, *, create: bool = False, required: bool = False) -> Any:
        from .keys import load_keyring, require_keyring

        result = self._keys.get(create)
        if result is None:
            result = load_keyring(
                self.database_url,
                environ=os.environ,
                master_key_file=self.master_key_file,
                create=create,
                holds_encrypted_data=self._holds_encrypted_data,
            )
            self._keys[create] = result
        if result.notice and result.notice not in self._notices_shown:
            self._notices_shown.add(result.notice)
            err(result.notice)
        return require_keyring(result) if required else result.keyring

    def _holds_encrypted_data(self) -> bool:
        """Whether the database holds encrypted values (asked before a key file is created for it)."""
        from .errors import DatabaseMissing

        try:
            backend = self.backend()
        except DatabaseMissing:
            return False
        return backend.holds_encrypted_data()

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()


def err(message: str) -> None:
    click.echo(message, err=True)


def fail(message: str, hint: str | None = None) -> NoReturn:
    raise ReconcilerError(message, hint=hint)


def require_workspaces(requested: Iterable[str], known: Iterable[str]) -> None:
    """The one check (and wording) of ``--workspace`` against the database, for every command that reads one."""
    known = sorted(known)
    missing = sorted(set(requested) - set(known))
    if missing:
        fail(
            f"--workspace {', '.join(missing)}: no such workspace in the database",
            hint="workspaces in the database: " + (", ".join(known) or "none"),
        )


class OutputClosed(Exception):
    """Whoever read our output went away (``reconciler schema | head -n1``): :func:`main` ends quietly."""


class ReconcilerGroup(click.Group):
    """Catches user errors once, at the edge, and turns them into ``Error:`` lines and exit code 1.

    Usage errors (unknown option or command, missing or invalid value) keep click's message but exit 1 too:
    exit code 2 means "changes" (``plan --detailed-exitcode``) or "drift", never a mistyped flag.
    """

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.ClickException as exc:
            exc.exit_code = 1
            raise
        except BrokenPipeError as exc:  # `reconciler --help | head -n1`
            raise OutputClosed from exc

    @staticmethod
    def _report(ctx: click.Context, lines: list[str], hint: str | None = None) -> None:
        runtime = ctx.obj
        if isinstance(runtime, Runtime) and runtime.debug:
            raise
        for line in lines:
            err(f"Error: {escape(line)}")  # user text in any error shows as written, never as terminal control
        if hint:
            err(f"Hint: {escape(hint)}")
        ctx.exit(1)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:  # a subcommand's usage error: 1, see the class docstring
            exc.exit_code = 1
            raise
        except (click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError as exc:  # `reconciler ... | head`: not an error of ours, see main()
            raise OutputClosed from exc
        except ReconcilerError as exc:
            self._report(ctx, exc.lines(), exc.hint)
        except OSError as exc:  # a file that cannot be read or written: the user's to fix
            name = f"{exc.filename}: " if exc.filename else ""
            self._report(ctx, [f"{name}{exc.strerror or exc}"])
        except KeyboardInterrupt:
            err("\nInterrupted: nothing was committed (a transaction in progress is rolled back).")
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
@click.version_option(package_name=DISTRIBUTION)
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
    ctx.obj = Runtime(database, backend, master_key_file, debug, use_color(no_color))


def use_color(no_color: bool) -> bool:
    """Colour only on a terminal, and not with ``--no-color`` or a non-empty ``NO_COLOR`` (no-color.org)."""
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


# The global options may also follow the command (``reconciler plan -f x --database URL``): each command gets
# copies that, when given, override the group's value. Registered by ``add_global_options``.
def _set_runtime(attribute: str) -> Any:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        runtime = ctx.find_object(Runtime)
        if runtime is None or value is None or value is False:
            return
        if attribute == "no_color":
            runtime.color = False
        else:
            setattr(runtime, attribute, value)

    return callback


def _global_options() -> list[click.Option]:
    return [
        click.Option(
            ["--database"],
            expose_value=False,
            callback=_set_runtime("database_url"),
            help="Database URL (also before the command, or RECONCILER_DATABASE_URL).",
        ),
        click.Option(
            ["--backend"],
            type=click.Choice(BACKENDS),
            expose_value=False,
            callback=_set_runtime("backend_name"),
            help="Storage backend (also before the command, or RECONCILER_BACKEND).",
        ),
        click.Option(
            ["--master-key-file"],
            type=click.Path(dir_okay=False),
            expose_value=False,
            callback=_set_runtime("master_key_file"),
            help="File holding the 64-hex-digit master key.",
        ),
        click.Option(
            ["--debug"], is_flag=True, expose_value=False, callback=_set_runtime("debug"), help="Show tracebacks."
        ),
        click.Option(
            ["--no-color"], is_flag=True, expose_value=False, callback=_set_runtime("no_color"), help="Never colour."
        ),
    ]


def add_global_options(group: click.Group) -> None:
    """Give every command of ``group`` (recursively) the global options, once."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            add_global_options(command)
        elif not any(getattr(p, "callback", None) and p.name == "database" for p in command.params):
            command.params.extend(_global_options())


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

    add_global_options(cli)


def main() -> None:
    from .workflow import one_shot_process

    register_later_commands()
    try:
        with one_shot_process():  # one command per process: see workflow.paused_gc
            cli(prog_name="reconciler")
    except SystemExit:
        try:
            sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe prints a traceback
        except BrokenPipeError:
            _die_of_closed_output()
        raise
    except OutputClosed:
        _die_of_closed_output()


def _die_of_closed_output() -> NoReturn:
    """End as Unix tools do when the reader of their output leaves (``| head``): quietly, killed by SIGPIPE.

    The shell reports 141 (128 + SIGPIPE), so ``set -o pipefail`` still notices that the output was cut. Python
    ignores SIGPIPE so that sockets (SMTP, PostgreSQL) raise errors instead of killing the process; the signal is
    restored only here, after every transaction and file was closed by the unwinding.
    """
    import signal
    from contextlib import suppress

    with suppress(OSError, ValueError):  # the interpreter's last flush must not write to the closed pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
    os._exit(1)  # no SIGPIPE (Windows)
