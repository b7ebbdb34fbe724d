"""Both resets on a history large enough that deleting it row by row is slow, within a short
statement timeout: they answer 200 and leave every counter exact; launches and answers sent while a
reset runs wait for it and no longer, and get their 201 or 404; a reader that has read the sessions
keeps what it sees until it ends.

The history is loaded as bench/list_endpoints.py (and bench/resets.py) loads it: through the real
tables, so the counting triggers count it. The pool here has a short statement timeout: the DELETE
of every review that POST /api/reset_history ran (its triggers counting every row) took about 0.4 s
for 200,000 reviews on a quiet machine, and a real history of 3,000,000 reviews ran into the
server's default 5 s; a TRUNCATE of the same takes milliseconds.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import random
import time
from collections.abc import Iterator

import asyncpg
import pytest
import tornado.ioloop

from bench.list_endpoints import LOAD_SQL
from langportal import portaldb
from langportal.handlers import make_app

from ..helpers import FIXTURE_SQL, Db, call, send, wait_until
from .test_counts_exact import assert_counts_exact

SESSIONS, REVIEWS = 20_000, 200_000
SHORT_TIMEOUT = 0.15  # seconds: half the row-by-row reset's time at this size, ten times the new one's
# The server's default statement timeout, for the tests where a reader makes the reset wait.
DEFAULT_TIMEOUT = pytest.mark.parametrize("statement_timeout", [5.0], indirect=True)


@pytest.fixture
def statement_timeout(request) -> float:
    return getattr(request, "param", SHORT_TIMEOUT)


@pytest.fixture
def timed_pool(
    io_loop: tornado.ioloop.IOLoop, database_url: str, pooler_mode: str, statement_timeout: float
) -> Iterator[asyncpg.Pool]:
    """The app's pool, with the test's statement timeout (directly; through a transaction pooler
    the role's default applies instead, set by the run's migration)."""
    pool = io_loop.run_sync(
        lambda: portaldb.create_pool(
            database_url,
            min_size=2,
            max_size=8,
            connect_timeout=5,
            statement_timeout=statement_timeout,
            pooler=pooler_mode,
        )
    )
    yield pool
    io_loop.run_sync(pool.close)


@pytest.fixture
def app(timed_pool, demo, statement_timeout):
    return make_app(timed_pool, allow_reset=True, statement_timeout=statement_timeout)


@pytest.fixture
def large_history(io_loop: tornado.ioloop.IOLoop, demo: Db, direct_database_url: str) -> Db:
    """The demo data and SESSIONS sessions, one every 50 minutes back from now, with REVIEWS
    reviews among them, loaded by bench/load.sql's statements on a connection of its own (no
    statement timeout): the counters count them as they go in."""

    async def load() -> None:
        conn = await asyncpg.connect(direct_database_url)
        try:
            await conn.execute(LOAD_SQL.load_sessions, SESSIONS)
            await conn.execute(LOAD_SQL.load_reviews, REVIEWS)
        finally:
            await conn.close()

    io_loop.run_sync(load)
    return demo


async def assert_counters_exact(client, db: Db) -> None:
    """Every counter table against a recount, and every count the API shows against its own."""
    assert [tuple(r) for r in await db.pool.fetch(FIXTURE_SQL.counters_off_a_recount)] == []
    await assert_counts_exact(client, db)


async def test_reset_history_of_a_large_history_within_a_short_statement_timeout(
    http_server_client, large_history: Db
):
    db = large_history
    started = time.monotonic()
    reply = await call(http_server_client, "POST", "/api/reset_history")
    took = time.monotonic() - started
    assert reply.status == 200, (reply.body, f"{took:.2f} s")
    assert reply.json["deleted"] == {"study_sessions": SESSIONS, "word_review_items": REVIEWS}
    assert await db.count_sessions() == 0
    assert await db.fetchval("count_reviews") == 0
    assert await db.fetchval("count_stretch_rows") == 0
    await assert_counters_exact(http_server_client, db)
    counts = await db.fetchrow("catalogue_counts")  # the catalogue stays
    assert dict(counts) == {"groups": 3, "words": 102, "memberships": 105, "study_activities": 3}
    # ids go on: an activity app holding an old session id cannot write to a new session
    created = await call(
        http_server_client, "POST", "/api/study_sessions", {"group_id": 1, "study_activity_id": 1}
    )
    assert created.status == 201
    assert created.json["study_session"]["id"] > SESSIONS
    await assert_counters_exact(http_server_client, db)


async def test_full_reset_of_a_large_history_within_a_short_statement_timeout(
    http_server_client, large_history: Db
):
    db = large_history
    reply = await call(http_server_client, "POST", "/api/full_reset")
    assert reply.status == 200, reply.body
    assert reply.json["restored"] == {"groups": 3, "words": 102, "study_activities": 3}
    assert await db.count_sessions() == 0
    await assert_counters_exact(http_server_client, db)
    created = await call(
        http_server_client, "POST", "/api/study_sessions", {"group_id": 1, "study_activity_id": 1}
    )
    assert created.json["study_session"]["id"] == 1  # the full reset restarts ids
    await assert_counters_exact(http_server_client, db)


async def test_launches_and_answers_racing_a_reset_wait_no_longer_than_it(
    http_server_client, large_history: Db
):
    """Launches and answers (on the loaded sessions, and on sessions just launched) sent back to
    back by six clients, a reset of the history among them: the reset answers 200 within the
    short statement timeout, every write a 201 or a 404 (an answer naming a session the reset
    deleted), none 5xx, and no write that overlapped the reset ended later than it (plus a
    little: it waited for the reset's commit, then ran)."""
    db = large_history
    done: list[tuple[int, float, float]] = []  # status, sent, answered
    stop = asyncio.Event()

    async def write(seed: int) -> None:
        rng = random.Random(seed)
        made: list[int] = []
        while not stop.is_set():
            sent = time.monotonic()
            if rng.random() < 0.5:
                body = {"group_id": rng.randint(1, 3), "study_activity_id": rng.randint(1, 3)}
                reply = await send(http_server_client, "POST", "/api/study_sessions", body)
                if reply.status == 201:
                    made.append(reply.json["study_session"]["id"])
            else:
                session = rng.choice(made) if made and rng.random() < 0.5 else rng.randint(1, SESSIONS)
                path = f"/api/study_sessions/{session}/words/{rng.randint(1, 102)}/review"
                reply = await send(http_server_client, "POST", path, {"correct": rng.random() < 0.7})
            done.append((reply.status, sent, time.monotonic()))

    writers = [asyncio.ensure_future(write(seed)) for seed in range(6)]
    try:
        await wait_until(lambda: len(done) >= 30, 10, "the writes to get going")
        started = time.monotonic()
        reply = await call(http_server_client, "POST", "/api/reset_history")
        ended = time.monotonic()
        await wait_until(lambda: sum(sent > ended for _, sent, _ in done) >= 30, 10, "writes after the reset")
    finally:
        stop.set()
        await asyncio.gather(*writers)
    assert reply.status == 200, (reply.body, f"{ended - started:.2f} s")
    assert reply.json["deleted"]["study_sessions"] >= SESSIONS
    statuses = collections.Counter(status for status, _, _ in done)
    assert set(statuses) <= {201, 404}, statuses
    overlapping = [(sent, answered) for _, sent, answered in done if sent < ended and answered > started]
    assert overlapping, "no write was in flight during the reset"
    assert max(answered for _, answered in overlapping) <= ended + 0.25, (
        f"the reset took {ended - started:.3f} s; writes in flight meanwhile ended up to "
        f"{max(answered for _, answered in overlapping) - ended:.3f} s after it"
    )
    await assert_counters_exact(http_server_client, db)


@DEFAULT_TIMEOUT
async def test_launches_and_answers_sent_during_a_reset_wait_for_it_and_no_longer(
    http_server_client, large_history: Db, direct_database_url: str, statement_timeout
):
    """A reader holds the sessions' table, so the reset waits for it; launches (batched, and one
    with an Idempotency-Key, which claims its key before it writes) and answers sent meanwhile
    wait behind the reset. Once the reader ends, the reset finishes and so does every write: each
    a 201 or a 404 (an answer naming a session the reset deleted), none later than the reset's
    own answer (plus a little), and the counts exact after."""
    db = large_history
    reader = await asyncpg.connect(direct_database_url)
    try:
        async with reader.transaction():
            assert await reader.fetchval(FIXTURE_SQL.count_study_sessions) == SESSIONS

            async def timed(method: str, path: str, body=None, **kwargs) -> tuple[int, float]:
                reply = await send(http_server_client, method, path, body, **kwargs)
                return reply.status, time.monotonic()

            resetting = asyncio.ensure_future(timed("POST", "/api/reset_history"))
            await wait_until(
                lambda: db.fetchval("waiting_for_a_table", "study_sessions"),
                5,
                "the reset to wait for the sessions' table",
            )
            sent = time.monotonic()
            writes = [
                timed("POST", "/api/study_sessions", {"group_id": g, "study_activity_id": 1})
                for g in (1, 2, 3)
            ]
            writes.append(
                timed(
                    "POST",
                    "/api/study_sessions",
                    {"group_id": 1, "study_activity_id": 2},
                    headers={"Idempotency-Key": "during-a-reset"},
                )
            )
            writes += [
                timed("POST", f"/api/study_sessions/{sid}/words/{wid}/review", {"correct": sid % 2 == 0})
                for sid, wid in [(SESSIONS, 1), (SESSIONS - 1, 2), (1, 3)]
            ]
            writing = asyncio.gather(*writes)
            # the reset, the keyed launch and a batch (launches and answers share one batch in
            # flight, portaldb/batch.py: the other waits for it to come back) wait for locks
            await wait_until(
                lambda: _at_least(db, "backends_waiting_for_a_lock", 3), 5, "the writes to wait for the reset"
            )
            released = time.monotonic()
        replies = await writing
        reset_status, reset_ended = await resetting
    finally:
        await reader.close()
    assert reset_status == 200
    statuses = [status for status, _ in replies]
    assert statuses[:4] == [201] * 4, statuses
    assert set(statuses[4:]) <= {201, 404}, statuses
    for _, ended in replies:
        assert released <= ended <= reset_ended + 0.5, (ended - sent, reset_ended - sent)
    await assert_counters_exact(http_server_client, db)


async def _at_least(db: Db, statement: str, count: int) -> bool:
    return await db.fetchval(statement) >= count


@DEFAULT_TIMEOUT
async def test_a_deep_page_read_before_a_reset_still_finds_its_counts(
    http_server_client, db: Db, direct_database_url: str, statement_timeout
):
    """The reset truncates the history and its stretch counts, which is not MVCC-safe for a
    snapshot taken before it commits. A reader that has read the sessions in REPEATABLE READ holds
    their table until it ends: the reset waits for it, and its deep page (found from the stretch
    counts) is the one its snapshot sees; then the reset finishes."""
    now = dt.datetime.now(dt.UTC)
    moments = [now - dt.timedelta(seconds=i) for i in range(1, 60)]
    await db.pool.execute(
        FIXTURE_SQL.insert_study_sessions_at, moments, [1] * len(moments), [2] * len(moments)
    )
    expected = [r["id"] for r in await db.pool.fetch(FIXTURE_SQL.session_page_by_offset, None, None, 5, 20)]
    queries = portaldb.load_queries()
    reader = await asyncpg.connect(direct_database_url)
    try:
        async with reader.transaction(isolation="repeatable_read"):
            assert await reader.fetchval(FIXTURE_SQL.count_study_sessions) == len(moments)  # the snapshot
            resetting = asyncio.ensure_future(call(http_server_client, "POST", "/api/reset_history"))
            await wait_until(
                lambda: db.fetchval("waiting_for_a_table", "study_sessions"),
                5,
                "the reset to wait for the sessions' table",
            )
            rows = await reader.fetch(queries.list_study_sessions_deep, 5, 20)
            assert [r["id"] for r in rows] == expected
            assert rows[0]["total_items"] == len(moments)
            assert not resetting.done()
        reply = await resetting
    finally:
        await reader.close()
    assert reply.status == 200, reply.body
    assert reply.json["deleted"]["study_sessions"] == len(moments)
    await assert_counters_exact(http_server_client, db)
