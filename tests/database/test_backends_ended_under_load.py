"""Backends ended under load (pg_terminate_backend, as a failover or a database restart ends them):
every request is answered 2xx or 503 with Retry-After, never a 500.

A pooled connection whose backend the server ended while it sat idle keeps asyncpg's protocol in
the state of the error it was consuming: the next statement on it raised InternalClientError
("cannot switch to state 11; another operation (2) is in progress"), and a transaction ended on it
raised one in place of the error that said what happened. They were answered 503 while every
InternalClientError was; answered 500 once those became bugs (measured with this load for 20 s:
226 of 12,000 requests). Now such a connection counts as lost (503, dropped), and a batch the
driver refused before sending anything goes out on another connection (201).
"""

from __future__ import annotations

import asyncio
import os
import random
import time

import asyncpg
import pytest

from langportal.handlers import make_app

from ..helpers import Db, send

SECONDS = 4


# Skipped before any fixture runs: a skip from inside the app fixture came after pytest-tornasync
# had bound its port, whose socket was then never closed (an unclosed-socket warning, an error
# wherever the garbage collector met it).
pytestmark = pytest.mark.skipif(
    (os.environ.get("TEST_DATABASE_POOLER") or "none") != "none",
    reason="ends the app's own backends, which a pooler keeps from it",
)


@pytest.fixture
def app(pool, db):
    return make_app(pool, statement_timeout=1, pool_timeout=1)


async def test_no_500_while_backends_are_ended_under_load(http_server_client, demo: Db, direct_database_url):
    statuses: dict[int, int] = {}
    missing_retry_after = 0
    stop = time.monotonic() + SECONDS  # bounded in time

    async def client(n: int) -> None:
        nonlocal missing_retry_after
        sent = 0
        while time.monotonic() < stop:
            sent += 1
            headers = {"Idempotency-Key": f"ended-{n}-{sent}"} if sent % 2 else {}
            replies = [
                await send(
                    http_server_client,
                    "POST",
                    "/api/study_sessions",
                    {"group_id": 1, "study_activity_id": 1},
                    headers=headers,
                )
            ]
            if sent % 4 == 0:
                replies.append(await send(http_server_client, "GET", "/api/dashboard/quick_stats"))
            for reply in replies:
                statuses[reply.status] = statuses.get(reply.status, 0) + 1
                if reply.status == 503 and "Retry-After" not in reply.headers:
                    missing_retry_after += 1

    async def end_backends() -> int:
        ended = 0
        killer = await asyncpg.connect(direct_database_url)
        try:
            while time.monotonic() < stop:
                ended += await killer.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity"
                    " WHERE application_name = 'langportal' AND pid <> pg_backend_pid()"
                    " ORDER BY random() LIMIT 2) AS chosen"
                )
                await asyncio.sleep(random.uniform(0.01, 0.08))  # the pace of the faults, not a wait
        finally:
            await killer.close()
        return ended

    ended, *_ = await asyncio.gather(end_backends(), *(client(n) for n in range(10)))
    assert ended > 10
    assert 500 not in statuses, statuses
    assert set(statuses) <= {200, 201, 503}, statuses
    assert statuses.get(201, 0) > 0
    assert missing_retry_after == 0
