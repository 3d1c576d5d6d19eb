"""The inline stylesheet and script of the HTML report.

Stage: report render. Kept apart from the markup so that ``html.py`` reads as a page layout. The page's
Content-Security-Policy allows exactly these two blocks (by hash) and nothing else: no network, no other
script, no inline style attributes.

The script reads the embedded JSON (``#report-data``), renders one page of each workspace's matrix at a time
with DOM calls (``textContent``/``setAttribute``, never ``innerHTML``, so no name can become markup), and
filters members client-side. It sets ``data-ready`` on ``<html>`` and the ``report-ready`` performance mark
when the first pages are on screen, and fires ``report:rendered`` on a section after each render.
"""

from __future__ import annotations

CSS = """
:root { color-scheme: light; --ink: #1a1a1a; --muted: #4a5260; --line: #c9ced6; --head: #eef1f5; --accent: #1c4ed8; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1600px; padding: 1rem 1.5rem 3rem; color: var(--ink); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 1.6rem; margin: 0.2rem 0; }
h2 { font-size: 1.3rem; margin: 2rem 0 0.4rem; padding-top: 0.6rem; border-top: 3px solid var(--ink); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 0.4rem; }
a { color: var(--accent); }
.meta, .note { color: var(--muted); }
.meta { margin: 0.2rem 0 0.8rem; }
table { border-collapse: collapse; margin: 0.3rem 0 0.8rem; }
th, td { border: 1px solid var(--line); padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
thead th { background: var(--head); }
th[scope="row"] { font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
nav ul { display: flex; flex-wrap: wrap; gap: 0.3rem 1.2rem; list-style: none; padding: 0; margin: 0.4rem 0; }
.summary { display: flex; flex-wrap: wrap; gap: 0.5rem 2rem; align-items: flex-start; }
.cards { display: flex; flex-wrap: wrap; gap: 0.6rem; margin: 0.4rem 0; padding: 0; list-style: none; }
.cards li { border: 1px solid var(--line); border-radius: 6px; padding: 0.4rem 0.8rem; min-width: 8rem; }
.cards strong { display: block; font-size: 1.35rem; }
.badge { display: inline-block; border-radius: 4px; padding: 0 0.35rem; font-size: 0.8rem; font-weight: 600;
  border: 1px solid currentColor; margin-left: 0.3rem; }
.badge.drift { color: #8a1c00; background: #fff1ec; }
.badge.archived { color: #3f3f46; background: #f1f1f3; }
.badge.ok { color: #14532d; background: #ecfdf3; }
.yes { color: #14532d; font-weight: 700; }
.no { color: var(--muted); }
.controls { display: flex; flex-wrap: wrap; gap: 0.5rem 1.2rem; align-items: end; margin: 0.5rem 0; }
.controls label { display: flex; flex-direction: column; font-size: 0.85rem; font-weight: 600; }
.controls label.inline { flex-direction: row; gap: 0.35rem; align-items: center; }
input[type="search"] { min-width: 18rem; }
input, select, button { font: inherit; padding: 0.2rem 0.4rem; border: 1px solid #6b7280; border-radius: 4px;
  background: #fff; color: var(--ink); }
button { cursor: pointer; }
button:disabled { cursor: default; color: #6b7280; }
:focus-visible { outline: 3px solid #f59e0b; outline-offset: 1px; }
.pager { display: flex; gap: 0.5rem; align-items: center; margin: 0.4rem 0; }
.scroll { overflow: auto; max-height: 78vh; width: fit-content; max-width: 100%; border: 1px solid var(--line); }
.scroll table { margin: 0; }
table.matrix thead th { position: sticky; top: 0; z-index: 1; box-shadow: 0 1px 0 var(--line); }
table.matrix td, table.matrix th { white-space: nowrap; }
table.matrix td.wrap { white-space: normal; min-width: 9rem; max-width: 16rem; }
.kind { display: block; font-weight: 400; font-size: 0.75rem; color: var(--muted); }
button.toggle { border: none; background: none; padding: 0 0.2rem; color: var(--accent); }
td.acc { text-align: center; font-weight: 600; }
.acc-edit { background: #dbe7ff; color: #102a6b; }
.acc-view { background: #dcf5e4; color: #0f3d22; }
.acc-view-hidden { background: #fdf4c8; color: #5c3a06; }
.acc-configure { background: #ece6ff; color: #3b1780; }
.acc-use { background: #dcf0fb; color: #0a3953; }
.acc-none { color: #5b6270; font-weight: 400; }
tr.detail td { background: #f8f9fb; white-space: normal; }
tr.detail dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 1rem; margin: 0.2rem 0; }
tr.detail dt { font-weight: 600; }
tr.detail dd { margin: 0; }
tr.detail ul { margin: 0; padding-left: 1.2rem; }
dl.legend { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; align-items: baseline; }
dl.legend dd { margin: 0; }
dl.legend span { display: inline-block; min-width: 7rem; padding: 0.1rem 0.5rem; font-weight: 600; text-align: center; }
ul.drift { max-height: 20rem; overflow: auto; border: 1px solid var(--line); padding: 0.4rem 0.4rem 0.4rem 1.6rem; }
.print-only { display: none; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
@media print {
  @page { size: landscape; margin: 10mm; }
  body { max-width: none; padding: 0; font-size: 9pt; }
  .controls, .pager, button.toggle, nav { display: none; }
  .print-only { display: block; }
  .scroll, ul.drift { overflow: visible; max-height: none; border: none; }
  table.matrix thead th { position: static; box-shadow: none; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  h2 { break-before: page; }
  section.workspace:first-of-type h2 { break-before: auto; }
  a { color: inherit; text-decoration: none; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
}
"""

JS = r"""
"use strict";
(() => {
  const payload = JSON.parse(document.getElementById("report-data").textContent);
  const EMAIL = 0, NAME = 1, STATUS = 2, ROLE = 3, CAUSE = 4, GROUPS = 5, META = 6, PROFILE = 7, DRIFT = 8;
  const SHORT_CAUSE = 9;
  const FIXED_COLUMNS = 6;

  const el = (tag, attrs, text) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const grantor = (label) => label.replace(":", " ");
  const resourceLabel = (resource) => resource[2] + (resource[0] === "app" ? " (app)" : " (data source)");

  const explain = (ws, member, resource, cell) => {
    const [access, sources] = cell;
    if (member[STATUS] === "archived") return access + ": archived memberships grant no access";
    if (ws.status !== "active") return access + ": the workspace is archived";
    if (!sources.length) return access + ": no role or group grants access to " + resource[2];
    return access + " on " + resource[2] + ", granted by " + sources.map((s) => grantor(ws.sources[s])).join(", ");
  };

  const accessCell = (ws, member, index) => {
    const resource = ws.resources[index];
    const cell = ws.profiles[member[PROFILE]][index];
    return el("td", {
      class: "acc acc-" + cell[0],
      title: explain(ws, member, resource, cell),
      "data-resource": resource[0] + ":" + resource[1],
      "data-access": cell[0],
    }, cell[0]);
  };

  const memberRow = (ws, index, open) => {
    const member = ws.members[index];
    const row = el("tr", { "data-email": member[EMAIL] });
    const head = el("th", { scope: "row" });
    const toggle = el("button", {
      type: "button", class: "toggle", "data-member": String(index), "aria-expanded": String(open),
      "aria-label": (open ? "Hide details for " : "Show details for ") + member[EMAIL],
    }, open ? "\u25BE" : "\u25B8");
    head.append(toggle, " " + member[EMAIL]);
    if (member[DRIFT].length) {
      head.append(el("span", { class: "badge drift", title: member[DRIFT].join("\n") }, "drift"));
    }
    row.append(head, el("td", {}, member[NAME]), el("td", {}, member[STATUS]));
    const role = el("td", { title: member[CAUSE] }, member[ROLE]);
    role.append(el("span", { class: "kind" }, member[SHORT_CAUSE]));
    row.append(role);
    row.append(el("td", { class: "wrap" }, member[GROUPS].join(", ")));
    row.append(el("td", { class: "wrap" }, member[META].join(", ")));
    ws.resources.forEach((_, r) => row.append(accessCell(ws, member, r)));
    return row;
  };

  const definition = (list, term, value) => {
    list.append(el("dt", {}, term));
    const dd = el("dd");
    if (Array.isArray(value)) {
      const items = el("ul");
      value.forEach((text) => items.append(el("li", {}, text)));
      dd.append(value.length ? items : "none");
    } else {
      dd.textContent = value;
    }
    list.append(dd);
  };

  const detailRow = (ws, index) => {
    const member = ws.members[index];
    const row = el("tr", { class: "detail", "data-detail-for": member[EMAIL] });
    const cell = el("td", { colspan: String(FIXED_COLUMNS + ws.resources.length) });
    const list = el("dl");
    definition(list, "Role", member[ROLE] + " \u2014 " + member[CAUSE]);
    definition(list, "Custom groups", member[GROUPS]);
    definition(list, "Metadata keys", member[META].length ? member[META].join(", ") + " (values not shown)" : "none");
    if (member[DRIFT].length) definition(list, "Differs from the configuration", member[DRIFT]);
    const access = ws.resources.map((resource, r) => {
      const cellData = ws.profiles[member[PROFILE]][r];
      return resourceLabel(resource) + ": " + explain(ws, member, resource, cellData);
    });
    definition(list, "Access", access);
    cell.append(list);
    row.append(cell);
    return row;
  };

  const setup = (section, ws) => {
    const find = (selector) => section.querySelector(selector);
    const tbody = find("table.matrix tbody");
    const controls = {
      text: find(".filter-text"), role: find(".filter-role"), status: find(".filter-status"),
      size: find(".page-size"), drift: find(".filter-drift"),
    };
    const statusLine = find(".matrix-status");
    const prev = find(".page-prev"), next = find(".page-next");
    const haystack = ws.members.map((m) =>
      [m[EMAIL], m[NAME], m[ROLE], m[STATUS], m[GROUPS].join(" "), m[META].join(" ")].join(" ").toLowerCase());
    const open = new Set();
    let rows = ws.members.map((_, i) => i);
    let page = 0;

    const pageSize = () => (controls.size.value === "all" ? Math.max(rows.length, 1) : Number(controls.size.value));

    const render = (focusMember) => {
      const size = pageSize();
      const pages = Math.max(1, Math.ceil(rows.length / size));
      page = Math.min(page, pages - 1);
      const first = page * size;
      const shown = rows.slice(first, first + size);
      const fragment = document.createDocumentFragment();
      for (const index of shown) {
        fragment.append(memberRow(ws, index, open.has(index)));
        if (open.has(index)) fragment.append(detailRow(ws, index));
      }
      if (!shown.length) {
        const empty = el("tr");
        const columns = String(FIXED_COLUMNS + ws.resources.length);
        empty.append(el("td", { colspan: columns }, "No member matches the filter."));
        fragment.append(empty);
      }
      tbody.replaceChildren(fragment);
      const range = shown.length ? (first + 1) + "\u2013" + (first + shown.length) : "0";
      statusLine.textContent = "Showing members " + range + " of " + rows.length +
        (rows.length === ws.members.length ? "" : " matching (" + ws.members.length + " in total)") +
        " \u00B7 page " + (page + 1) + " of " + pages;
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
      if (focusMember !== undefined) {
        const button = tbody.querySelector('button[data-member="' + focusMember + '"]');
        if (button) button.focus();
      }
      section.dispatchEvent(new CustomEvent("report:rendered", { bubbles: true }));
    };

    const filter = () => {
      const terms = controls.text.value.toLowerCase().split(/\s+/).filter(Boolean);
      const role = controls.role.value, status = controls.status.value;
      const driftOnly = controls.drift ? controls.drift.checked : false;
      rows = [];
      ws.members.forEach((member, i) => {
        if (role && member[ROLE] !== role) return;
        if (status && member[STATUS] !== status) return;
        if (driftOnly && !member[DRIFT].length) return;
        if (terms.every((term) => haystack[i].includes(term))) rows.push(i);
      });
      page = 0;
      render();
    };

    let timer = 0;
    controls.text.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(filter, ws.members.length > 2000 ? 120 : 0);
    });
    [controls.role, controls.status, controls.drift].forEach((c) => c && c.addEventListener("change", filter));
    controls.size.addEventListener("change", () => { page = 0; render(); });
    prev.addEventListener("click", () => { page -= 1; render(); });
    next.addEventListener("click", () => { page += 1; render(); });
    tbody.addEventListener("click", (event) => {
      const button = event.target.closest("button.toggle");
      if (!button) return;
      const index = Number(button.dataset.member);
      if (open.has(index)) open.delete(index); else open.add(index);
      render(index);
    });
    render();
  };

  document.querySelectorAll("section.workspace").forEach((section) => {
    setup(section, payload.workspaces[Number(section.dataset.index)]);
  });
  document.documentElement.dataset.ready = "true";
  performance.mark("report-ready");
})();
"""
