"""A database that accepts only reads (a standby, an old primary back as one, or a database set
``default_transaction_read_only``) is unavailable for writes: 503 with Retry-After saying so, the
connection dropped (so a multi-host URL reaches the primary on the next connect), ``/readyz`` 503
saying why; never a 500 with a traceback. Reads go on working."""

from __future__ import annotations

import asyncpg
import pytest

from langportal.handlers import make_app
from langportal.portaldb import faults

from ..helpers import Catalog, Db, send

SESSIONS = "/api/study_sessions"
READ_ONLY = faults.READ_ONLY.message


@pytest.fixture
def read_only_pool(io_loop, direct_database_url, db: Db):
    """One connection that may only read: a startup parameter, as a standby would refuse writes."""
    pool = io_loop.run_sync(
        lambda: asyncpg.create_pool(
            direct_database_url,
            min_size=1,
            max_size=1,
            server_settings={"default_transaction_read_only": "on"},
        )
    )
    yield pool
    io_loop.run_sync(pool.close)


@pytest.fixture
def app(read_only_pool):
    return make_app(read_only_pool)


async def backend_pid(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT pg_backend_pid()")


@pytest.mark.parametrize("keyed", [False, True], ids=["batched", "keyed"])
async def test_writes_are_503_and_the_connection_is_dropped(
    http_server_client, read_only_pool, db: Db, catalog: Catalog, caplog, keyed
):
    before = await backend_pid(read_only_pool)
    headers = {"Idempotency-Key": "read-only-1"} if keyed else {}
    body = {"group_id": catalog.group_id, "study_activity_id": catalog.activity_id}
    reply = await send(http_server_client, "POST", SESSIONS, body, headers=headers)
    assert reply.status == 503, reply.body
    assert reply.json == {"error": READ_ONLY}
    assert reply.headers["Retry-After"] == "1"
    assert await backend_pid(read_only_pool) != before  # a new connection replaced the old one
    assert await db.count_sessions() == 0
    assert not [r for r in caplog.records if r.exc_info]  # no traceback: not a bug


async def test_readyz_says_why(http_server_client, db: Db):
    reply = await send(http_server_client, "GET", "/readyz")
    assert reply.status == 503
    assert reply.json == {"error": READ_ONLY}
    assert reply.headers["Retry-After"] == "1"


async def test_reads_go_on(http_server_client, db: Db, catalog: Catalog):
    assert (await send(http_server_client, "GET", f"/api/groups/{catalog.group_id}")).status == 200
    assert (await send(http_server_client, "GET", SESSIONS)).status == 200
