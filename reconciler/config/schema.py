"""The JSON Schema of the configuration format, for editors (yaml-language-server).

Stage: config. Generated from the pydantic models so it can never disagree with the loader.
"""

from __future__ import annotations

from typing import Any

from .models import ConfigFile

SCHEMA_ID = "https://reconciler.dev/schema/config-v1.json"


def json_schema() -> dict[str, Any]:
    schema = ConfigFile.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "reconciler configuration",
        "description": "Workspaces, users, roles, custom groups, permissions and metadata (format version 1).",
        **{k: v for k, v in schema.items() if k != "title"},
    }
