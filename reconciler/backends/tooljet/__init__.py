"""The ToolJet backend: ToolJet 3.x's own PostgreSQL tables as the system of record (docs/tooljet.md)."""

from .backend import ToolJetBackend

__all__ = ["ToolJetBackend"]
