"""``export``: the database as configuration YAML (SPEC 3, adoption).

Stage: CLI.
"""

from __future__ import annotations
