"""``report``: the access review report (HTML, CSV, JSON).

Stage: CLI. Picks the workspaces, reads the snapshot and the audit history, optionally plans against a
configuration for drift marks, and hands everything to ``reconciler.report``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .options import all_workspaces_option, config_option, hygiene_options, workspace_option
from .output import inform, note, warning
from .runtime import Runtime
from .workspaces import no_selection, selected_workspaces

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..crypto import Keyring
    from ..desired import DesiredState
    from ..ops import Plan
    from ..report import Report
    from ..state import Snapshot

FORMATS = ("html", "csv", "json")


@click.command()
@workspace_option()
@all_workspaces_option()
@config_option(required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="Output format (default: from the -o file's extension, else html).",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report to FILE.")
@click.option(
    "--history",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    metavar="N",
    help="How many recent applies to list (0: none).",
)
@hygiene_options()
@click.pass_obj
def report(
    runtime: Runtime,
    workspaces: tuple[str, ...],
    all_workspaces: bool,
    config_path: Path | None,
    fmt: str | None,
    output: Path | None,
    history: int,
    stale_invites: Any,
    not_signed_in: Any,
) -> None:
    """Access review: who can do what in each workspace, through which role or group.

    With -f CONFIG the workspaces default to the declared ones, entries that differ from the configuration
    are marked, and the dates its expires: keys give are shown (UTC). Invitations pending longer than
    --stale-invites and members not signed in for --not-signed-in (where the backend records sign-ins) are
    flagged. Metadata appears as keys only, never values.

    \b
    Example:
      reconciler report --all-workspaces -o access-review.html
      reconciler report --workspace acme --format csv -o acme-access.csv
      reconciler report -f workspace.yaml --format json
    """
    from ..access import declared_roles
    from ..expiry import current_time
    from ..hygiene import findings
    from ..report import RENDERERS, build_report

    fmt = fmt or _format_from(output)
    backend = runtime.backend()
    desired = _load(config_path)
    slugs = _choose_workspaces(backend.list_workspaces(), workspaces, all_workspaces, desired, config_path)
    needs_key = desired is not None and desired.needs_key()
    keyring = runtime.keyring(create=needs_key, required=needs_key)
    snapshot, plan = _snapshot_and_plan(backend, slugs, desired, keyring)
    if history and not backend.SUPPORTS_HISTORY:
        note(
            f"the {backend.name} backend keeps no history here, so the report lists no applies; "
            "'reconciler history' says how to keep them."
        )
        history = 0
    built = build_report(
        snapshot,
        slugs,
        runs=backend.history(history) if history else (),
        plan=plan,
        declared=declared_roles(desired),
        whole_instance=all_workspaces,
        expiries=None if desired is None else {slug: ws.expiries for slug, ws in desired.workspaces.items()},
        hygiene=findings(
            snapshot,
            backend.read_activity(slugs),
            slugs,
            now=current_time(),
            stale_invites=stale_invites,
            not_signed_in=not_signed_in,
        ),
    )
    _write(RENDERERS[fmt](built), output, built)


def _format_from(output: Path | None) -> str:
    suffix = output.suffix.lower().lstrip(".") if output is not None else ""
    return suffix if suffix in FORMATS else "html"


def _load(config_path: Path | None) -> DesiredState | None:
    if config_path is None:
        return None
    from ..workflow import load_desired

    return load_desired(config_path, warn=warning)


def _choose_workspaces(
    known: list[str],
    workspaces: tuple[str, ...],
    all_workspaces: bool,
    desired: DesiredState | None,
    config_path: Path | None,
) -> list[str]:
    selected = selected_workspaces(known, workspaces, all_workspaces)
    if selected is not None:
        return selected
    if desired is None:
        no_selection(known, "-f CONFIG")
    absent = sorted(desired.workspaces.keys() - set(known))
    if absent:
        note(f"not in the database yet, so not in the report: {', '.join(absent)} (declared in {config_path})")
    return sorted(desired.workspaces.keys() & set(known))


def _snapshot_and_plan(
    backend: Backend, slugs: list[str], desired: DesiredState | None, keyring: Keyring | None
) -> tuple[Snapshot, Plan | None]:
    if desired is None:
        return backend.read_snapshot(slugs, keyring), None
    from ..ops import Plan
    from ..workflow import make_plan

    declared = [slug for slug in slugs if slug in desired.workspaces]
    if not declared:
        return backend.read_snapshot(slugs, keyring), Plan((), config_hash=desired.config_hash)
    planned = make_plan(backend, desired, keyring, workspaces=declared)
    if set(slugs) <= planned.snapshot.workspaces.keys():
        return planned.snapshot, planned.plan
    return backend.read_snapshot(slugs, keyring), planned.plan


def _write(text: str, output: Path | None, built: Report) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8", newline="")
    members = sum(len(w.members) for w in built.workspaces)
    inform(f"Wrote the access report to {output} ({members} memberships in {len(built.workspaces)} workspaces).")
