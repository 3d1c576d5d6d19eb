"""The application: the ``reconciler`` group, its global options, the one place commands are registered, and the
edge where errors become ``Error:`` lines and exit codes (SPEC 3).

Stage: CLI. Errors are caught once, here: a ReconcilerError prints ``Error: ...`` lines on stderr (through
``output``) and exits 1; a traceback appears only with ``--debug``. Command modules never import this one: they
get a :class:`~reconciler.cli.runtime.Runtime` and raise errors; heavy modules are imported inside the commands
so that ``reconciler --help`` starts quickly.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

from ..backends.registry import BACKENDS
from ..errors import ReconcilerError
from . import output
from .config import schema, validate
from .database import db
from .drift import drift
from .export import export_command
from .people import accept_invite, csv_group, explain, invite_url, invites, keys, users
from .plan import apply, history, invites_prune, plan, show
from .report import report
from .runtime import Runtime

DISTRIBUTION = "access-reconciler"  # the name on the package index; the import package and command are `reconciler`
DEFAULT_DATABASE = "sqlite:///reconciler.db"


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
    def _report(ctx: click.Context, lines: list[str], hints: list[str] | None = None) -> None:
        runtime = ctx.obj
        if isinstance(runtime, Runtime) and runtime.debug:
            raise
        output.errors(lines, hints or [])
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
            self._report(ctx, exc.lines(), exc.hints())
        except OSError as exc:  # a file that cannot be read or written: the user's to fix
            name = f"{exc.filename}: " if exc.filename else ""
            self._report(ctx, [f"{name}{exc.strerror or exc}"])
        except KeyboardInterrupt:
            output.inform("\nInterrupted: nothing was committed (a transaction in progress is rolled back).")
            ctx.exit(130)
        except Exception as exc:  # a bug: say so plainly, show the traceback only with --debug
            self._report(
                ctx,
                [f"internal error ({type(exc).__name__}); this is a bug in reconciler"],
                ["run again with --debug for the traceback, and report it"],
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
    """Give every command of ``group`` (recursively) the global options."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            add_global_options(command)
        else:
            command.params.extend(_global_options())


# Every command, registered here and only here.
COMMANDS: tuple[click.Command, ...] = (
    validate,
    schema,
    db,
    plan,
    apply,
    show,
    history,
    drift,
    export_command,
    report,
    users,
    explain,
    invite_url,
    accept_invite,
    invites,
    keys,
    csv_group,
)
for _command in COMMANDS:
    cli.add_command(_command)
# `invites prune` plans and applies (issue 18): it lives with apply, in the invites group of people.py
invites.add_command(invites_prune)
add_global_options(cli)


def main() -> None:
    from ..workflow import one_shot_process

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
