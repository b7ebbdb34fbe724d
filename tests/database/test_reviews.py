"""POST /api/study_sessions/{id}/words/{word_id}/review: strictly a boolean, 201 with the stored item."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random

import pytest
import tornado.httpclient

from ..helpers import Db, History, call, send


def path(session: int | str, word: int | str) -> str:
    return f"/api/study_sessions/{session}/words/{word}/review"


@pytest.mark.parametrize("correct", [True, False])
async def test_records_a_review(http_server_client, db: Db, history: History, correct):
    session, word = history.sessions[2], history.words["水"]
    before = await db.fetchval("count_reviews")
    reply = await call(http_server_client, "POST", path(session, word), {"correct": correct})
    assert reply.status == 201
    item = reply.json["review_item"]
    assert set(item) == {"id", "word_id", "study_session_id", "correct", "created_at"}
    assert (item["word_id"], item["study_session_id"], item["correct"]) == (word, session, correct)
    row = await db.fetchrow("review_row", item["id"])
    assert row["correct"] is correct
    assert row["created_at"] == dt.datetime.fromisoformat(item["created_at"])
    assert await db.fetchval("count_reviews") == before + 1


async def test_reviews_show_in_the_session_and_word(http_server_client, history: History):
    session, word = history.sessions[2], history.words["水"]
    for correct in (True, True, False):
        await call(http_server_client, "POST", path(session, word), {"correct": correct})
    words = await call(http_server_client, "GET", f"/api/study_sessions/{session}/words")
    assert [(w["kanji"], w["correct_count"], w["wrong_count"]) for w in words.json["items"]] == [("水", 2, 1)]
    one = await call(http_server_client, "GET", f"/api/words/{word}")
    assert (one.json["word"]["correct_count"], one.json["word"]["wrong_count"]) == (2, 2)  # 1 wrong before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"correct": 1}, "correct must be true or false, got 1"),
        ({"correct": 0}, "correct must be true or false, got 0"),
        ({"correct": "true"}, 'correct must be true or false, got the string "true"'),
        ({"correct": None}, "correct must be true or false, got null"),
        ({"correct": [True]}, "correct must be true or false, got an array"),
        ({}, "correct is required"),
        ({"correct": True, "extra": 1}, "extra is not a known field (allowed: correct)"),
        ([True], "the request body must be a JSON object"),
    ],
)
async def test_only_a_boolean_is_accepted(http_server_client, db: Db, history: History, body, message):
    before = await db.fetchval("count_reviews")
    reply = await call(http_server_client, "POST", path(history.sessions[0], history.words["水"]), body)
    assert reply.status == 400
    assert message in reply.json["error"]
    assert await db.fetchval("count_reviews") == before


async def test_body_must_be_json(http_server_client, db: Db, history: History):
    reply = await call(
        http_server_client,
        "POST",
        path(history.sessions[0], history.words["水"]),
        "correct=true",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 415


async def test_unknown_session(http_server_client, db: Db, history: History):
    reply = await call(http_server_client, "POST", path(999, history.words["水"]), {"correct": True})
    assert reply.status == 404
    assert reply.json["error"] == "study session 999 not found"
    assert reply.json["details"] == [{"field": "study_session_id", "message": "study session 999 not found"}]


async def test_unknown_word(http_server_client, db: Db, history: History):
    before = await db.fetchval("count_reviews")
    reply = await call(http_server_client, "POST", path(history.sessions[0], 999), {"correct": False})
    assert reply.status == 404
    assert reply.json["error"] == "word 999 not found"
    assert await db.fetchval("count_reviews") == before


async def test_both_unknown(http_server_client, db: Db, history: History):
    reply = await call(http_server_client, "POST", path(998, 999), {"correct": False})
    assert reply.status == 404
    assert reply.json["error"] == "study session 998 not found; word 999 not found"


@pytest.mark.parametrize(("session", "word"), [("x", "1"), ("1", "x"), ("0", "1"), ("1", "2147483648")])
async def test_bad_ids(http_server_client, db: Db, history: History, session, word):
    reply = await call(http_server_client, "POST", path(session, word), {"correct": True})
    assert reply.status == 400
    assert "id must be an integer from 1 to 2147483647" in reply.json["error"]


async def test_get_is_not_allowed(http_server_client, history: History):
    reply = await send(http_server_client, "GET", path(history.sessions[0], history.words["水"]))
    assert reply.status == 405
    assert reply.headers["Allow"] == "POST, OPTIONS"


async def test_concurrent_reviews_share_statements_and_each_gets_its_own_answer(
    http_server_client, db: Db, history: History
):
    """Answers arriving together go out in shared statements (one transaction each, so one
    created_at per batch), and every answer still matches its own request, 404s included."""
    rng = random.Random(12)
    sessions = [*history.sessions, 999]
    words = [*history.words.values(), 888]
    requests = [(rng.choice(sessions), rng.choice(words), rng.random() < 0.5) for _ in range(300)]
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=300)
    try:
        replies = await asyncio.gather(
            *(
                client.fetch(
                    http_server_client.get_url(path(session, word)),
                    method="POST",
                    body=json.dumps({"correct": correct}),
                    headers={"Content-Type": "application/json"},
                    raise_error=False,
                )
                for session, word, correct in requests
            )
        )
    finally:
        client.close()
    moments = set()
    created = 0
    for (session, word, correct), reply in zip(requests, replies, strict=True):
        answer = json.loads(reply.body)
        if session != 999 and word != 888:
            assert reply.code == 201, answer
            item = answer["review_item"]
            assert (item["study_session_id"], item["word_id"], item["correct"]) == (session, word, correct)
            row = await db.fetchrow("review_row", item["id"])
            assert (row["study_session_id"], row["word_id"], row["correct"]) == (session, word, correct)
            moments.add(item["created_at"])
            created += 1
        else:
            assert reply.code == 404
            assert ("study session 999 not found" in answer["error"]) == (session == 999)
            assert ("word 888 not found" in answer["error"]) == (word == 888)
    assert created > 100
    assert await db.fetchval("count_reviews") == created + 5  # the history's own five
    assert len(moments) < created / 2  # batched: many answers shared a transaction
