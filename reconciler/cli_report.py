"""``report``: the access review report (HTML, CSV, JSON).

Stage: CLI.
"""

from __future__ import annotations
