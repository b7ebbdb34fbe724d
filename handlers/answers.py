"""What a handler answers: an :class:`Answer` it computed, an :class:`APIError`, and their JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import tornado.web


@dataclass(frozen=True)
class Answer:
    """A response an endpoint computed: what :meth:`APIHandler.respond` writes, and what an
    idempotency key stores for replay. ``body`` is a JSON-able value, or the bytes of one already
    encoded (a stored answer, replayed byte for byte)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def not_found(*checks: tuple[str, str, bool]) -> Answer | None:
    """A 404 naming every ``(field, "group 42", found)`` check that failed, or None if all passed."""
    details = [{"field": field, "message": f"{what} not found"} for field, what, found in checks if not found]
    if not details:
        return None
    return Answer(404, {"error": "; ".join(d["message"] for d in details), "details": details})


class APIError(tornado.web.HTTPError):
    """An answer other than success: status, a message for the user, optional per-field details."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.reason: str | None = None  # of a 503: why (metrics: portal_unavailable_total)


# One encoder for every answer: json.dumps() with any option set builds a new JSONEncoder per
# call, which was half of encoding a small answer. ensure_ascii=False keeps kanji readable.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode_json(payload: Any) -> bytes:
    # A lone surrogate (which UTF-8 cannot carry) is written as its JSON escape by
    # backslashreplace, so encoding never fails.
    return _ENCODER.encode(payload).encode("utf-8", "backslashreplace")
