"""POST /api/reset_history and POST /api/full_reset: 403 unless enabled, and what they do when enabled."""

from __future__ import annotations

import asyncio
import random
import time

import asyncpg
import pytest

from langportal.handlers import make_app
from langportal.settings import parse_args

from ..helpers import FIXTURE_SQL, Db, History, call, send, wait_until

ENABLED = pytest.mark.parametrize("allow_reset", [True], indirect=True)


@pytest.fixture
def allow_reset(request) -> bool:
    return getattr(request, "param", False)


@pytest.fixture
def app(pool, db, allow_reset):
    return make_app(pool, allow_reset=allow_reset)


@pytest.mark.parametrize("path", ["/api/reset_history", "/api/full_reset"])
async def test_disabled_by_default(http_server_client, db: Db, history: History, path):
    reply = await call(http_server_client, "POST", path)
    assert reply.status == 403
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert f"{path} deletes data and is disabled on this server" in reply.json["error"]
    assert "--enable-reset" in reply.json["error"]
    assert await db.count_sessions() == 3
    assert await db.fetchval("count_reviews") == 5


@pytest.mark.parametrize("path", ["/api/reset_history", "/api/full_reset"])
async def test_preflight_succeeds_even_when_disabled(http_server_client, db: Db, path):
    reply = await send(
        http_server_client,
        "OPTIONS",
        path,
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert reply.status == 204
    assert reply.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"


def test_the_command_line_flag():
    assert parse_args([]).enable_reset is False
    assert parse_args(["--enable-reset"]).enable_reset is True


@ENABLED
async def test_reset_history_deletes_sessions_and_reviews_only(
    http_server_client, db: Db, history: History, allow_reset
):
    reply = await call(http_server_client, "POST", "/api/reset_history")
    assert reply.status == 200
    assert reply.json["deleted"] == {"study_sessions": 3, "word_review_items": 5}
    assert reply.json["message"] == "deleted 3 study session(s) and 5 review item(s)"
    assert await db.count_sessions() == 0
    assert await db.fetchval("count_reviews") == 0
    counts = await db.fetchrow("catalogue_counts")
    assert dict(counts) == {"groups": 3, "words": 4, "memberships": 5, "study_activities": 2}
    # ids are not reused: an activity app holding an old session id cannot write to a new session
    created = await call(
        http_server_client,
        "POST",
        "/api/study_sessions",
        {"group_id": history.verbs, "study_activity_id": history.flashcards},
    )
    assert created.json["study_session"]["id"] > max(history.sessions)
    again = await call(http_server_client, "POST", "/api/reset_history")
    assert again.json["deleted"] == {"study_sessions": 1, "word_review_items": 0}


@ENABLED
async def test_full_reset_restores_the_demo_data(http_server_client, db: Db, history: History, allow_reset):
    reply = await call(http_server_client, "POST", "/api/full_reset")
    assert reply.status == 200
    assert reply.json["restored"] == {"groups": 3, "words": 102, "study_activities": 3}
    assert await db.count_sessions() == 0
    assert await db.fetchval("count_reviews") == 0
    groups = await call(http_server_client, "GET", "/api/groups?sort_by=name")
    assert {(g["id"], g["name"]) for g in groups.json["items"]} == {
        (1, "Core Verbs"),
        (2, "Core Adjectives"),
        (3, "Food and Drink"),
    }
    activity = await call(http_server_client, "GET", "/api/study_activities/1")
    assert activity.json["study_activity"]["name"] == "Typing Tutor"
    created = await call(
        http_server_client, "POST", "/api/study_sessions", {"group_id": 1, "study_activity_id": 1}
    )
    assert created.status == 201


@ENABLED
async def test_full_reset_twice_gives_the_same_data(http_server_client, db: Db, allow_reset):
    first = await call(http_server_client, "POST", "/api/full_reset")
    words_first = await call(http_server_client, "GET", "/api/words?per_page=500")
    second = await call(http_server_client, "POST", "/api/full_reset")
    words_second = await call(http_server_client, "GET", "/api/words?per_page=500")
    assert first.json == second.json
    assert words_first.json == words_second.json


@ENABLED
async def test_full_reset_never_waits_for_a_table_while_holding_another(
    http_server_client, db: Db, history: History, allow_reset, direct_database_url
):
    """A request holding one table and then asking for another (an answer reads the sessions,
    then writes a review; POST /api/reset_history locks the sessions, then deletes the reviews)
    and a full reset: both finish. A TRUNCATE of every table, taking them one by one, would hold
    the reviews while waiting for the sessions, and PostgreSQL would end one of the two
    ("deadlock detected", a 500)."""
    other = await asyncpg.connect(direct_database_url)
    try:
        async with other.transaction():
            assert await other.fetchval(FIXTURE_SQL.count_study_sessions) == 3  # holds the sessions
            resetting = asyncio.ensure_future(call(http_server_client, "POST", "/api/full_reset"))
            await wait_until(
                lambda: db.pool.fetchval(FIXTURE_SQL.waiting_for_a_table, "study_sessions"),
                10,
                "the full reset to wait for the sessions' table",
            )
            assert await other.fetchval(FIXTURE_SQL.count_reviews) == 5  # then asks for the reviews
        reply = await resetting
    finally:
        await other.close()
    assert reply.status == 200, reply.body
    assert await db.count_sessions() == 0
    assert reply.json["restored"] == {"groups": 3, "words": 102, "study_activities": 3}


@ENABLED
async def test_full_reset_finishes_under_steady_reads_of_every_table(
    http_server_client, db: Db, history: History, allow_reset, direct_database_url
):
    """Short transactions reading one table each, out of step, on every table: the reset finishes
    while they go on (in about a quarter of a second here). Taking the other tables NOWAIT after
    waiting for one, it failed as long as any of them was being read (7.8 s: until the reads
    stopped; a 503 after the statement timeout in a server)."""
    queries = ["count_study_sessions", "count_reviews", "count_groups", "count_study_activities"]
    queries += ["count_idempotency_keys"]
    readers = [await asyncpg.connect(direct_database_url) for _ in range(8 * len(queries))]
    stop = time.monotonic() + 8  # bounded: the readers stop after 8 s whatever happens

    reading_now: set[int] = set()  # the readers that finished a transaction: all of them are at it

    async def read(conn: asyncpg.Connection, query: str, rng: random.Random) -> int:
        done = 0
        await asyncio.sleep(rng.uniform(0, 0.05))  # out of step: one table or another always read
        while time.monotonic() < stop:
            async with conn.transaction():
                await conn.fetchval(getattr(FIXTURE_SQL, query))
                await asyncio.sleep(rng.uniform(0.02, 0.06))  # holds its table a while, as a reader
            done += 1
            reading_now.add(id(conn))
        return done

    try:
        reading = [
            asyncio.ensure_future(read(c, queries[i % len(queries)], random.Random(i)))
            for i, c in enumerate(readers)
        ]
        await wait_until(lambda: len(reading_now) == len(readers), 5, "every reader to be reading")
        started = time.monotonic()
        reply = await call(http_server_client, "POST", "/api/full_reset")
        took = time.monotonic() - started
        finished_before_the_readers = time.monotonic() < stop
        done = await asyncio.gather(*reading)
    finally:
        for conn in readers:
            await conn.close()
    assert reply.status == 200, reply.body
    assert finished_before_the_readers, (
        f"the reset took {took:.1f} s: it finished only when the reads stopped"
    )
    assert min(done) > 10  # every reader kept reading meanwhile
    assert await db.count_sessions() == 0
