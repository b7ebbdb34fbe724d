"""Request bodies: held only up to the API's size limit while they stream in, then read as strict
JSON (``Content-Type: application/json``, UTF-8 without a BOM, no NaN, no duplicate keys)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .answers import APIError

_CHARSET = re.compile(r"charset\s*=\s*\"?([^\";\s]+)", re.IGNORECASE)


class BodyBuffer:
    """A request body as it streams in: every byte is counted, only the first ``limit`` are kept,
    so an oversized body is answered 413 in JSON without being held in memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._chunks: list[bytes] = []

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size <= self.limit:
            self._chunks.append(chunk)
        else:
            self._chunks = []  # over the limit: keep reading, keep nothing

    def read_json(self, content_type: str) -> Any:
        """The body parsed strictly; 413, 415 or 400 saying what is wrong."""
        if self.size > self.limit:
            raise APIError(413, f"the request body is {self.size} bytes; the limit is {self.limit} bytes")
        media_type, _, params = content_type.partition(";")
        if media_type.strip().lower() != "application/json":
            raise APIError(
                415,
                "the request body must be JSON: send the header Content-Type: application/json",
            )
        charset = _CHARSET.search(params)
        if charset and charset[1].lower() not in ("utf-8", "utf8"):
            raise APIError(415, f"the charset {charset[1]} is not supported; send UTF-8 JSON")
        return parse_json(b"".join(self._chunks))


class _BodyRejected(ValueError):
    """Raised while parsing JSON for what json.loads would otherwise let through."""


def _reject_constant(name: str) -> float:
    raise _BodyRejected(f"{name} is not valid JSON; send a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BodyRejected(f"the number {text[:40]} is too large; send a finite number")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _BodyRejected(f"the field {json.dumps(key)} appears more than once; send it once")
            seen.add(key)
    return result


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8 without a BOM, no NaN or Infinity, no duplicate keys.

    Raises :class:`APIError` 400 saying what is wrong.
    """
    if not body.strip():
        raise APIError(400, "the request body is empty; send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise APIError(400, f"the request body is not valid UTF-8 (bad byte at offset {exc.start})") from None
    if text.startswith("\ufeff"):
        raise APIError(400, "the request body starts with a byte order mark; send plain UTF-8 JSON")
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except _BodyRejected as exc:
        raise APIError(400, f"the request body is not acceptable JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise APIError(
            400,
            f"the request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
        ) from None
    except ValueError:  # an integer of more than 4300 digits
        raise APIError(400, "the request body holds a number with too many digits") from None
    except RecursionError:
        raise APIError(400, "the request body is nested too deeply") from None
