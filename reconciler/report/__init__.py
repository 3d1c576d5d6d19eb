"""The access review report (``reconciler report``): who can do what in each workspace, through which grant.

Stage: report. ``build_report`` makes the data (pure, from a snapshot), the renderers lay it out as HTML,
CSV or JSON. Metadata values never enter the report; only their keys do.
"""

from __future__ import annotations

from .csvfile import render_csv
from .html import render_html
from .jsondoc import render_json, report_to_dict
from .model import REPORT_VERSION, Report, build_report

RENDERERS = {"html": render_html, "csv": render_csv, "json": render_json}

__all__ = [
    "RENDERERS",
    "REPORT_VERSION",
    "Report",
    "build_report",
    "render_csv",
    "render_html",
    "render_json",
    "report_to_dict",
]
