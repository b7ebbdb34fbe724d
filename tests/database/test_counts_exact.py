"""Every count the API shows is exact (issue 12): after concurrent writes through the app, resets
and deletes, each is compared with a plain count(*) recomputation over the history
(tests/sql/fixtures.sql, exact_*). The API reads counters kept by triggers (migration 0005), and
finds where a page by number starts from counts per stretch of time (migration 0008): those are
compared with their recomputation too, and deep pages with a plain OFFSET."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import random

import asyncpg
import pytest

from langportal import portaldb, serving
from langportal.handlers import make_app, pagination
from langportal.handlers.base import APIHandler
from langportal.portaldb import idempotency as stored_keys
from langportal.portaldb.migrations import discover

from ..helpers import FIXTURE_SQL, Db, call, send, wait_until


@pytest.fixture
def app(pool, demo):
    return make_app(pool, allow_reset=True)


async def get(client, path: str) -> dict:
    reply = await call(client, "GET", path)
    assert reply.status == 200, (path, reply.body)
    return reply.json


async def assert_counts_exact(client, db: Db) -> dict:
    """Every count the API exposes against its recomputation; returns the recomputed totals."""
    exact = dict(await db.fetchrow("exact_totals"))
    stats = await get(client, "/api/dashboard/quick_stats")
    assert stats == {
        "success_rate": exact["success_rate"],
        "total_study_sessions": exact["total_study_sessions"],
        "total_active_groups": exact["total_active_groups"],
        "study_streak_days": exact["study_streak_days"],
    }
    progress = await get(client, "/api/dashboard/study_progress")
    assert progress == {
        "total_words_studied": exact["total_words_studied"],
        "total_available_words": exact["total_available_words"],
    }
    listed = await get(client, "/api/study_sessions?per_page=1")
    assert listed["pagination"]["total_items"] == exact["total_study_sessions"]

    for row in await db.pool.fetch(FIXTURE_SQL.exact_group_session_counts):
        page = await get(client, f"/api/groups/{row['id']}/study_sessions?per_page=1")
        assert page["pagination"]["total_items"] == row["sessions"], f"group {row['id']}"
    for row in await db.pool.fetch(FIXTURE_SQL.exact_activity_session_counts):
        page = await get(client, f"/api/study_activities/{row['id']}/study_sessions?per_page=1")
        assert page["pagination"]["total_items"] == row["sessions"], f"activity {row['id']}"

    words = {
        row["id"]: (row["correct_count"], row["wrong_count"])
        for row in await db.pool.fetch(FIXTURE_SQL.exact_word_review_counts)
    }
    all_words = await get(client, "/api/words?per_page=500&sort_by=wrong_count&order=desc")
    assert all_words["pagination"]["total_items"] == len(words)
    assert {w["id"]: (w["correct_count"], w["wrong_count"]) for w in all_words["items"]} == words
    wrongs = [w["wrong_count"] for w in all_words["items"]]
    assert wrongs == sorted(wrongs, reverse=True)
    for word_id in list(words)[:3]:
        word = (await get(client, f"/api/words/{word_id}"))["word"]
        assert (word["correct_count"], word["wrong_count"]) == words[word_id]

    group_words = {row["id"]: row["word_count"] for row in await db.pool.fetch(FIXTURE_SQL.group_word_counts)}
    groups = await get(client, "/api/groups?per_page=500")
    assert {g["id"]: g["word_count"] for g in groups["items"]} == group_words
    for group_id, word_count in group_words.items():
        group = (await get(client, f"/api/groups/{group_id}"))["group"]
        assert group["stats"]["total_word_count"] == word_count
        members = await get(client, f"/api/groups/{group_id}/words?per_page=500")
        assert members["pagination"]["total_items"] == word_count
        for w in members["items"]:
            assert (w["correct_count"], w["wrong_count"]) == words[w["id"]]

    stretches = [tuple(r) for r in await db.pool.fetch(FIXTURE_SQL.session_stretch_counts)]
    assert stretches == [tuple(r) for r in await db.pool.fetch(FIXTURE_SQL.exact_session_stretch_counts)]

    sessions = {
        r["id"]: (r["reviews"], r["words"])
        for r in await db.pool.fetch(FIXTURE_SQL.exact_session_review_counts)
    }
    newest = await get(client, "/api/study_sessions?per_page=20")
    for item in newest["items"]:
        assert item["review_items_count"] == sessions[item["id"]][0]
        reviewed = await get(client, f"/api/study_sessions/{item['id']}/words?per_page=1")
        assert reviewed["pagination"]["total_items"] == sessions[item["id"]][1]
    return exact


async def launch_and_review(
    client, sessions: int, reviews: int, seed: int, *, racing_a_reset: bool = False
) -> list[int]:
    """``sessions`` launches at once (some naming a group or activity that does not exist), then
    ``reviews`` answers at once on the sessions made, some naming a word that does not exist."""
    rng = random.Random(seed)
    bodies = [
        {"group_id": rng.choice([1, 2, 3, 3, 99]), "study_activity_id": rng.choice([1, 2, 3, 77])}
        for _ in range(sessions)
    ]
    replies = await asyncio.gather(*(send(client, "POST", "/api/study_sessions", body) for body in bodies))
    assert {r.status for r in replies} <= {201, 404}
    made = [r.json["study_session"]["id"] for r in replies if r.status == 201]
    if racing_a_reset and not made:
        return made
    assert made
    answers = [
        (rng.choice(made), rng.choice([*range(1, 103), 5000]), rng.random() < 0.7) for _ in range(reviews)
    ]
    replies = await asyncio.gather(
        *(
            send(client, "POST", f"/api/study_sessions/{sid}/words/{wid}/review", {"correct": correct})
            for sid, wid, correct in answers
        )
    )
    assert {r.status for r in replies} <= {201, 404}
    assert racing_a_reset or any(r.status == 201 for r in replies)  # a reset may delete them all first
    return made


async def _more_sessions_than(db: Db, count: int) -> bool:
    return await db.count_sessions() > count


async def test_counts_after_concurrent_launches_and_reviews(http_server_client, db: Db):
    await assert_counts_exact(http_server_client, db)  # the demo data: no history yet
    await launch_and_review(http_server_client, 300, 600, seed=1)
    exact = await assert_counts_exact(http_server_client, db)
    assert exact["total_study_sessions"] > 150
    assert exact["total_reviews"] > 300
    assert exact["study_streak_days"] == 1  # all today


async def test_counts_while_launches_reviews_and_a_reset_race(http_server_client, db: Db):
    """A reset in the middle of concurrent writes: whatever committed after it is counted."""
    before = len(await launch_and_review(http_server_client, 100, 200, seed=2))
    writes = asyncio.ensure_future(
        launch_and_review(http_server_client, 200, 300, seed=3, racing_a_reset=True)
    )
    # the reset comes once some of the racing launches committed, and ends before the writes do
    await wait_until(lambda: _more_sessions_than(db, before), 10, "some racing launches to commit")
    reset = await call(http_server_client, "POST", "/api/reset_history")
    assert reset.status == 200, reset.body
    assert reset.json["deleted"]["study_sessions"] > before  # it deleted some of the racing writes
    assert not writes.done()  # and more of them came after it: the two overlapped
    await writes  # every answer still a 201 or a 404: no deadlock, no 500 from the race
    await assert_counts_exact(http_server_client, db)
    reset = await call(http_server_client, "POST", "/api/reset_history")
    exact = await assert_counts_exact(http_server_client, db)
    assert exact["total_study_sessions"] == 0
    assert exact["success_rate"] is None
    assert exact["study_streak_days"] == 0


async def test_counts_after_full_reset_and_more_writes(http_server_client, db: Db):
    await launch_and_review(http_server_client, 100, 150, seed=4)
    reply = await call(http_server_client, "POST", "/api/full_reset")  # TRUNCATE: no row triggers
    assert reply.status == 200, reply.body
    exact = await assert_counts_exact(http_server_client, db)
    assert exact["total_study_sessions"] == 0
    assert exact["total_reviews"] == 0
    await launch_and_review(http_server_client, 50, 80, seed=5)
    await assert_counts_exact(http_server_client, db)


async def test_resets_of_both_kinds_race_writes_and_reads(http_server_client, db: Db):
    """Full resets and resets of the history at once, among launches, answers and reads (what
    schemathesis's two workers did when they met a deadlock between POST /api/full_reset and a
    request holding one table while asking for another): every request gets its answer, none a
    5xx, and every count is exact after."""
    await launch_and_review(http_server_client, 40, 60, seed=30)
    rng = random.Random(31)
    reads = [
        "/api/study_sessions?per_page=5",
        "/api/dashboard/quick_stats",
        "/api/groups/1/words?per_page=5",
        "/api/study_sessions/3/words?per_page=5",
        "/api/words?per_page=5&sort_by=wrong_count",
    ]
    requests = []
    for _ in range(3):
        requests += [("POST", "/api/full_reset", None), ("POST", "/api/reset_history", None)]
        requests += [
            ("POST", "/api/study_sessions", {"group_id": rng.randint(1, 3), "study_activity_id": 1})
            for _ in range(30)
        ]
        requests += [
            (
                "POST",
                f"/api/study_sessions/{rng.randint(1, 80)}/words/{rng.randint(1, 102)}/review",
                {"correct": rng.random() < 0.5},
            )
            for _ in range(30)
        ]
        requests += [("GET", rng.choice(reads), None) for _ in range(20)]
    rng.shuffle(requests)
    replies = await asyncio.gather(*(send(http_server_client, *request) for request in requests))
    statuses = collections.Counter(r.status for r in replies)
    assert set(statuses) <= {200, 201, 404}, [r.body for r in replies if r.status >= 500][:3]
    resets = [r.status for (_, path, _), r in zip(requests, replies, strict=True) if "reset" in path]
    assert resets == [200] * 6
    await assert_counts_exact(http_server_client, db)


async def test_counts_after_deletes_and_updates(http_server_client, db: Db):
    made = await launch_and_review(http_server_client, 120, 400, seed=6)
    await db.pool.execute(FIXTURE_SQL.delete_word, 7)  # its reviews go by ON DELETE CASCADE
    await assert_counts_exact(http_server_client, db)
    await db.pool.execute(FIXTURE_SQL.delete_reviews_of_session, made[0])
    await db.pool.execute(FIXTURE_SQL.flip_reviews_of_word, 8)  # UPDATE: right becomes wrong
    await assert_counts_exact(http_server_client, db)
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    await db.pool.execute(FIXTURE_SQL.move_study_session, made[1], yesterday, 2)  # UPDATE: day and group
    exact = await assert_counts_exact(http_server_client, db)
    assert exact["study_streak_days"] == 2
    await db.pool.execute(
        FIXTURE_SQL.delete_study_sessions_before, dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    )
    exact = await assert_counts_exact(http_server_client, db)
    assert exact["total_study_sessions"] == 0


@pytest.mark.parametrize(
    ("days_ago", "removed", "streak_before", "streak_after"),
    [
        ([0, 1, 2, 3, 5, 6], [2], 4, 2),  # a run through today, broken in the middle
        ([1, 2, 3, 9], [1], 3, 0),  # ends yesterday: counts; then it ends two days ago: 0
        ([0, 2, 3], [0], 1, 0),  # only today; then the newest run ends two days ago
        ([3, 4], [], 0, 0),  # the newest day is too old
        ([0, 1, 2, 4], [3], 3, 3),  # removing a day with no session changes nothing
        ([0, 1, 3, 4, 5], [2], 2, 2),
    ],
)
async def test_streak_follows_inserts_and_deletes(
    http_server_client, db: Db, days_ago, removed, streak_before, streak_after
):
    await db.pool.execute(FIXTURE_SQL.insert_study_sessions_days_ago, days_ago, 1, 1)
    assert (await assert_counts_exact(http_server_client, db))["study_streak_days"] == streak_before
    await db.pool.execute(FIXTURE_SQL.delete_study_sessions_days_ago, removed)
    assert (await assert_counts_exact(http_server_client, db))["study_streak_days"] == streak_after
    # a missing day filled in joins two runs
    await db.pool.execute(FIXTURE_SQL.insert_study_sessions_days_ago, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 2, 2)
    assert (await assert_counts_exact(http_server_client, db))["study_streak_days"] == 10


async def test_migration_counts_the_history_already_there(scratch_schema):
    """Migration 0005 on a database with a history: its counters start exact (the backfill)."""
    conn = scratch_schema
    migrations = discover()
    for migration in migrations[:4]:
        await conn.execute(migration.sql)
    await portaldb.restore_demo(conn, portaldb.load_queries())
    await conn.execute(FIXTURE_SQL.insert_study_sessions_days_ago, [0, 1, 2, 5, 6], 1, 2)
    await conn.execute(FIXTURE_SQL.insert_study_sessions_days_ago, [1, 5], 3, 1)
    sessions = [r["id"] for r in await conn.fetch(FIXTURE_SQL.all_study_session_ids)]
    for i, session in enumerate(sessions * 3):
        await conn.execute(
            FIXTURE_SQL.insert_review_at, session, 1 + i % 5, i % 3 == 0, dt.datetime.now(dt.UTC)
        )
    await conn.execute(migrations[4].sql)
    counters = await conn.fetchrow(FIXTURE_SQL.counter_tables_backfilled)
    exact = await conn.fetchrow(FIXTURE_SQL.exact_totals)
    assert counters["sessions"] == exact["total_study_sessions"] == 7
    assert counters["reviews"] == exact["total_reviews"] == 21
    assert counters["correct_reviews"] == 7
    by_group = {int(k): v for k, v in json.loads(counters["by_group"]).items()}
    assert by_group == {1: 5, 3: 2}
    today = dt.datetime.now(dt.UTC).date()
    days = json.loads(counters["days"])
    assert {dt.date.fromisoformat(k): dt.date.fromisoformat(v) for k, v in days.items()} == {
        today: today - dt.timedelta(days=2),
        today - dt.timedelta(days=1): today - dt.timedelta(days=2),
        today - dt.timedelta(days=2): today - dt.timedelta(days=2),
        today - dt.timedelta(days=5): today - dt.timedelta(days=6),
        today - dt.timedelta(days=6): today - dt.timedelta(days=6),
    }


async def test_migration_counts_the_sessions_already_there_by_stretch(scratch_schema):
    """Migration 0008 on a database with a history: its stretch counts start exact (the backfill)."""
    conn = scratch_schema
    migrations = discover()
    for migration in migrations[:7]:
        await conn.execute(migration.sql)
    await portaldb.restore_demo(conn, portaldb.load_queries())
    moments = _moments(random.Random(15))
    await conn.execute(FIXTURE_SQL.insert_study_sessions_at, moments, [1] * len(moments), [2] * len(moments))
    await conn.execute(migrations[7].sql)
    counted = [tuple(r) for r in await conn.fetch(FIXTURE_SQL.session_stretch_counts)]
    assert counted == [tuple(r) for r in await conn.fetch(FIXTURE_SQL.exact_session_stretch_counts)]
    assert sum(n for level, _, n in counted if level == 3) == len(moments)


@pytest.fixture
def scratch_schema(io_loop, pool, direct_database_url):
    """A connection whose tables live in an empty schema of its own (reached directly: a session
    search_path is state a transaction pooler cannot carry)."""
    io_loop.run_sync(lambda: pool.execute(FIXTURE_SQL.reset_scratch_schema))
    conn = io_loop.run_sync(
        lambda: asyncpg.connect(
            direct_database_url, server_settings={"search_path": "langportal_migration_test"}
        )
    )
    yield conn
    io_loop.run_sync(conn.close)
    io_loop.run_sync(lambda: pool.execute(FIXTURE_SQL.drop_scratch_schema))


def _moments(rng: random.Random) -> list[dt.datetime]:
    """Session times of every shape the stretch counters meet: a burst in one second (a load
    test), seconds on both sides of a boundary of every level, a history spread thin over years,
    before 1970 too, and microseconds at both ends of a second."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    burst = [now - dt.timedelta(seconds=3)] * 40 + [now - dt.timedelta(seconds=3, microseconds=1)] * 5
    edges = []
    for level in range(4):
        width = 256**level
        boundary = dt.datetime.fromtimestamp((int(now.timestamp()) // width - 2) * width, dt.UTC)
        edges += [
            boundary - dt.timedelta(microseconds=1),
            boundary,
            boundary + dt.timedelta(microseconds=999_999),
        ]
    thin = [now - dt.timedelta(minutes=50 * i) for i in range(1, 300)]
    years = [
        now - dt.timedelta(days=rng.randrange(1, 40 * 365), seconds=rng.randrange(86_400)) for _ in range(200)
    ]
    before_1970 = [
        dt.datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
        dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
        dt.datetime(1901, 5, 6, 7, 8, 9, tzinfo=dt.UTC),
        dt.datetime(100, 2, 3, 4, 5, 6, tzinfo=dt.UTC),  # (asyncpg sends year 1 as -infinity)
    ]
    return burst + edges + thin + years + before_1970


async def assert_pages_match_offset(client, db: Db) -> int:
    """Every session list's pages by number, at many depths, against a plain OFFSET."""
    lists = [("/api/study_sessions", None, None)]
    lists += [(f"/api/groups/{g}/study_sessions", g, None) for g in (1, 3)]
    lists += [(f"/api/study_activities/{a}/study_sessions", None, a) for a in (1, 2)]
    compared = 0
    for path, group_id, activity_id in lists:
        length = await db.fetchval("session_list_length", group_id, activity_id)
        for per_page in (1, 7, 50):
            last = max(1, -(-length // per_page))
            pages = {2, 3, last - 1, last, last + 1, (last + 1) // 2, (last + 3) // 4}
            for page in sorted(p for p in pages if p >= 2):
                got = await get(client, f"{path}?page={page}&per_page={per_page}")
                expected = await db.pool.fetch(
                    FIXTURE_SQL.session_page_by_offset, group_id, activity_id, per_page, (page - 1) * per_page
                )
                assert [i["id"] for i in got["items"]] == [r["id"] for r in expected], (path, page, per_page)
                assert got["pagination"]["total_items"] == length
                compared += 1
    return compared


@pytest.fixture(params=["stretch counts from page 2", "OFFSET: this history is under DEEP_OFFSET"])
def deep_offset(request, monkeypatch) -> int:
    """Where the list of every session starts finding its pages from the stretch counts: from the
    first session down (so this small history goes that way at every depth), or at the default
    depth, which this small history does not reach (its pages are then read with OFFSET, and the
    test checks those statements)."""
    if request.param == "stretch counts from page 2":
        monkeypatch.setattr(pagination, "DEEP_OFFSET", 1)
    return pagination.DEEP_OFFSET


async def test_pages_by_number_start_where_an_offset_would(http_server_client, db: Db, deep_offset):
    """?page=N deep into the list of every session is found from the counts per stretch of time,
    not by OFFSET: it must still be the page an OFFSET gives, in every list, at every depth, after
    inserts, updates and deletes."""
    rng = random.Random(12)
    moments = _moments(rng)
    groups = [rng.choice([1, 2, 3]) for _ in moments]
    activities = [rng.choice([1, 2, 3]) for _ in moments]
    await db.pool.execute(FIXTURE_SQL.insert_study_sessions_at, moments, groups, activities)
    await launch_and_review(http_server_client, 120, 10, seed=13)  # the newest: through the app
    assert await assert_pages_match_offset(http_server_client, db) > 80
    await assert_counts_exact(http_server_client, db)

    await db.pool.execute(FIXTURE_SQL.move_study_sessions_by, 2, dt.timedelta(days=-3, seconds=17), 2)
    await db.pool.execute(FIXTURE_SQL.delete_every_third_study_session)
    await assert_pages_match_offset(http_server_client, db)
    await assert_counts_exact(http_server_client, db)

    reply = await call(http_server_client, "POST", "/api/reset_history")  # DELETE: signed changes
    assert reply.status == 200, reply.body
    await db.pool.execute(FIXTURE_SQL.insert_study_sessions_at, moments[:60], groups[:60], activities[:60])
    await assert_pages_match_offset(http_server_client, db)
    await assert_counts_exact(http_server_client, db)


async def test_a_page_from_the_default_depth_down_is_found_from_the_stretch_counts(
    http_server_client, db: Db, monkeypatch
):
    """From DEEP_OFFSET sessions down the app takes the statement that reads the stretch counts;
    its pages are the ones an OFFSET gives, on both sides of that depth."""
    run: list[str] = []
    fetch = APIHandler.fetch

    async def recording_fetch(self, query, *args):
        run.append(query)
        return await fetch(self, query, *args)

    monkeypatch.setattr(APIHandler, "fetch", recording_fetch)
    now = dt.datetime.now(dt.UTC)
    count = pagination.DEEP_OFFSET + 2_500
    moments = [now - dt.timedelta(seconds=i // 7, microseconds=i) for i in range(count)]  # 7 a second
    await db.pool.execute(FIXTURE_SQL.insert_study_sessions_at, moments, [1] * count, [2] * count)
    for page, per_page in [(20, 500), (21, 500), (22, 500), (10_001, 1), (10_000, 1), (26, 500)]:
        got = await get(http_server_client, f"/api/study_sessions?page={page}&per_page={per_page}")
        expected = await db.pool.fetch(
            FIXTURE_SQL.session_page_by_offset, None, None, per_page, (page - 1) * per_page
        )
        assert [i["id"] for i in got["items"]] == [r["id"] for r in expected], (page, per_page)
        assert got["pagination"]["total_items"] == count
        deep = (page - 1) * per_page >= pagination.DEEP_OFFSET
        assert run.pop() == ("list_study_sessions_deep" if deep else "list_study_sessions"), (page, per_page)


async def test_a_page_past_the_end_of_a_list_is_empty(http_server_client, db: Db):
    await launch_and_review(http_server_client, 30, 1, seed=14)
    total = await db.count_sessions()
    for page in (total + 1, total + 2, 2_000_000):
        got = await get(http_server_client, f"/api/study_sessions?page={page}&per_page=1")
        assert got["items"] == []
        assert got["pagination"]["total_items"] == total
    got = await get(http_server_client, "/api/groups/3/study_sessions?page=999&per_page=500")
    assert got["items"] == []


@pytest.mark.parametrize(
    "moment", ["infinity", "-infinity", "10000-01-01 00:00:00+00", "0001-12-31 23:59:59.999999+00 BC"]
)
async def test_a_session_starts_between_the_years_1_and_9999(db: Db, demo, moment: str):
    """No second to be counted in, or none the server could show (migration 0008)."""
    with pytest.raises(asyncpg.CheckViolationError, match="study_sessions_created_at_in_range"):
        await db.pool.execute(FIXTURE_SQL.insert_study_session_at_time_named, moment)
    assert await db.count_sessions() == 0
    for edge in ("0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00"):
        await db.pool.execute(FIXTURE_SQL.insert_study_session_at_time_named, edge)
    assert await db.count_sessions() == 2


async def test_a_reset_of_the_history_empties_the_stretch_counts(http_server_client, db: Db):
    """POST /api/reset_history holds session writers off, so its delete empties the stretch counts
    (no signed change per stretch); a delete of everything by hand, which does not, leaves rows
    that sum to 0. Both keep the counts exact."""
    moments = _moments(random.Random(16))
    await db.pool.execute(
        FIXTURE_SQL.insert_study_sessions_at, moments, [1] * len(moments), [2] * len(moments)
    )
    await launch_and_review(http_server_client, 40, 20, seed=17)
    assert await db.fetchval("count_stretch_rows") > len(moments)
    reply = await call(http_server_client, "POST", "/api/reset_history")
    assert reply.status == 200, reply.body
    assert await db.fetchval("count_stretch_rows") == 0
    await launch_and_review(http_server_client, 40, 20, seed=18)
    await assert_counts_exact(http_server_client, db)
    rows = await db.fetchval("count_stretch_rows")
    await db.pool.execute(
        FIXTURE_SQL.delete_study_sessions_before, dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    )
    assert await db.fetchval("count_stretch_rows") >= rows  # signed changes, summing to 0
    await assert_counts_exact(http_server_client, db)
    assert await db.count_sessions() == 0


async def _a_minute_of_sessions(db: Db) -> list[int]:
    """59 sessions, one a second over the last minute; the ids of the page 20 sessions long from 5
    down, read by a plain OFFSET."""
    now = dt.datetime.now(dt.UTC)
    moments = [now - dt.timedelta(seconds=i) for i in range(1, 60)]
    await db.pool.execute(
        FIXTURE_SQL.insert_study_sessions_at, moments, [1] * len(moments), [2] * len(moments)
    )
    return [r["id"] for r in await db.pool.fetch(FIXTURE_SQL.session_page_by_offset, None, None, 5, 20)]


async def test_a_deep_page_reads_its_counts_and_its_sessions_in_one_snapshot(
    db: Db, demo, direct_database_url
):
    """session_list_start() is STABLE: it reads the stretch counts with the snapshot of the
    statement that calls it. Sessions committed while that statement runs are in neither its counts
    nor its page; a function that took a snapshot of its own would see their counts, not their
    rows, and start the page too far down."""
    expected = await _a_minute_of_sessions(db)
    queries = portaldb.load_queries()
    reader = await asyncpg.connect(direct_database_url)
    writer = await asyncpg.connect(direct_database_url)
    try:
        async with writer.transaction():
            await writer.execute(FIXTURE_SQL.lock_stretch_counts)  # the reader's function waits here
            reading = asyncio.ensure_future(reader.fetch(queries.list_study_sessions_deep, 5, 20))
            await wait_until(
                lambda: writer.fetchval(FIXTURE_SQL.waits_for_a_lock, reader.get_server_pid()),
                5,
                "the deep page to wait for the stretch counts",
            )
            newer = [dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)] * 3  # newer than every one
            await writer.execute(FIXTURE_SQL.insert_study_sessions_at, newer, [1] * 3, [2] * 3)
        rows = await reading
        assert [r["id"] for r in rows] == expected
    finally:
        await reader.close()
        await writer.close()


async def fold_all(db: Db, settled: int) -> int:
    """The server's fold, run after run, until it has folded up to the second ``settled`` (a run
    folds six hours at most); the rows removed in all."""
    removed = 0
    for _ in range(20):
        removed += await portaldb.fold_session_stretches(db.pool) or 0
        if await db.fetchval("stretches_folded_until") >= settled:
            return removed
    pytest.fail("the fold did not catch up")


async def _insert_through(connections, moments_per_connection) -> None:
    """Each connection inserts its sessions (its own slot, as a pool's connections do)."""
    await asyncio.gather(
        *(
            conn.execute(
                FIXTURE_SQL.insert_study_sessions_at, moments, [1] * len(moments), [2] * len(moments)
            )
            for conn, moments in zip(connections, moments_per_connection, strict=True)
        )
    )


async def test_folding_leaves_one_row_per_ended_stretch_and_the_counts_exact(
    http_server_client, db: Db, direct_database_url, monkeypatch
):
    """fold_session_stretches() (run every minute by the server): every stretch that ended since
    the last fold and more than five minutes ago ends with one row, stretches emptied by a delete
    with none; the stretches still being written keep theirs; the counts stay exact, the pages by
    number the same, while writes by hand into the stretches being folded go on."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    since = now - dt.timedelta(days=2)
    await db.pool.execute(FIXTURE_SQL.set_stretches_folded_until, since)
    rng = random.Random(19)
    connections = [await asyncpg.connect(direct_database_url) for _ in range(6)]
    try:
        past = [
            [now - dt.timedelta(seconds=rng.randrange(400, 40 * 3600)) for _ in range(40)]
            for _ in connections
        ]
        shared_second = now - dt.timedelta(hours=3)  # one second written by every connection
        recent = now - dt.timedelta(seconds=30)  # not folded: it may still be written
        await _insert_through(connections, [[*m, shared_second, recent] for m in past])
        emptied = past[0][0]
        await db.pool.execute(FIXTURE_SQL.delete_study_sessions_at, emptied)  # leaves rows summing to 0
        assert await db.fetchval("slots_in_stretches") >= 2
        settled = await db.fetchval("epoch_second_of", now) - 300
        first = await db.fetchval("epoch_second_of", since)
        assert await db.pool.fetch(FIXTURE_SQL.unfolded_stretches, first, settled)  # something to fold

        more = [
            [now - dt.timedelta(seconds=rng.randrange(400, 40 * 3600)) for _ in range(30)]
            for _ in connections
        ]
        removed, _ = await asyncio.gather(fold_all(db, settled), _insert_through(connections, more))
        assert removed > 0
        await assert_counts_exact(http_server_client, db)
        # What the writes by hand added to a stretch the fold had done is folded by no later run
        # (a stretch is folded once); without them nothing is left unfolded:
        await db.pool.execute(FIXTURE_SQL.set_stretches_folded_until, since)
        await fold_all(db, settled)
        assert await db.pool.fetch(FIXTURE_SQL.unfolded_stretches, first, settled) == []
        recent_second = await db.fetchval("epoch_second_of", recent)
        # the recent second, 30 s old, is left alone: it may still be written
        assert await db.pool.fetchval(FIXTURE_SQL.stretch_rows_at, 0, recent_second) >= 2
        await assert_counts_exact(http_server_client, db)
        monkeypatch.setattr(pagination, "DEEP_OFFSET", 1)
        await assert_pages_match_offset(http_server_client, db)
    finally:
        for conn in connections:
            await conn.close()


async def test_one_process_folds_at_a_time(db: Db, demo):
    """Another folder skips at once (SKIP LOCKED), rather than waiting for the one folding."""
    async with db.pool.acquire() as holder, holder.transaction():
        await holder.execute(FIXTURE_SQL.hold_the_fold)
        assert await asyncio.wait_for(portaldb.fold_session_stretches(db.pool), 2) is None
    assert await portaldb.fold_session_stretches(db.pool) is not None


async def test_a_write_waiting_on_a_row_the_fold_deletes_is_counted(db: Db, demo, direct_database_url):
    """A writer that comes to a row while the fold holds it (locked, then deleted and handed to slot
    0) inserts a row of its own once the fold commits: nothing counted twice, nothing lost."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    second = [now - dt.timedelta(hours=1)]
    await db.pool.execute(FIXTURE_SQL.set_stretches_folded_until, now - dt.timedelta(hours=2))
    folder, writer, other = [await asyncpg.connect(direct_database_url) for _ in range(3)]
    try:
        await _insert_through([writer, other], [second, second])
        settled = await db.fetchval("epoch_second_of", now) - 300
        async with folder.transaction():
            assert await folder.fetchval(FIXTURE_SQL.fold_until, settled) > 0
            writing = asyncio.ensure_future(_insert_through([writer], [second]))
            await wait_until(
                lambda: db.fetchval("waits_for_a_lock", writer.get_server_pid()),
                5,
                "the writer to wait for the fold",
            )
        await writing
        stretches = [tuple(r) for r in await db.pool.fetch(FIXTURE_SQL.session_stretch_counts)]
        assert stretches == [tuple(r) for r in await db.pool.fetch(FIXTURE_SQL.exact_session_stretch_counts)]
    finally:
        for conn in (folder, writer, other):
            await conn.close()


async def test_the_fold_stops_at_stretches_that_have_not_ended(db: Db, demo, direct_database_url):
    """A stretch has ended when its last second is before `settled`: the second just before it is
    folded, the second `settled` itself is not."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    await db.pool.execute(FIXTURE_SQL.set_stretches_folded_until, now - dt.timedelta(hours=2))
    settled_moment = now - dt.timedelta(minutes=10)
    before, at = settled_moment - dt.timedelta(seconds=1), settled_moment
    connections = [await asyncpg.connect(direct_database_url) for _ in range(4)]
    try:
        await _insert_through(connections, [[before, at] for _ in connections])
    finally:
        for conn in connections:
            await conn.close()
    settled = await db.fetchval("epoch_second_of", settled_moment)
    assert await db.pool.fetchval(FIXTURE_SQL.stretch_rows_at, 0, settled) >= 2
    await db.pool.fetchval(FIXTURE_SQL.fold_until, settled)
    assert await db.pool.fetchval(FIXTURE_SQL.stretch_rows_at, 0, settled - 1) == 1
    assert await db.pool.fetchval(FIXTURE_SQL.stretch_rows_at, 0, settled) >= 2
    assert await db.fetchval("stretches_folded_until") == settled


async def test_a_reset_and_a_launch_that_took_over_an_expired_key_both_finish(
    db: Db, demo, direct_database_url
):
    """The reset takes the keys' table before the sessions': a launch that has claimed a key (its
    row locked) and then inserts its session waits for the reset, or the reset for it, never
    each for the other. (A reader in REPEATABLE READ and the reset: tests/database/
    test_reset_at_scale.py.)"""
    await db.pool.execute(FIXTURE_SQL.expired_idempotency_key, "taken-over")
    queries = portaldb.load_queries()
    launch, reset = [await asyncpg.connect(direct_database_url) for _ in range(2)]
    try:
        async with launch.transaction():
            assert await stored_keys.claim(launch, "taken-over", "fingerprint", 60)

            resetting = asyncio.ensure_future(portaldb.reset_history(reset, queries))
            await wait_until(
                lambda: db.fetchval("waits_for_a_lock", reset.get_server_pid()),
                5,
                "the reset to wait for the launch's claimed key",
            )
            await launch.fetch(queries.create_study_sessions, [1], [1])
        deleted = await resetting
        assert deleted["study_sessions"] == 1  # the launch committed first: the reset waited for it
    finally:
        await launch.close()
        await reset.close()


async def test_the_server_folds_the_stretch_counts_now_and_then(db: Db, demo, direct_database_url):
    """langportal.serving.start_upkeep: what every serving process starts (here every 50 ms)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    await db.pool.execute(FIXTURE_SQL.set_stretches_folded_until, now - dt.timedelta(days=1))
    connections = [await asyncpg.connect(direct_database_url) for _ in range(4)]
    try:
        await _insert_through(connections, [[now - dt.timedelta(hours=2)] * 3 for _ in connections])
    finally:
        for conn in connections:
            await conn.close()
    first = await db.fetchval("epoch_second_of", now - dt.timedelta(days=1))
    settled = await db.fetchval("epoch_second_of", now) - 300
    assert await db.pool.fetch(FIXTURE_SQL.unfolded_stretches, first, settled)
    upkeep = serving.start_upkeep(db.pool, fold_seconds=0.05)
    try:

        async def folded() -> bool:
            return not await db.pool.fetch(FIXTURE_SQL.unfolded_stretches, first, settled)

        await wait_until(folded, 10, "the server's upkeep to fold the stretch counts")
    finally:
        for callback in upkeep:
            callback.stop()


@pytest.mark.parametrize("error", [asyncpg.DeadlockDetectedError, asyncpg.LockNotAvailableError])
async def test_a_fold_that_meets_a_held_lock_is_left_to_the_next_run(error, caplog):
    """A transaction writing old stretches by hand may hold rows the fold needs (it waits a second
    at most): a warning, and the next minute's run; no traceback from the periodic callback."""

    class Pool:
        async def fetchval(self, statement):
            raise error("canceling statement due to lock timeout")

    assert await portaldb.fold_session_stretches(Pool()) is None
    assert "could not fold the stretch counts now (will retry)" in caplog.text


async def test_a_reset_waits_for_a_fold_in_progress(http_server_client, db: Db, direct_database_url):
    """The reset takes the fold's marker row after holding writers off: a fold in progress ends
    first, and later ones skip until the reset ends, so the two never wait for each other's
    counter rows (a deadlock the reset could lose)."""
    await launch_and_review(http_server_client, 20, 5, seed=21)
    folding = await asyncpg.connect(direct_database_url)
    try:
        async with folding.transaction():
            await folding.execute(FIXTURE_SQL.hold_the_fold)
            resetting = asyncio.ensure_future(call(http_server_client, "POST", "/api/reset_history"))
            await wait_until(
                lambda: db.fetchval("waiting_for_the_fold_marker"),
                5,
                "the reset to wait for the fold in progress",
            )
            assert not resetting.done()
        reply = await resetting
        assert reply.status == 200, reply.body
    finally:
        await folding.close()
    assert await db.fetchval("count_stretch_rows") == 0
    await assert_counts_exact(http_server_client, db)
