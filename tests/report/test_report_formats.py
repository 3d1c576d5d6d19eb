"""The report's renderers (pure): CSV columns and formula neutralisation, the JSON document, HTML safety."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser

import pytest
from report_samples import FORMULA_NAME, HOSTILE_NAME, SECRET_VALUES, audit_runs, hostile_snapshot, snapshot

from reconciler.report import build_report, render_csv, render_html, render_json
from reconciler.report.csvfile import COLUMNS
from reconciler.report.html import content_security_policy
from reconciler.report.html_assets import CSS, JS

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def report():
    return build_report(snapshot(), runs=audit_runs())


@pytest.fixture
def hostile():
    return build_report(hostile_snapshot())


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


# --- CSV -------------------------------------------------------------------------------------------------


def test_csv_has_one_row_per_member_and_resource_with_the_granting_groups(report):
    text = render_csv(report)
    reader = csv.reader(io.StringIO(text, newline=""))
    assert tuple(next(reader)) == COLUMNS
    rows = csv_rows(text)
    assert len(rows) == 7 * 5 + 2  # acme: 7 members x 5 resources; labs has none: one row per member
    by_key = {(r["workspace"], r["email"], r["resource"]): r for r in rows}
    bob_stripe = by_key[("acme", "bob@acme.example", "stripe")]
    assert (bob_stripe["resource_type"], bob_stripe["access"]) == ("data_source", "use")
    assert bob_stripe["granted_by"] == "role:builder; group:sales-ops"
    assert by_key[("acme", "hank@acme.example", "status-page")]["access"] == "view-hidden"
    assert by_key[("acme", "erin@acme.example", "invoices")]["status"] == "archived"
    assert by_key[("acme", "alice@acme.example", "crm")]["metadata_keys"] == "department"
    assert by_key[("labs", "zoe@acme.example", "")]["access"] == ""


def test_csv_neutralises_cells_that_a_spreadsheet_would_run_as_formulas(hostile):
    rows = csv_rows(render_csv(hostile))
    formula = next(r for r in rows if r["email"] == "formula@acme.example")
    assert formula["first_name"] == "'" + FORMULA_NAME
    assert formula["last_name"] == "'-2+3"
    for row in rows:
        for value in row.values():
            assert not value.startswith(FORMULA_STARTS), value


# --- JSON ------------------------------------------------------------------------------------------------


def test_json_is_versioned_and_holds_the_same_cells(report):
    document = json.loads(render_json(report))
    assert document["report_version"] == 1
    assert document["seats"] == {"users": 7, "builders": 6, "admins": 1}
    acme = document["workspaces"][0]
    bob = next(m for m in acme["members"] if m["email"] == "bob@acme.example")
    assert bob["access"]["apps"]["crm"] == {"access": "edit", "granted_by": ["group:sales-ops"]}
    assert bob["access"]["data_sources"]["warehouse"] == {"access": "none", "granted_by": []}
    assert bob["role_cause"]["kind"] == "implied"
    assert bob["role_cause"]["groups"][0]["group"] == "sales-ops"
    builder = next(g for g in acme["groups"] if g["name"] == "builder")
    assert builder["flags"]["apps.create"] is True and builder["flags"]["apps.delete"] is False
    assert document["applies"][0]["summary"] == {"add": 2, "change": 1, "destroy": 0}
    assert acme["summary"]["by_status"] == {"invited": 1, "active": 5, "archived": 1}


# --- metadata --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("render", [render_html, render_csv, render_json])
def test_no_metadata_value_appears_in_any_format(report, render):
    text = render(report)
    assert "department" in text  # the key is there...
    for value in SECRET_VALUES:
        assert value not in text  # ...the value never


# --- HTML ------------------------------------------------------------------------------------------------


class Markup(HTMLParser):
    """Collects tags with attributes, and the text of <script> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._open = tag

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open == "script":
            self.scripts.append((self.tags[-1][1], data))
        elif self._open == "style":
            self.styles.append(data)


def parse(text: str) -> Markup:
    parser = Markup()
    parser.feed(text)
    return parser


def test_hostile_names_never_become_markup(hostile):
    text = render_html(hostile)
    assert HOSTILE_NAME not in text
    assert "<b>ops</b>" not in text and "<i>x</i>" not in text
    assert text.count("</script>") == 2  # the data block and the script: nothing closes them early
    markup = parse(text)
    assert [tag for tag, _ in markup.tags if tag in ("img", "b", "i")] == []
    data = json.loads(next(body for attrs, body in markup.scripts if attrs.get("id") == "report-data"))
    member = next(m for m in data["workspaces"][0]["members"] if m[0] == "mallory@acme.example")
    assert member[1] == HOSTILE_NAME + " <i>x</i>"  # the data round-trips exactly...
    assert data["workspaces"][0]["resources"][0][2] == HOSTILE_NAME
    assert "Acme &lt;Corp&gt; &amp; &quot;Co&quot;" in text  # ...and static markup is escaped


def test_html_is_self_contained_and_its_policy_allows_only_its_own_blocks(report):
    text = render_html(report)
    markup = parse(text)
    assert re.search(r'<html lang="en">', text)
    for tag, attrs in markup.tags:
        assert "src" not in attrs, tag  # no image, frame or external script
        if tag == "link":
            pytest.fail("no <link>: stylesheets and icons are inline")
        if tag == "a":
            assert (attrs.get("href") or "").startswith("#")
    assert "http://" not in text and "https://" not in text and "//" not in CSS
    assert "@import" not in CSS and "url(" not in CSS
    policy = next(a["content"] for t, a in markup.tags if a.get("http-equiv") == "Content-Security-Policy")
    assert policy == content_security_policy()
    assert "default-src 'none'" in policy
    assert markup.scripts[-1][1] == JS and markup.styles == [CSS]


def test_html_tables_and_controls_are_accessible(report):
    markup = parse(render_html(report))
    headers = [attrs for tag, attrs in markup.tags if tag == "th"]
    assert headers and all(attrs.get("scope") in ("col", "row", "colgroup") for attrs in headers)
    labelled = {attrs.get("for") for tag, attrs in markup.tags if tag == "label"}
    controls = [attrs for tag, attrs in markup.tags if tag in ("input", "select")]
    assert controls and all(attrs["id"] in labelled for attrs in controls)


def hex_rgb(colour: str) -> tuple[float, ...]:
    return tuple(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))


def luminance(colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in hex_rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_access_colours_have_sufficient_contrast():
    """WCAG AA (4.5:1) for every access word on its background, and for the muted text."""
    pairs = re.findall(r"\.acc-[\w-]+ \{ (?:background: (#\w{6}); )?color: (#\w{6});", CSS)
    assert len(pairs) == 6
    for background, colour in pairs:
        assert contrast(background or "#ffffff", colour) >= 4.5, (background, colour)
    muted = re.search(r"--muted: (#\w{6})", CSS).group(1)
    head = re.search(r"--head: (#\w{6})", CSS).group(1)
    assert contrast(muted, "#ffffff") >= 4.5 and contrast(muted, head) >= 4.5
