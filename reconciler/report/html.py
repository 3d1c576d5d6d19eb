"""The report as one self-contained HTML page (``report --format html``).

Stage: report render (pure). Static parts (summaries, permissions, history, drift) are markup made here, every
user-controlled string escaped; the member × resource matrix is rendered page by page in the browser from the
embedded JSON (``html_payload``), so 10,000 members load quickly. The page makes no network request: no
external font, image, stylesheet or script, and a Content-Security-Policy (``default-src 'none'``) that admits
only the page's own style and script blocks by hash.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from html import escape

from ..access import Seats
from ..hygiene import describe_finding
from ..safetext import escape as escape_control
from ..state import FLAG_NAMES
from .drift import DriftEntry
from .html_assets import CSS, JS
from .html_payload import embed_json, report_payload
from .model import ApplyEntry, GroupEntry, Report, WorkspaceReport

PAGE_SIZES = (("25", "25"), ("100", "100"), ("500", "500"), ("all", "All"))
DEFAULT_PAGE_SIZE = "100"
DRIFT_SHOWN = 1000  # entries listed per workspace; the JSON format has them all
LEGEND = (
    ("edit", "may change the app"),
    ("view", "may use the app"),
    ("view-hidden", "may use the app, hidden from the dashboard"),
    ("configure", "may change the data source"),
    ("use", "may build with the data source"),
    ("none", "no access"),
)


def e(text: object) -> str:
    """Text for the page: control and invisible characters made visible (``<U+202E>``), then HTML-escaped."""
    return escape(escape_control(str(text)), quote=True)


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def content_security_policy() -> str:
    return f"default-src 'none'; script-src {_hash(JS)}; style-src {_hash(CSS)}; base-uri 'none'; form-action 'none'"


def render_html(report: Report) -> str:
    title = "Access review" + (": " + ", ".join(w.name for w in report.workspaces) if report.workspaces else "")
    body = [_header(report), _nav(report)]
    body += [_workspace(i, w, report.drift_checked) for i, w in enumerate(report.workspaces)]
    body += [_applies(report.applies), _legend()]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{e(content_security_policy())}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="referrer" content="no-referrer">',
            f"<title>{e(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            *body,
            "</main>",
            f'<script type="application/json" id="report-data">{embed_json(report_payload(report))}</script>',
            f"<script>{JS}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


# --- page parts -------------------------------------------------------------------------------------


def _header(report: Report) -> str:
    when = report.generated_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    against = (
        f"Compared with a configuration (hash <code>{e((report.config_hash or '')[:12])}</code>)."
        if report.drift_checked
        else "Not compared with a configuration (run with <code>-f CONFIG</code> to mark drift)."
    )
    return (
        "<header>\n<h1>Access review</h1>\n"
        f'<p class="meta">Generated {e(when)} by reconciler (report version {report.report_version}). {against}</p>\n'
        f"{_seat_cards(report.seats, len(report.workspaces))}\n"
        '<p class="note">Users are counted as ToolJet counts seats: each person once, with an invited or active '
        "membership in an active workspace; builders (admins included) are those among them who hold the admin or "
        "builder role in any workspace of the report.</p>\n"
        '<noscript><p class="note">The access matrix needs JavaScript. <code>reconciler report --format csv</code> '
        "or <code>--format json</code> holds the same data.</p></noscript>\n</header>"
    )


def _seat_cards(seats: Seats, workspaces: int | None = None) -> str:
    cards = [] if workspaces is None else [("workspaces", workspaces)]
    cards += [("users counted", seats.total), ("builders (incl. admins)", seats.builders), ("admins", seats.admins)]
    items = "".join(f"<li><strong>{n}</strong>{e(label)}</li>" for label, n in cards)
    return f'<ul class="cards" aria-label="Counts">{items}</ul>'


def _nav(report: Report) -> str:
    links = "".join(
        f'<li><a href="#ws-{i}">{e(w.name)} ({e(w.slug)})</a></li>' for i, w in enumerate(report.workspaces)
    )
    return f'<nav aria-label="Workspaces"><ul>{links}<li><a href="#applies">Recent applies</a></li></ul></nav>'


def _workspace(index: int, workspace: WorkspaceReport, drift_checked: bool) -> str:
    status = "" if workspace.status == "active" else ' <span class="badge archived">archived workspace</span>'
    parts = [
        f'<section class="workspace" id="ws-{index}" data-index="{index}" data-slug="{e(workspace.slug)}" '
        f'aria-labelledby="ws-{index}-title">',
        f'<h2 id="ws-{index}-title">{e(workspace.name)} <span class="meta">({e(workspace.slug)})</span>{status}</h2>',
        _summary(workspace),
    ]
    if drift_checked:
        parts.append(_drift(workspace.drift))
    parts.append(_expiring(workspace))
    parts.append(_hygiene(workspace))
    parts += [_matrix(index, workspace, drift_checked), _groups(workspace.groups), "</section>"]
    return "\n".join(parts)


def _summary(workspace: WorkspaceReport) -> str:
    summary = workspace.summary
    statuses = list(summary.by_status)
    head = "".join(f'<th scope="col" class="num">{e(s)}</th>' for s in statuses)
    rows = [
        f'<tr><th scope="row">{e(role)}</th>'
        + "".join(f'<td class="num">{counts[s]}</td>' for s in statuses)
        + f'<td class="num">{sum(counts.values())}</td></tr>'
        for role, counts in summary.by_role.items()
    ]
    totals = "".join(f'<td class="num">{summary.by_status[s]}</td>' for s in statuses)
    return (
        '<h3>Summary</h3>\n<div class="summary">'
        f"{_seat_cards(summary.seats)}\n"
        f'<table><caption class="visually-hidden">Members by role and status</caption>'
        f'<thead><tr><th scope="col">role</th>{head}<th scope="col" class="num">all</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody>"
        f'<tfoot><tr><th scope="row">all</th>{totals}<td class="num">{summary.members}</td></tr></tfoot></table></div>'
    )


def _drift(entries: Sequence[DriftEntry]) -> str:
    if not entries:
        return '<h3>Drift</h3>\n<p><span class="badge ok">in sync</span> The database matches the configuration.</p>'
    shown = "".join(
        f'<li data-address="{e(d.address)}"><strong>{e(d.action)}</strong> {e(d.description)}</li>'
        for d in entries[:DRIFT_SHOWN]
    )
    more = (
        f'<p class="note">and {len(entries) - DRIFT_SHOWN} more (see the JSON format).</p>'
        if len(entries) > DRIFT_SHOWN
        else ""
    )
    return (
        f'<h3>Drift <span class="badge drift">{_count(len(entries), "difference")}</span></h3>\n'
        '<p class="note">What <code>reconciler apply</code> would change to match the configuration.</p>'
        f'<ul class="drift">{shown}</ul>{more}'
    )


def _expiring(workspace: WorkspaceReport) -> str:
    """When access ends (the configuration's ``expires:``, issue 18), soonest first; nothing when none does."""
    rows = sorted(
        ((when, member.email, group) for member in workspace.members for group, when in member.expires),
        key=lambda row: row[0],
    )
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{e(email)}</td><td>{e(group or 'membership')}</td><td>{e(when)}</td></tr>"
        for when, email, group in rows
    )
    return (
        "<h3>Access that expires</h3>"
        '<table class="expires"><thead><tr><th scope="col">member</th><th scope="col">what</th>'
        f'<th scope="col">expires (UTC)</th></tr></thead><tbody>{body}</tbody></table>'
    )


def _hygiene(workspace: WorkspaceReport) -> str:
    """Stale invitations and members who stopped signing in (issue 18); nothing when there are none."""
    if not workspace.hygiene:
        return ""
    body = "".join(f"<tr><td>{e(f.email)}</td><td>{e(describe_finding(f))}</td></tr>" for f in workspace.hygiene)
    return (
        "<h3>Access hygiene</h3>"
        '<table class="hygiene"><thead><tr><th scope="col">member</th><th scope="col">finding</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _flag_headers() -> str:
    sections: dict[str, list[str]] = {}
    for flag in FLAG_NAMES:
        section, action = flag.split(".")
        sections.setdefault(section, []).append(action)
    top = "".join(
        f'<th scope="colgroup" colspan="{len(actions)}">{e(section.replace("_", " "))}</th>'
        for section, actions in sections.items()
    )
    bottom = "".join(f'<th scope="col">{e(action)}</th>' for actions in sections.values() for action in actions)
    return (
        f'<tr><th scope="col" rowspan="2">group</th><th scope="col" rowspan="2">kind</th>'
        f'<th scope="col" rowspan="2" class="num">members</th>{top}</tr><tr>{bottom}</tr>'
    )


def _group_name(group: GroupEntry) -> str:
    return f'<th scope="row">{e(group.name)}{_drift_badge(group.drift)}</th>'


def _flag_row(group: GroupEntry) -> str:
    kind = "role" if group.kind == "role" else "custom group"
    flags = "".join(
        '<td class="yes">yes</td>' if flag in group.flags else '<td class="no">no</td>' for flag in FLAG_NAMES
    )
    members = f'<td class="num">{group.members}</td>'
    return f'<tr data-group="{e(group.name)}">{_group_name(group)}<td>{kind}</td>{members}{flags}</tr>'


def _grant_row(group: GroupEntry) -> str:
    level = "n/a (a role)" if group.kind == "role" else (", ".join(group.builder_level) or "no")
    return (
        f"<tr>{_group_name(group)}<td>{_lines(group.app_grants)}</td>"
        f"<td>{_lines(group.data_source_grants)}</td><td>{e(level)}</td></tr>"
    )


def _groups(groups: Sequence[GroupEntry]) -> str:
    return (
        "<h3>Roles and groups: permission flags</h3>\n"
        '<div class="scroll" tabindex="0" role="region" aria-label="Permission flags per role and group">'
        f'<table class="groups"><thead>{_flag_headers()}</thead>'
        f"<tbody>{''.join(_flag_row(g) for g in groups)}</tbody></table></div>"
        '<p class="note">members: invited and active. Admin and end-user are fixed by ToolJet; the builder role '
        "is configurable.</p>\n"
        "<h3>Roles and groups: granular permissions</h3>\n"
        '<table class="grants"><thead><tr><th scope="col">group</th><th scope="col">app grants</th>'
        '<th scope="col">data source grants</th><th scope="col">builder-level because</th></tr></thead>'
        f"<tbody>{''.join(_grant_row(g) for g in groups)}</tbody></table>"
        '<p class="note">A builder-level custom group makes its end-user members builders.</p>'
    )


def _matrix(index: int, workspace: WorkspaceReport, drift_checked: bool) -> str:
    resources = "".join(
        f'<th scope="col" data-resource="{e(r.type)}:{e(r.key)}">{e(r.name)}'
        f'<span class="kind">{"app" if r.type == "app" else "data source"}</span></th>'
        for r in workspace.resources
    )
    return (
        f'<h3 id="ws-{index}-matrix">Members and access</h3>\n'
        f"{_controls(index, drift_checked)}\n"
        f'<p class="matrix-status" id="ws-{index}-status" role="status" aria-live="polite"></p>\n'
        f'<div class="scroll" tabindex="0" role="region" aria-labelledby="ws-{index}-matrix">'
        f'<table class="matrix" aria-describedby="ws-{index}-status"><thead><tr>'
        '<th scope="col">member</th><th scope="col">name</th><th scope="col">status</th>'
        '<th scope="col">role</th><th scope="col">custom groups</th>'
        f'<th scope="col">metadata keys<span class="kind">values hidden</span></th>{resources}</tr></thead>'
        "<tbody></tbody></table></div>\n"
        '<div class="pager"><button type="button" class="page-prev">Previous page</button>'
        '<button type="button" class="page-next">Next page</button></div>'
        '<p class="note">Hover a cell, or open a member with \u25b8, to see which role or group grants the access.</p>'
        '<p class="note print-only">Printed: the members shown on screen. Choose “All” rows per page before '
        "printing to include every member.</p>"
    )


def _select(index: int, name: str, label: str, options: Sequence[tuple[str, str]], selected: str = "") -> str:
    items = "".join(
        f'<option value="{e(v)}"{" selected" if v == selected else ""}>{e(text)}</option>' for v, text in options
    )
    control = f'<select id="ws-{index}-{name}" class="{name}">{items}</select>'
    return f'<label for="ws-{index}-{name}">{e(label)}{control}</label>'


def _controls(index: int, drift_checked: bool) -> str:
    roles = [("", "all roles"), ("admin", "admin"), ("builder", "builder"), ("end-user", "end-user")]
    statuses = [("", "all statuses"), ("active", "active"), ("invited", "invited"), ("archived", "archived")]
    drift = (
        f'<label class="inline" for="ws-{index}-drift"><input type="checkbox" id="ws-{index}-drift" '
        'class="filter-drift">only members that differ from the configuration</label>'
        if drift_checked
        else ""
    )
    return (
        f'<div class="controls" role="search" aria-label="Filter members">'
        f'<label for="ws-{index}-text">Search members (email, name, role, group, metadata key)'
        f'<input type="search" id="ws-{index}-text" class="filter-text" autocomplete="off"></label>'
        f"{_select(index, 'filter-role', 'Role', roles)}{_select(index, 'filter-status', 'Status', statuses)}"
        f"{_select(index, 'page-size', 'Rows per page', PAGE_SIZES, DEFAULT_PAGE_SIZE)}{drift}</div>"
    )


def _applies(applies: Sequence[ApplyEntry]) -> str:
    if not applies:
        return '<section id="applies"><h2>Recent applies</h2><p>No applies recorded.</p></section>'
    scoped = any(a.workspaces for a in applies)  # only when the backend records what each run touched
    headers = ["#", "when (UTC)", "who", "command", "result", "changes", "config hash"] + (["workspaces"] * scoped)
    head = "".join(f'<th scope="col">{e(h)}</th>' for h in headers)
    rows = "".join(_apply_row(a, scoped) for a in applies)
    return (
        '<section id="applies" aria-labelledby="applies-title"><h2 id="applies-title">Recent applies</h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _apply_row(entry: ApplyEntry, scoped: bool) -> str:
    counts = ", ".join(f"{n} {key}" for key, n in entry.summary.items() if n) or "no changes"
    result = e(entry.result) + (f"<br><span class='note'>{e(entry.error)}</span>" if entry.error else "")
    when = entry.started_at.strftime("%Y-%m-%d %H:%M:%S")
    workspaces = f"<td>{e(', '.join(entry.workspaces) or '—')}</td>" if scoped else ""
    return (
        f'<tr><td class="num">{entry.id}</td><td>{e(when)}</td><td>{e(entry.actor)}</td><td>{e(entry.command)}</td>'
        f"<td>{result}</td><td>{e(counts)}</td><td><code>{e(entry.config_hash[:12])}</code></td>{workspaces}</tr>"
    )


def _legend() -> str:
    items = "".join(f'<dt><span class="acc-{e(word)}">{e(word)}</span></dt><dd>{e(text)}</dd>' for word, text in LEGEND)
    return (
        '<section aria-labelledby="legend-title"><h2 id="legend-title">How to read the matrix</h2>'
        f'<dl class="legend">{items}</dl>'
        "<p>The highest access any source grants wins; every role or group that grants it is named. Admins edit "
        "every app and configure every data source; end-users view every app; builders have the workspace's "
        "builder permissions; custom groups add their grants. Archived memberships grant nothing.</p></section>"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _lines(items: Sequence[str]) -> str:
    return "<br>".join(e(item) for item in items) or '<span class="no">none</span>'


def _drift_badge(entries: Sequence[DriftEntry]) -> str:
    if not entries:
        return ""
    title = "\n".join(d.description for d in entries)
    return f' <span class="badge drift" title="{e(title)}">drift</span>'
