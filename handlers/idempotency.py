"""The HTTP rules of the ``Idempotency-Key`` header: its form, a request's fingerprint, and running a
request's work once per key, with the stored answer replayed to a retry.

The stored side (claim, store, find, purge) is portaldb/idempotency.py.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tornado import httputil

from ..portaldb import Connection
from ..portaldb import idempotency as stored_keys
from .answers import Answer, APIError, encode_json

if TYPE_CHECKING:
    from .base import APIHandler

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# How often a request claims its key again when the stored answer vanished between its claim and
# its read. Each time means a reset or purge deleted the key in that instant: more than a couple
# in a row is not a race but something deleting keys continuously.
CLAIM_ATTEMPTS = 3


def idempotency_key(request: httputil.HTTPServerRequest) -> str | None:
    """The request's ``Idempotency-Key`` header, or None; 400 when it is malformed."""
    if "Idempotency-Key" not in request.headers:  # most requests: nothing more to look at
        return None
    keys = request.headers.get_list("Idempotency-Key")
    if len(keys) > 1:  # headers.get() would join them into one key, "a,b"
        raise APIError(400, f"the Idempotency-Key header appears {len(keys)} times; send one key per request")
    key = keys[0]
    if not _KEY.match(key):
        raise APIError(
            400,
            "the Idempotency-Key header must be 1 to 255 visible ASCII characters, "
            "e.g. a UUID; send a new one for each new request",
        )
    return key


def fingerprint(method: str, path: str, body: Any) -> str:
    """What makes two requests "the same" for one key: method, path and the body as JSON (key order
    and spacing do not matter, nor does 1.0 for 1: the schemas take both as the integer 1)."""
    canonical = json.dumps(_integral(body), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def _integral(value: Any) -> Any:
    """``value`` with every float that holds a whole number written as that integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


async def run_once_per_key(
    handler: APIHandler, key: str, body: Any, work: Callable[[Connection], Awaitable[Answer]]
) -> Answer:
    """Do ``work`` once per idempotency key: the first request with ``key`` runs it and stores
    its answer in the same transaction; a retry with the same key and body gets that answer
    back (with ``Idempotent-Replayed: true``), even when both arrive at once; the same key
    with another body is a 422. When the work raises, nothing is stored (the transaction rolls
    back), so the request may be retried with its key.

    A key whose stored answer is gone by the time it is read (deleted by a reset or by the purge of
    expired keys) is claimed again and the work runs; should that keep happening, 409 asks the
    client to send the request again.
    """
    request = handler.request
    request_fingerprint = fingerprint(request.method or "", request.path, body)
    ttl = handler.application.config.idempotency_ttl
    async with handler.connection() as conn, conn.transaction():
        for _ in range(CLAIM_ATTEMPTS):
            if await stored_keys.claim(conn, key, request_fingerprint, ttl):
                answer = await work(conn)
                encoded = encode_json(answer.body)
                await stored_keys.store_answer(
                    conn, key, answer.status, encoded.decode("utf-8"), answer.headers
                )
                return Answer(answer.status, encoded, answer.headers)
            previous = await stored_keys.find_answer(conn, key)
            if previous is not None:
                handler.only_read = True  # a replay stores nothing
                break
        else:
            raise APIError(
                409,
                "the answer stored for this Idempotency-Key was being deleted (by a reset or the "
                "purge of expired keys) while this request read it; send the request again",
            )
    if previous.fingerprint != request_fingerprint:
        raise APIError(
            422,
            "this Idempotency-Key was already used for a different request; send a new key for a new request",
        )
    if (metrics := handler.application.metrics) is not None:  # metrics (issue 9)
        metrics.replayed()
    headers = {**previous.headers, "Idempotent-Replayed": "true"}
    return Answer(previous.status, previous.body.encode("utf-8"), headers)
