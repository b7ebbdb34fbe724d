"""JSON Schema contracts from ``schemas/``: compiled once at start, with errors a person can act on.

jsonschema's own messages print Python reprs ("True is not of type 'integer'"); here each error
becomes ``{"field": "group_id", "message": "group_id must be an integer, got true"}``.

Each schema file is compiled twice (:class:`Contract`): by jsonschema_rs, a compiled validator that
answers "valid?" in about a microsecond (jsonschema takes some 40-50, a sixth of a request's CPU
time, measured in bench/), and by jsonschema, which stays the judge of everything the fast one does
not accept and writes the messages. A body the fast validator accepts is accepted; any other is
checked by jsonschema, so a disagreement could only ever let jsonschema decide. A ``pattern`` is
never checked by the fast path: Python's regular expressions and Rust's differ (in Python ``$``
also matches before a final newline), and the contract is jsonschema's. Where patterns sit only
on top-level properties (``cursor`` of a session page), the fast path takes the instances without
those properties (``?per_page=10``: 22 µs in jsonschema, under 1 µs fast) and jsonschema the others;
a pattern anywhere else leaves the whole schema to jsonschema.
tests/test_validation_fast_path.py checks on generated bodies that both agree, for every schema.
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from .answers import Detail

SCHEMA_DIR = Path(str(importlib.resources.files("langportal.schemas")))

_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a JSON object",
    "array": "an array",
    "null": "null",
}


class Contract:
    """One schema, compiled for the fast check (jsonschema_rs) and for the messages (jsonschema)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        Draft202012Validator.check_schema(schema)
        self.schema = schema
        self.validator = Draft202012Validator(schema, format_checker=FormatChecker())
        self.fast = None
        properties = schema.get("properties", {})
        # the top-level properties a pattern applies to: instances with one are jsonschema's
        self.patterned = frozenset(
            name for name, spec in properties.items() if _uses(spec, "pattern", "patternProperties")
        )
        # For the fast check, each of those properties' schemas is `false`: an instance (or a part
        # of one a reference leads back to this schema) with such a property is not valid there,
        # so jsonschema decides. A schema with references below its root is not rewritten at all.
        rest = {
            **schema,
            "properties": {k: False if k in self.patterned else v for k, v in properties.items()},
        }
        below_root = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
        if _uses(rest, "pattern", "patternProperties"):
            return
        if self.patterned and _uses(below_root, *_REFERENCES):
            return
        self.fast = jsonschema_rs.Draft202012Validator(rest, validate_formats=True)

    def accepts(self, instance: Any) -> bool:
        """True when the fast validator finds ``instance`` valid; False means "ask jsonschema"."""
        if self.fast is None:
            return False
        try:
            return self.fast.is_valid(instance)
        except Exception:  # a value it cannot take (none known): jsonschema decides
            return False

    def is_valid(self, instance: Any) -> bool:
        return self.accepts(instance) or self.validator.is_valid(instance)


# What may lead from one part of a schema to another, or name one for that.
_REFERENCES = ("$ref", "$dynamicRef", "$anchor", "$dynamicAnchor", "$id", "$recursiveRef")


def _uses(schema: Any, *keywords: str) -> bool:
    """Whether any of ``keywords`` appears as a keyword anywhere in ``schema``."""
    if isinstance(schema, dict):
        return any(key in keywords or _uses(value, *keywords) for key, value in schema.items())
    if isinstance(schema, list):
        return any(_uses(item, *keywords) for item in schema)
    return False


def load_validators(directory: Path = SCHEMA_DIR) -> dict[str, Contract]:
    """``{"study_session_create": contract, ...}`` for every ``*.json`` in ``directory``."""
    return {
        path.stem: Contract(json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(directory.glob("*.json"))
    }


def describe(value: Any) -> str:
    """A short phrase for what a client sent: ``true``, ``the string "1"``, ``1.5``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value if len(value) <= 40 else value[:37] + "...")
        return f"the string {text}"
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= 40 else f"a number of {len(text)} characters"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__  # pragma: no cover - JSON has no other types


def _field(error: ValidationError) -> str | None:
    path = ".".join(str(part) for part in error.absolute_path)
    return path or None


def _subject(field: str | None) -> str:
    return field if field else "the request body"


def _listed(value: object) -> list[Any]:
    """A keyword's value or an instance that the keyword guarantees to be a list or an object, as
    a list (an object's keys), for the type checker: jsonschema types them loosely."""
    return list(value) if isinstance(value, list | dict) else []


def _messages(error: ValidationError) -> list[tuple[str | None, str]]:
    field = _field(error)
    subject = _subject(field)
    keyword = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    if keyword == "required":
        prefix = f"{field}." if field else ""
        return [
            (f"{prefix}{name}", f"{prefix}{name} is required")
            for name in _listed(error.validator_value)
            if isinstance(error.instance, dict) and name not in error.instance
        ]
    if keyword == "additionalProperties":
        allowed = ", ".join(schema.get("properties", {})) or "none"
        prefix = f"{field}." if field else ""
        return [
            (f"{prefix}{name}", f"{prefix}{name} is not a known field (allowed: {allowed})")
            for name in _listed(error.instance)
            if name not in schema.get("properties", {})
        ]
    if keyword == "type":
        types = (
            _listed(error.validator_value)
            if isinstance(error.validator_value, list)
            else [error.validator_value]
        )
        wanted = " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in types)
        return [(field, f"{subject} must be {wanted}, got {describe(error.instance)}")]
    if keyword in ("minimum", "maximum") and "minimum" in schema and "maximum" in schema:
        return [
            (
                field,
                f"{subject} must be from {schema['minimum']} to {schema['maximum']}, "
                f"got {describe(error.instance)}",
            )
        ]
    if keyword in ("minLength", "maxLength") and isinstance(error.instance, str):
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        size = f"{low} to {high} characters long" if high is not None else f"at least {low} characters long"
        return [(field, f"{subject} must be {size}, got {len(error.instance)} characters")]
    if keyword == "pattern":
        return [
            (
                field,
                f"{subject} must match the pattern {error.validator_value}, got {describe(error.instance)}",
            )
        ]
    if keyword == "enum":
        allowed = ", ".join(
            json.dumps(v) if not isinstance(v, str) else v for v in _listed(error.validator_value)
        )
        return [(field, f"{subject} must be one of {allowed}, got {describe(error.instance)}")]
    return [(field, f"{subject}: {error.message}")]


def error_details(contract: Contract, instance: Any) -> list[Detail]:
    """Every way ``instance`` breaks the schema, one entry per field, in a stable order (none when
    it is valid: the fast validator's yes, else jsonschema's verdict)."""
    if contract.accepts(instance):
        return []
    seen: set[tuple[str | None, str]] = set()
    details: list[Detail] = []
    for error in sorted(
        contract.validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.validator)
    ):
        for field, message in _messages(error):
            if (field, message) not in seen:
                seen.add((field, message))
                details.append({"field": field, "message": message})
    return details
