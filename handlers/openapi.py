"""GET /api/openapi.json: the OpenAPI 3.1 document, built once at start from ``schemas/``.

One source of truth: ``schemas/openapi/base.json`` holds the paths of /api, and each other file
there (``course.json``: the course frontend's routes) adds its tags and paths; the request schemas are the
very files the handlers validate with (``schemas/*.json``), and the response schemas are
``schemas/responses/*.json``. Building the document:

- ``components.schemas`` gets every one of those files under its file name (``review_create``),
  less ``$schema`` and ``$id`` (the document's ``jsonSchemaDialect`` says 2020-12 already, and a
  relative ``$id`` would move the base of every ``$ref`` inside it);
- an operation's ``x-query-schema: page_query`` becomes one query parameter per property of
  ``schemas/page_query.json`` (its schema, description, and whether it is required);
- every operation gets the ``default`` error response.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from .base import APIHandler
from .validation import SCHEMA_DIR

_DROPPED_KEYWORDS = ("$schema", "$id")


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def build_document(directory: Path = SCHEMA_DIR) -> dict[str, Any]:
    """The OpenAPI document, from the files under ``directory``."""
    document: dict[str, Any] = _load(directory / "openapi" / "base.json")
    for part in sorted((directory / "openapi").glob("*.json")):
        if part.name != "base.json":
            _merge(document, _load(part), part)
    components = document["components"]["schemas"]
    for path in [*sorted(directory.glob("*.json")), *sorted((directory / "responses").glob("*.json"))]:
        if path.stem in components:
            raise ValueError(f"{path}: a schema named {path.stem!r} is already in the OpenAPI document")
        schema = _load(path)
        components[path.stem] = {k: v for k, v in schema.items() if k not in _DROPPED_KEYWORDS}
    for operations in document["paths"].values():
        for operation in operations.values():
            query_schema = operation.pop("x-query-schema", None)
            if query_schema is not None:
                operation.setdefault("parameters", []).extend(_query_parameters(components[query_schema]))
            operation["responses"].setdefault("default", {"$ref": "#/components/responses/Error"})
    return document


def _merge(document: dict[str, Any], part: dict[str, Any], path: Path) -> None:
    """Another file of ``schemas/openapi/`` (its ``tags`` and ``paths``) into the document."""
    document["tags"].extend(part.get("tags", []))
    for url, operations in part.get("paths", {}).items():
        if url in document["paths"]:
            raise ValueError(f"{path}: the path {url} is already in the OpenAPI document")
        document["paths"][url] = operations


def _query_parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    parameters = []
    for name, spec in schema["properties"].items():
        spec = copy.deepcopy(spec)
        parameter = {"name": name, "in": "query", "required": name in required}
        if "description" in spec:
            parameter["description"] = spec.pop("description")
        parameter["schema"] = spec
        parameters.append(parameter)
    return parameters


class OpenAPIHandler(APIHandler):
    def initialize(self, document: dict[str, Any]) -> None:
        self.document = document

    async def get(self) -> None:
        self.write_json(200, self.document)
