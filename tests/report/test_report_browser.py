"""The HTML report in a real headless Chromium (Debian's ``chromium``): it loads without errors or network
requests, its screenshot is not blank, and the DOM shows the expected access cells for the example config.

``RECONCILER_WRITE_SCREENSHOT=1`` also writes the README screenshot to ``docs/images/report.png``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from report_browser import CHROMIUM, Browser, Page, decode_png
from report_examples import ExampleDatabase, example_database
from report_samples import HOSTILE_NAME, hostile_snapshot, member, snapshot

from reconciler.report import build_report, render_html
from reconciler.state import Snapshot, User, Workspace

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"headless Chromium is not installed at {CHROMIUM} (apt-get install chromium; .ci/run does it)",
)
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "report.png"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    opened = Browser(width=1400, height=1000)
    yield opened
    opened.close()


def open_report(browser: Browser, html: str, path: Path) -> Page:
    path.write_text(html, encoding="utf-8")
    page = browser.new_page()
    page.navigate(path.as_uri())
    assert page.evaluate("document.documentElement.dataset.ready") == "true"
    return page


def cell(page: Page, slug: str, email: str, resource: str) -> dict[str, str]:
    selector = f'section[data-slug="{slug}"] tr[data-email="{email}"] td[data-resource="{resource}"]'
    return page.evaluate(f"(c => ({{text: c.textContent, title: c.title}}))(document.querySelector({selector!r}))")


def row_cells(page: Page, slug: str, email: str) -> list[str]:
    selector = f'section[data-slug="{slug}"] tr[data-email="{email}"] td'
    return page.evaluate(f"[...document.querySelectorAll({selector!r})].map(c => c.textContent)")


def assert_clean(page: Page) -> None:
    assert page.console_errors() == []
    assert page.network_requests() == []
    assert page.dialogs() == []


@pytest.fixture
def example_sqlite(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ExampleDatabase]:
    yield from example_database(sqlite_url, tmp_path, monkeypatch)


@pytest.fixture
def example_page(browser: Browser, example_sqlite: ExampleDatabase, tmp_path: Path) -> Page:
    from click.testing import CliRunner

    from reconciler.cli import cli

    out = tmp_path / "report.html"
    args = ["--database", example_sqlite.url, "report", "-f", str(example_sqlite.config), "-o", str(out)]
    result = CliRunner().invoke(cli, args, env={"RECONCILER_OUTBOX_DIR": str(tmp_path / "outbox")})
    assert result.exit_code == 0, result.stderr
    page = browser.new_page()
    page.navigate(out.as_uri())
    assert page.evaluate("document.documentElement.dataset.ready") == "true"
    return page


def write_screenshot(page: Page, path: Path) -> None:
    """The README's picture: the top of the page with dave's detail row open."""
    page.resize(1440, 1300)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot = page.screenshot()
    page.resize(page.browser.width, page.browser.height)
    path.write_bytes(screenshot)
    if os.environ.get("RECONCILER_WRITE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(screenshot)


def test_example_report_shows_who_can_do_what(example_page: Page):
    page = example_page
    assert_clean(page)
    bob_crm = cell(page, "acme", "bob@acme.example", "app:crm")
    assert bob_crm["text"] == "edit" and "group sales-ops" in bob_crm["title"]
    carol_invoices = cell(page, "acme", "carol@acme.example", "app:invoices")
    assert carol_invoices["text"] == "view" and "group finance" in carol_invoices["title"]
    assert cell(page, "acme", "carol@acme.example", "data_source:stripe")["text"] == "none"
    # dave: a declared end-user in builder-level sales-ops, stored as builder
    dave = row_cells(page, "acme", "dave@acme.example")
    assert dave[2] == "builderimplied by sales-ops"
    assert cell(page, "acme", "dave@acme.example", "data_source:stripe") == {
        "text": "use",
        "title": "use on stripe, granted by role builder, group sales-ops",
    }
    alice_db = cell(page, "acme", "alice@acme.example", "data_source:postgres-prod")
    assert alice_db == {"text": "configure", "title": "configure on postgres-prod, granted by role admin"}
    erin = row_cells(page, "acme", "erin@acme.example")
    assert erin[1] == "archived" and set(erin[5:]) == {"none"}
    assert cell(page, "acme-labs", "frank@acme.example", "app:prototype")["text"] == "view"
    assert "in sync" in page.evaluate("document.querySelector('section[data-slug=\"acme\"]').textContent")


def test_details_filter_and_print(example_page: Page, tmp_path: Path):
    page = example_page
    page.evaluate("document.querySelector('button.toggle[aria-label=\"Show details for dave@acme.example\"]').click()")
    detail = page.evaluate("document.querySelector('tr.detail[data-detail-for=\"dave@acme.example\"]').textContent")
    assert 'implied by group "sales-ops" (folders.create, edit on crm, use on stripe)' in detail
    assert "CRM (app): edit on CRM, granted by role builder, group sales-ops" in detail
    write_screenshot(page, tmp_path / "report.png")
    pixels = decode_png(page.screenshot(scale=0.25))
    assert (pixels.width, pixels.height) == (350, 250)
    assert len(pixels.colours()) > 100 and pixels.luminance_stddev() > 15  # text, tables and colours: not blank

    typed = """new Promise(done => {
        const section = document.querySelector('section[data-slug="acme"]');
        const shown = () => [...section.querySelectorAll('table.matrix tbody tr[data-email]')];
        section.addEventListener('report:rendered', () => done(shown().map(r => r.dataset.email)), {once: true});
        const box = section.querySelector('input.filter-text');
        box.value = 'finance support';
        box.dispatchEvent(new Event('input'));
    })"""
    assert page.evaluate(typed) == ["carol@acme.example", "grace@acme.example"]
    status = page.evaluate("document.querySelector('section[data-slug=\"acme\"] .matrix-status').textContent")
    assert status.startswith("Showing members 1–2 of 2 matching (8 in total)")

    page.send("Emulation.setEmulatedMedia", {"media": "print"})
    assert page.evaluate("getComputedStyle(document.querySelector('.controls')).display") == "none"
    pdf = page.send("Page.printToPDF", {"landscape": True})["data"]
    assert len(pdf) > 10_000
    assert_clean(page)


def test_hostile_names_are_shown_as_text_and_never_run(browser: Browser, tmp_path: Path):
    page = open_report(browser, render_html(build_report(hostile_snapshot())), tmp_path / "hostile.html")
    assert_clean(page)
    assert page.evaluate("document.querySelectorAll('img, b, i').length") == 0
    cells = row_cells(page, "acme", "mallory@acme.example")
    assert cells[0] == HOSTILE_NAME + " <i>x</i>"
    assert cells[3] == '<b>ops</b>"&'
    header = page.evaluate("document.querySelector('th[data-resource=\"app:crm\"]').firstChild.textContent")
    assert header == HOSTILE_NAME


def big_snapshot(count: int) -> Snapshot:
    base = snapshot().workspaces["acme"]
    members = tuple(member(f"user{i:04d}@acme.example", "end-user", groups=("finance",)) for i in range(count))
    workspace = Workspace(
        base.slug, base.name, apps=base.apps, data_sources=base.data_sources, groups=base.groups,
        memberships={m.email: m for m in members},
    )  # fmt: skip
    users = {m.email: User(m.email, "User", str(i)) for i, m in enumerate(members)}
    return Snapshot({"acme": workspace}, users)


def test_the_matrix_is_paginated(browser: Browser, tmp_path: Path):
    page = open_report(browser, render_html(build_report(big_snapshot(250))), tmp_path / "big.html")
    rows = "document.querySelectorAll('table.matrix tbody tr[data-email]')"
    assert page.evaluate(f"{rows}.length") == 100
    page.evaluate("document.querySelector('.page-next').click()")
    assert page.evaluate(f"{rows}[0].dataset.email") == "user0100@acme.example"
    assert page.evaluate("document.querySelector('.matrix-status').textContent").startswith(
        "Showing members 101–200 of 250"
    )
    page.evaluate(
        "(s => { s.value = 'all'; s.dispatchEvent(new Event('change')); })(document.querySelector('.page-size'))"
    )
    assert page.evaluate(f"{rows}.length") == 250
    assert_clean(page)


def test_the_harness_would_notice_errors_requests_and_dialogs(browser: Browser, tmp_path: Path):
    """The checks above are only meaningful if the page observer sees these."""
    html = (
        "<!DOCTYPE html><html lang=en><body><img src='http://127.0.0.1:9/x.png' alt=''>"
        "<script>console.error('boom'); alert('hi');</script></body></html>"
    )
    path = tmp_path / "bad.html"
    path.write_text(html)
    page = browser.new_page()
    page.send("Page.navigate", {"url": path.as_uri()})
    page.browser.wait_for(lambda m: m.get("method") == "Page.javascriptDialogOpening")
    page.send("Page.handleJavaScriptDialog", {"accept": True})
    page.evaluate("1")
    assert "boom" in page.console_errors()
    assert page.network_requests() == ["http://127.0.0.1:9/x.png"]
    assert page.dialogs() == ["hi"]


def test_payload_round_trips(browser: Browser, tmp_path: Path):
    page = open_report(browser, render_html(build_report(snapshot())), tmp_path / "sample.html")
    data = page.evaluate("document.getElementById('report-data').textContent")
    assert json.loads(data)["report_version"] == 1
    # edit on one app (through a group) and view elsewhere (through the builder role)
    assert cell(page, "acme", "bob@acme.example", "app:crm")["text"] == "edit"
    assert cell(page, "acme", "bob@acme.example", "app:invoices")["text"] == "view"
    assert cell(page, "acme", "hank@acme.example", "app:status-page")["text"] == "view-hidden"
