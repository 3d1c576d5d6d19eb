"""``export``: the database as configuration YAML (SPEC 3, adoption).

Stage: CLI. Reads one consistent snapshot of the chosen workspaces (read-only: an empty or missing database
is an error, never initialised), hands it to ``export.snapshot_to_config`` and writes the YAML.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..desired import DesiredState
from ..errors import ReconcilerError
from ..state import Snapshot
from .options import config_option, workspace_option
from .output import inform, note, warning
from .runtime import Runtime
from .workspaces import require_workspaces

PLAIN_TEXT_WARNING = (
    "--with-metadata writes metadata values in plain text. Treat the output as a secret: "
    "never commit it; use {env:} or {file:} references in the configuration instead."
)


@click.command("export")
@workspace_option()
@click.option("--with-metadata", is_flag=True, help="Include metadata values, in plain text (a warning is printed).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the YAML to this file instead of standard output.",
)
@config_option(required=False)
@click.pass_obj
def export_command(
    runtime: Runtime, workspaces: tuple[str, ...], with_metadata: bool, output: Path | None, config_path: Path | None
) -> None:
    """Write the database as configuration YAML (to adopt an existing database).

    Without --with-metadata, user entries have no `metadata:` key, which plan and apply read as "leave the
    metadata alone", so `plan` on the export prints `No changes.`. Only the chosen workspaces (default: all)
    and their members are exported. With -f CONFIG, the export keeps that configuration's ownership settings
    (prune, ignore, manage, rails, members: external) and leaves out what they cede (docs/ownership.md), and
    its declared seat limits (limits:, top level and per workspace).

    \b
    Example:
      reconciler export -o access/workspaces.yaml
      reconciler plan -f access/workspaces.yaml      # No changes.
      reconciler export -f access/ -o refreshed.yaml  # keeps access/'s ownership settings
    """
    from ..export import adoption_warnings, dump_config, ownership_notes, snapshot_to_config

    backend = runtime.backend()  # never created (SPEC 3): a missing or empty database is an error
    existing = backend.list_workspaces()
    require_workspaces(workspaces, existing)
    keyring = runtime.keyring(create=False)
    snapshot = backend.read_snapshot(sorted(set(workspaces)) or existing, keyring)
    if with_metadata:
        warning(PLAIN_TEXT_WARNING)
    else:
        _note_omitted_metadata(snapshot)
    keep = _ownership_of(config_path) if config_path is not None else None
    exported = snapshot_to_config(snapshot, with_metadata=with_metadata, keep=keep)
    text = dump_config(exported, with_metadata=with_metadata)
    for line in adoption_warnings(snapshot):
        warning(line)
    for line in ownership_notes(snapshot, keep):
        note(line)
    if output is None:
        click.echo(text, nl=False)
        return
    _write(output, text, private=with_metadata)
    count = len(snapshot.workspaces)
    inform(f"Wrote {count} workspace{'' if count == 1 else 's'} to {output}.")


def _ownership_of(config_path: Path) -> DesiredState:
    """The configuration whose ownership settings the export keeps: checked, but its secrets not resolved
    (they are not needed, and not written)."""
    from ..config.loader import load_config

    return load_config(config_path, resolve_secrets=False, warn=warning)


def _note_omitted_metadata(snapshot: Snapshot) -> None:
    count = sum(m.metadata.has_values for ws in snapshot.workspaces.values() for m in ws.memberships.values())
    if count:
        note(
            f"the metadata of {count} membership{'' if count == 1 else 's'} was left out (absent = left alone "
            "by plan and apply); --with-metadata includes it."
        )


def _write(path: Path, text: str, *, private: bool) -> None:
    """Write ``text``; a file holding plain-text metadata is created readable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if private:
            os.chmod(path, 0o600)  # an existing file keeps its mode on O_CREAT
    except OSError as exc:
        raise ReconcilerError(f"cannot write {path}: {exc.strerror or exc}") from None
