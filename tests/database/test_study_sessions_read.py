"""GET /api/study_sessions, /api/study_sessions/{id} and /api/study_sessions/{id}/words."""

from __future__ import annotations

import datetime as dt

import pytest

from ..helpers import T0, Catalog, Db, History, call


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# -- one session --------------------------------------------------------------------------------


async def test_one_session_with_names_times_and_count(http_server_client, history: History):
    s1 = history.sessions[0]
    reply = await call(http_server_client, "GET", f"/api/study_sessions/{s1}")
    assert reply.status == 200
    session = reply.json["study_session"]
    assert session["id"] == s1
    assert session["group_id"] == history.verbs
    assert session["group_name"] == "Verbs"
    assert session["study_activity_id"] == history.flashcards
    assert session["activity_name"] == "Flashcards"
    assert at(session["created_at"]) == at(session["start_time"]) == T0
    assert at(session["end_time"]) == T0 + dt.timedelta(minutes=30)  # the last review
    assert session["review_items_count"] == 3


async def test_session_without_reviews_has_no_end_time(http_server_client, history: History):
    reply = await call(http_server_client, "GET", f"/api/study_sessions/{history.sessions[2]}")
    session = reply.json["study_session"]
    assert session["end_time"] is None
    assert session["review_items_count"] == 0
    assert at(session["start_time"]) == history.times[2]


async def test_end_time_follows_a_new_review(http_server_client, db: Db, catalog: Catalog):
    created = await call(
        http_server_client, "POST", "/api/study_sessions", {"group_id": 1, "study_activity_id": 1}
    )
    session_id = created.json["study_session"]["id"]
    word = await db.fetchval("insert_word", "水", "mizu", "water", "[]")
    review = await call(
        http_server_client, "POST", f"/api/study_sessions/{session_id}/words/{word}/review", {"correct": True}
    )
    reply = await call(http_server_client, "GET", f"/api/study_sessions/{session_id}")
    session = reply.json["study_session"]
    assert session["end_time"] == review.json["review_item"]["created_at"]
    assert session["start_time"] == created.json["study_session"]["created_at"]
    assert session["review_items_count"] == 1


async def test_unknown_session_is_404(http_server_client, history: History):
    reply = await call(http_server_client, "GET", "/api/study_sessions/999")
    assert reply.status == 404
    assert reply.json["error"] == "study session 999 not found"


# The last: a fullwidth digit one, which str.isdigit() alone would accept.
@pytest.mark.parametrize("bad", ["0", "-1", "abc", "1.5", "2147483648", "%20", "%EF%BC%91"])
async def test_bad_session_id_is_400(http_server_client, history: History, bad):
    reply = await call(http_server_client, "GET", f"/api/study_sessions/{bad}")
    assert reply.status == 400
    assert "study session id must be an integer from 1 to 2147483647" in reply.json["error"]


# -- the list -----------------------------------------------------------------------------------


async def test_list_is_newest_first_with_the_same_fields(http_server_client, history: History):
    reply = await call(http_server_client, "GET", "/api/study_sessions")
    assert reply.status == 200
    items = reply.json["items"]
    assert [s["id"] for s in items] == list(reversed(history.sessions))
    assert reply.json["pagination"] == {
        "current_page": 1,
        "total_pages": 1,
        "total_items": 3,
        "items_per_page": 100,
        "next_cursor": None,
    }
    one = await call(http_server_client, "GET", f"/api/study_sessions/{history.sessions[1]}")
    assert items[1] == one.json["study_session"]
    assert items[1]["review_items_count"] == 2
    assert at(items[1]["end_time"]) == T0 + dt.timedelta(minutes=80)


async def test_list_pages(http_server_client, history: History):
    first = await call(http_server_client, "GET", "/api/study_sessions?per_page=2")
    second = await call(http_server_client, "GET", "/api/study_sessions?per_page=2&page=2")
    past = await call(http_server_client, "GET", "/api/study_sessions?per_page=2&page=3")
    assert [s["id"] for s in first.json["items"]] == [history.sessions[2], history.sessions[1]]
    assert [s["id"] for s in second.json["items"]] == [history.sessions[0]]
    assert past.status == 200
    assert past.json["items"] == []
    for reply, page in [(first, 1), (second, 2), (past, 3)]:
        pagination = dict(reply.json["pagination"])
        cursor = pagination.pop("next_cursor")
        assert (cursor is not None) == (page == 1)  # a full page with more after it
        assert pagination == {
            "current_page": page,
            "total_pages": 2,
            "total_items": 3,
            "items_per_page": 2,
        }


async def test_empty_list(http_server_client, db: Db):
    reply = await call(http_server_client, "GET", "/api/study_sessions")
    assert reply.json == {
        "items": [],
        "pagination": {
            "current_page": 1,
            "total_pages": 0,
            "total_items": 0,
            "items_per_page": 100,
            "next_cursor": None,
        },
    }


async def test_same_time_sessions_are_ordered_by_id(http_server_client, db: Db, catalog: Catalog):
    ids = [
        await db.fetchval("insert_study_session_at", catalog.group_id, catalog.activity_id, T0)
        for _ in range(3)
    ]
    reply = await call(http_server_client, "GET", "/api/study_sessions")
    assert [s["id"] for s in reply.json["items"]] == list(reversed(ids))


# -- the words of a session ---------------------------------------------------------------------


async def test_words_of_a_session_with_counts_in_that_session(http_server_client, history: History):
    s1 = history.sessions[0]
    reply = await call(http_server_client, "GET", f"/api/study_sessions/{s1}/words")
    assert reply.status == 200
    items = reply.json["items"]
    assert [(w["kanji"], w["correct_count"], w["wrong_count"]) for w in items] == [
        ("食べる", 1, 1),
        ("飲む", 1, 0),
    ]
    assert items[0]["id"] == history.words["食べる"]
    assert reply.json["pagination"]["total_items"] == 2


async def test_words_of_a_session_sorted(http_server_client, history: History):
    s1 = history.sessions[0]
    reply = await call(http_server_client, "GET", f"/api/study_sessions/{s1}/words?sort_by=romaji&order=asc")
    assert [w["romaji"] for w in reply.json["items"]] == ["nomu", "taberu"]
    reply = await call(
        http_server_client, "GET", f"/api/study_sessions/{s1}/words?sort_by=wrong_count&order=desc"
    )
    assert [w["romaji"] for w in reply.json["items"]] == ["taberu", "nomu"]


async def test_words_of_a_session_without_reviews(http_server_client, history: History):
    reply = await call(http_server_client, "GET", f"/api/study_sessions/{history.sessions[2]}/words")
    assert reply.status == 200
    assert reply.json["items"] == []
    assert reply.json["pagination"]["total_items"] == 0


async def test_words_of_an_unknown_session_is_404(http_server_client, history: History):
    reply = await call(http_server_client, "GET", "/api/study_sessions/999/words")
    assert reply.status == 404
    assert reply.json["error"] == "study session 999 not found"


async def test_words_of_a_bad_session_id_is_400(http_server_client, history: History):
    reply = await call(http_server_client, "GET", "/api/study_sessions/x/words")
    assert reply.status == 400
