"""Renderers: a Plan in, text out (SPEC 4). Pure: no Session, no filesystem.

``text`` is what ``plan`` and ``apply`` print, ``markdown`` a pull-request comment, ``jsonplan`` the JSON plan
and the saved plan file that ``apply FILE`` executes.
"""

from __future__ import annotations

from .jsonplan import PlanFileError, dump_saved_plan, load_saved_plan, plan_to_json_dict, render_json
from .markdown import render_markdown
from .text import render_text, summary_line

__all__ = [
    "PlanFileError",
    "dump_saved_plan",
    "load_saved_plan",
    "plan_to_json_dict",
    "render_json",
    "render_markdown",
    "render_text",
    "summary_line",
]
