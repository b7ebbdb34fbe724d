"""GET /api/dashboard/last_study_session, /study_progress and /quick_stats."""

from __future__ import annotations

import datetime as dt

import pytest

from ..helpers import Catalog, Db, History, call


async def test_last_session_is_the_newest(http_server_client, history: History):
    reply = await call(http_server_client, "GET", "/api/dashboard/last_study_session")
    assert reply.status == 200
    last = reply.json["last_study_session"]
    assert last["id"] == history.sessions[2]
    assert last["group_name"] == "Verbs"
    one = await call(http_server_client, "GET", f"/api/study_sessions/{history.sessions[2]}")
    assert last == one.json["study_session"]


async def test_no_last_session(http_server_client, db: Db):
    reply = await call(http_server_client, "GET", "/api/dashboard/last_study_session")
    assert reply.status == 200
    assert reply.json == {"last_study_session": None}


async def test_study_progress(http_server_client, db: Db, history: History):
    await db.fetchval("insert_word", "本", "hon", "book", "[]")  # never reviewed
    reply = await call(http_server_client, "GET", "/api/dashboard/study_progress")
    assert reply.status == 200
    assert reply.json == {"total_words_studied": 4, "total_available_words": 5}


async def test_study_progress_when_empty(http_server_client, db: Db):
    reply = await call(http_server_client, "GET", "/api/dashboard/study_progress")
    assert reply.json == {"total_words_studied": 0, "total_available_words": 0}


async def test_quick_stats(http_server_client, history: History):
    reply = await call(http_server_client, "GET", "/api/dashboard/quick_stats")
    assert reply.status == 200
    assert reply.json == {
        "success_rate": 60.0,  # 3 right of 5
        "total_study_sessions": 3,
        "total_active_groups": 2,  # Verbs and Food; Empty has no session
        "study_streak_days": 0,  # the sessions were in 2024
    }


async def test_quick_stats_rounds_to_one_decimal(http_server_client, db: Db, history: History):
    word = history.words["水"]
    await call(
        http_server_client,
        "POST",
        f"/api/study_sessions/{history.sessions[2]}/words/{word}/review",
        {"correct": True},
    )
    reply = await call(http_server_client, "GET", "/api/dashboard/quick_stats")
    assert reply.json["success_rate"] == 66.7  # 4 of 6


async def test_quick_stats_when_empty(http_server_client, db: Db):
    reply = await call(http_server_client, "GET", "/api/dashboard/quick_stats")
    assert reply.json == {
        "success_rate": None,
        "total_study_sessions": 0,
        "total_active_groups": 0,
        "study_streak_days": 0,
    }


@pytest.mark.parametrize(
    ("days_ago", "streak"),
    [
        ([0], 1),
        ([0, 0, 0], 1),  # several sessions in a day count once
        ([0, 1, 2], 3),
        ([0, 1, 2, 4, 5], 3),  # the run ends at the first missing day
        ([1, 2], 2),  # nothing yet today: the streak from yesterday still stands
        ([2, 3, 4], 0),  # yesterday was missed: broken
        ([0, 2, 3], 1),
        (list(range(40)), 40),
    ],
)
async def test_study_streak(http_server_client, db: Db, catalog: Catalog, days_ago, streak):
    noon = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    for days in days_ago:
        await db.fetchval(
            "insert_study_session_at", catalog.group_id, catalog.activity_id, noon - dt.timedelta(days=days)
        )
    reply = await call(http_server_client, "GET", "/api/dashboard/quick_stats")
    assert reply.json["study_streak_days"] == streak
    assert reply.json["total_study_sessions"] == len(days_ago)
