"""The stored side of idempotency keys: claim a key, store its answer, find it again, purge old keys.

The HTTP rules (the header, the fingerprint, replaying an answer) are in handlers/idempotency.py;
the statements are in ``sql/queries/idempotency.sql``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import asyncpg

from .pool import Connection, is_unavailable
from .queries import load

log = logging.getLogger("portaldb.idempotency")


@dataclass(frozen=True)
class StoredAnswer:
    """The answer kept for a key: the request's fingerprint, and the status, body and headers."""

    fingerprint: str
    status: int
    body: str
    headers: dict[str, str]


async def claim(conn: Connection, key: str, fingerprint: str, ttl: float) -> bool:
    """Claim ``key`` for a request with ``fingerprint``, kept ``ttl`` seconds, in the transaction
    open on ``conn``. True when this transaction now owns the key (a new key, or an expired one
    taken over); False when a live key exists, which is then locked until the transaction ends.
    Waits while another transaction holds a claim on the same key."""
    return await conn.fetchval(load().claim_idempotency_key, key, fingerprint, ttl) is not None


async def store_answer(conn: Connection, key: str, status: int, body: str, headers: dict[str, str]) -> None:
    """Keep the answer of the request that claimed ``key`` (in the claiming transaction)."""
    await conn.execute(load().store_idempotent_answer, key, status, body, json.dumps(headers))


async def find_answer(conn: Connection, key: str) -> StoredAnswer | None:
    """The answer stored for ``key``, or None when there is no such key (any more)."""
    row = await conn.fetchrow(load().find_idempotent_answer, key)
    if row is None or row["status"] is None:
        return None
    return StoredAnswer(row["fingerprint"], row["status"], row["body"], json.loads(row["headers"]))


async def purge_idempotency_keys(pool: asyncpg.Pool) -> None:
    """Delete expired idempotency keys (an expired key is also taken over when used again).

    Meant to run now and then; when the database is unavailable it logs a warning and returns,
    to be retried at the next run.
    """
    try:
        status = await pool.execute(load().purge_expired_idempotency_keys)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log.warning("could not purge expired idempotency keys (will retry): %r", exc)
    else:
        log.debug("purged expired idempotency keys: %s", status)
