"""reconciler: access configuration as code for ToolJet-style workspaces.

The public library API; everything else is internal. Imports are lazy so that ``reconciler --help`` starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "build_plan", "load_config"]

if TYPE_CHECKING:
    from .config.loader import load_config
    from .planner import build_plan


def __getattr__(name: str) -> Any:
    if name == "load_config":
        from .config.loader import load_config

        return load_config
    if name == "build_plan":
        from .planner import build_plan

        return build_plan
    raise AttributeError(name)
