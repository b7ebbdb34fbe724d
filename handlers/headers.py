"""What every API answer carries, computed once rather than per request: the fixed headers of a
CORS setting, the Date text (once a second) and request ids (a per-process prefix and a counter)."""

from __future__ import annotations

import functools
import itertools
import os
import secrets
import time

from tornado import httputil

EXPOSED_RESPONSE_HEADERS = "Idempotent-Replayed, Location, Retry-After, X-Request-ID"


class _RequestIds:
    """Request ids of 32 hex digits, as uuid4().hex was, at a tenth of its cost: a random prefix
    per process (new after a fork) and a counter, so unique across processes and restarts."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


request_ids = _RequestIds()


@functools.lru_cache(maxsize=8)
def fixed_headers(cors_origins: frozenset[str] | None) -> tuple[tuple[str, str], ...]:
    """The headers every API answer carries whatever the request, prepared once per setting."""
    headers = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-store"),
        ("Access-Control-Expose-Headers", EXPOSED_RESPONSE_HEADERS),
    ]
    headers.append(("Access-Control-Allow-Origin", "*") if cors_origins is None else ("Vary", "Origin"))
    return tuple(headers)


_date: tuple[int, str] = (0, "")


def http_date() -> str:
    """The Date header's text, formatted once per second."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, httputil.format_timestamp(now))
    return _date[1]
