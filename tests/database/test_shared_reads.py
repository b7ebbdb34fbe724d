"""Shared reads (portaldb/shared.py): identical GETs share round trips under load, and each still
sees every write committed before it asked."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from langportal.handlers import make_app

from ..helpers import Catalog, Db, send, wait_until

STATS = "/api/dashboard/quick_stats"


@pytest.fixture
def options() -> dict:
    return {}


@pytest.fixture
def app(one_connection, db, options):
    return make_app(one_connection, **options)  # one connection: holding it makes every read wait


async def sessions_seen(client, count: int) -> list[int]:
    replies = await asyncio.gather(*(send(client, "GET", STATS) for _ in range(count)))
    assert {reply.status for reply in replies} == {200}
    return [json.loads(reply.body)["total_study_sessions"] for reply in replies]


async def test_identical_reads_waiting_together_share_one_statement_and_see_earlier_writes(
    http_server_client, app, one_connection, db: Db, catalog: Catalog
):
    shared = app.shared_reads
    async with one_connection.acquire() as held:  # every read queues for the connection
        # (the test client sends at most 10 requests at a time)
        first = asyncio.ensure_future(sessions_seen(http_server_client, 6))
        await wait_until(lambda: shared.joined_reads == 5, 5, "five readers joined the first")
        # a write committed after those readers asked, before their shared statement is sent:
        # they see it (the statement runs after every reader sharing it arrived)
        await held.execute("INSERT INTO study_sessions (group_id, study_activity_id) VALUES (1, 1)")
        later = asyncio.ensure_future(sessions_seen(http_server_client, 3))
        await wait_until(lambda: shared.joined_reads == 8, 5, "three more joined it")
    assert await first == [1] * 6
    assert await later == [1] * 3
    assert shared.sent_reads == 1  # nine readers, one statement
    assert (await sessions_seen(http_server_client, 1)) == [1]  # alone: sent at once
    assert shared.sent_reads == 2


async def test_a_read_arriving_while_an_identical_one_is_in_flight_gets_its_own(
    http_server_client, app, database_url, db: Db, catalog: Catalog
):
    # The one in flight may have taken its snapshot before the reader asked, so joining it could
    # miss a write committed in between: the reader waits for it and sends its own.
    shared = app.shared_reads
    locker = await asyncpg.connect(database_url)
    try:
        transaction = locker.transaction()
        await transaction.start()
        await locker.execute("LOCK TABLE history_totals IN ACCESS EXCLUSIVE MODE")
        in_flight = asyncio.ensure_future(sessions_seen(http_server_client, 1))
        await wait_until(lambda: shared.sent_reads == 1, 5, "the first read sent (and blocked)")
        behind = asyncio.ensure_future(sessions_seen(http_server_client, 3))
        await wait_until(lambda: shared.joined_reads == 2, 5, "two joined the second, not the first")
        await transaction.rollback()
    finally:
        await locker.close()
    assert await in_flight == [0]
    assert await behind == [0, 0, 0]
    assert shared.sent_reads == 2
    assert shared.joined_reads == 2


@pytest.mark.parametrize("options", [{"allow_reset": True}])
async def test_writes_never_share(http_server_client, app, one_connection, db: Db, catalog: Catalog):
    async with one_connection.acquire():  # three identical writes wait together
        posts = [
            asyncio.ensure_future(send(http_server_client, "POST", "/api/reset_history")) for _ in range(3)
        ]
        await wait_until(lambda: app.in_flight == 3, 5, "three resets waiting")
    replies = await asyncio.gather(*posts)
    assert [reply.status for reply in replies] == [200, 200, 200]
    assert app.shared_reads.sent_reads == 0  # each ran its own statement
    assert app.shared_reads.joined_reads == 0


@pytest.mark.parametrize("options", [{"pool_timeout": 0.3}])
async def test_readers_joined_to_a_read_that_gets_no_connection_are_answered_503(
    http_server_client, app, one_connection, db: Db, catalog: Catalog
):
    async with one_connection.acquire():
        replies = await asyncio.gather(*(send(http_server_client, "GET", STATS) for _ in range(4)))
        assert app.shared_reads.joined_reads == 3
    assert [reply.status for reply in replies] == [503] * 4
    assert all(reply.headers["Retry-After"] == "1" for reply in replies)
    assert len({reply.body for reply in replies}) == 1  # the same answer for each
    text = (await send(http_server_client, "GET", "/metrics")).body.decode()
    assert 'portal_unavailable_total{reason="pool_timeout"} 4.0' in text  # each 503 counted


async def sessions_answered(client, count: int) -> list:
    return await asyncio.gather(*(send(client, "GET", STATS, request_timeout=15) for _ in range(count)))


@pytest.mark.parametrize("options", [{"statement_timeout": 0.2, "pool_timeout": 2}])
async def test_readers_that_joined_a_read_cut_off_by_its_deadline_get_its_503(
    http_server_client, app, one_connection, direct_database_url, db: Db, options
):
    # The leader's request deadline (pool_timeout + statement_timeout + 1 s = 3.2 s) cancels it
    # while its statement waits for a lock (the database's own statement timeout is 5 s): those
    # who joined it must get the same 503, not a 500 or no answer at all.
    shared = app.shared_reads
    locker = await asyncpg.connect(direct_database_url)
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE history_totals IN ACCESS EXCLUSIVE MODE")
            async with one_connection.acquire():  # the readers queue, so they can join the first
                replies = asyncio.ensure_future(sessions_answered(http_server_client, 3))
                await wait_until(lambda: shared.joined_reads == 2, 5, "two readers joined the first")
            done = await replies
    finally:
        await locker.close()
    assert [reply.status for reply in done] == [503] * 3, [reply.body for reply in done]
    assert shared.sent_reads == 1
    for reply in done:
        assert json.loads(reply.body)["error"] == "the database is unavailable or busy; retry shortly"
        assert reply.headers["Retry-After"] == "1"
