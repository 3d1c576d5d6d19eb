"""The ToolJet backend: ToolJet 3.x's own PostgreSQL tables as the system of record (docs/tooljet.md)."""

from .backend import ToolJetBackend
from .checks import ToolJetPlanError

__all__ = ["ToolJetBackend", "ToolJetPlanError"]
