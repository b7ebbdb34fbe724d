"""What a handler answers: an :class:`Answer` it computed, an :class:`APIError`, and their JSON."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, TypedDict

import orjson
import tornado.web


@dataclass(frozen=True)
class Answer:
    """A response an endpoint computed: what :meth:`APIHandler.respond` writes, and what an
    idempotency key stores for replay. ``body`` is a JSON-able value, or the bytes of one already
    encoded (a stored answer, replayed byte for byte)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class Detail(TypedDict):
    """One way a body or a query breaks its contract: the field (None for the whole of it) and
    what is wrong, in words a person can act on."""

    field: str | None
    message: str


def not_found(*checks: tuple[str, str, bool]) -> Answer | None:
    """A 404 naming every ``(field, "group 42", found)`` check that failed, or None if all passed."""
    details: list[Detail] = [
        {"field": field, "message": f"{what} not found"} for field, what, found in checks if not found
    ]
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
        details: list[Detail] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.message = message
        self.details = details
        self.headers = headers or {}
        # of a 503: why (metrics: portal_unavailable_total); not "reason", which tornado's HTTPError
        # writes in the status line
        self.unavailable_reason: str | None = None


class _Encoder(json.JSONEncoder):
    """The json module's encoder, for what orjson refuses; a timestamp as orjson writes it."""

    def default(self, o: Any) -> Any:
        if isinstance(o, (dt.date, dt.time)):  # a datetime is a date
            return o.isoformat()
        return super().default(o)


# One encoder, made once: json.dumps() with any option set builds a new JSONEncoder per call.
# ensure_ascii=False keeps kanji readable.
_ENCODER = _Encoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode_json(payload: Any) -> bytes:
    """The answer's bytes: compact JSON in UTF-8; a timestamp as ``datetime.isoformat()`` writes
    it (orjson's own format is the same text: ``2026-11-27T01:54:55.123456+00:00``, no fraction
    when the microseconds are 0).

    orjson first (a page of 100 sessions in a tenth of the json module's time). What it refuses
    goes to the json module: a lone surrogate (which UTF-8 cannot carry: written as its JSON
    escape by backslashreplace, so encoding never fails), an integer beyond 64 bits, a key that is
    not a string. Two differences from the json module alone, both the same JSON: a float under
    1e-4 is written ``1e-5``, not ``1e-05``; and orjson would write a NaN or an infinity as null,
    so none must reach it (a word's parts are read with a check, handlers/words.py).
    """
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError:
        return _ENCODER.encode(payload).encode("utf-8", "backslashreplace")
