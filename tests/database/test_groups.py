"""GET /api/groups, /api/groups/{id}, /api/groups/{id}/words and /api/groups/{id}/study_sessions."""

from __future__ import annotations

import pytest

from ..helpers import Db, History, call


async def test_groups_with_word_counts(http_server_client, history: History):
    reply = await call(http_server_client, "GET", "/api/groups")
    assert reply.status == 200
    assert reply.json["items"] == [
        {"id": history.empty_group, "name": "Empty", "word_count": 0},
        {"id": history.food, "name": "Food", "word_count": 2},
        {"id": history.verbs, "name": "Verbs", "word_count": 3},
    ]
    assert reply.json["pagination"]["total_items"] == 3


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?sort_by=name&order=desc", ["Verbs", "Food", "Empty"]),
        ("?sort_by=word_count", ["Empty", "Food", "Verbs"]),
        ("?sort_by=word_count&order=desc", ["Verbs", "Food", "Empty"]),
    ],
)
async def test_sorting_groups(http_server_client, history: History, query, expected):
    reply = await call(http_server_client, "GET", f"/api/groups{query}")
    assert [g["name"] for g in reply.json["items"]] == expected


@pytest.mark.parametrize("query", ["sort_by=id", "sort_by=words", "order=descending", "sort_by=name,id"])
async def test_group_sorting_whitelist(http_server_client, history: History, query):
    reply = await call(http_server_client, "GET", f"/api/groups?{query}")
    assert reply.status == 400


async def test_one_group_with_stats(http_server_client, history: History):
    reply = await call(http_server_client, "GET", f"/api/groups/{history.verbs}")
    assert reply.status == 200
    assert reply.json == {"group": {"id": history.verbs, "name": "Verbs", "stats": {"total_word_count": 3}}}


async def test_unknown_group_is_404(http_server_client, history: History):
    for suffix in ("", "/words", "/study_sessions"):
        reply = await call(http_server_client, "GET", f"/api/groups/77{suffix}")
        assert reply.status == 404
        assert reply.json["error"] == "group 77 not found"


@pytest.mark.parametrize("suffix", ["", "/words", "/study_sessions"])
async def test_bad_group_id_is_400(http_server_client, history: History, suffix):
    reply = await call(http_server_client, "GET", f"/api/groups/abc{suffix}")
    assert reply.status == 400
    assert reply.json["error"] == 'group id must be an integer from 1 to 2147483647, got "abc"'


async def test_words_of_a_group(http_server_client, history: History):
    reply = await call(http_server_client, "GET", f"/api/groups/{history.verbs}/words?sort_by=romaji")
    assert reply.status == 200
    assert [(w["kanji"], w["correct_count"], w["wrong_count"]) for w in reply.json["items"]] == [
        ("飲む", 1, 0),
        ("魚", 1, 0),  # its review was in a Food session: counts are over all sessions
        ("食べる", 1, 1),
    ]
    assert reply.json["pagination"]["total_items"] == 3


async def test_words_of_a_group_sorted_and_paged(http_server_client, history: History):
    reply = await call(
        http_server_client,
        "GET",
        f"/api/groups/{history.verbs}/words?sort_by=wrong_count&order=desc&per_page=1&page=1",
    )
    assert [w["kanji"] for w in reply.json["items"]] == ["食べる"]
    assert reply.json["pagination"] == {
        "current_page": 1,
        "total_pages": 3,
        "total_items": 3,
        "items_per_page": 1,
    }


async def test_words_of_an_empty_group(http_server_client, history: History):
    reply = await call(http_server_client, "GET", f"/api/groups/{history.empty_group}/words")
    assert reply.status == 200
    assert reply.json["items"] == []
    assert reply.json["pagination"]["total_pages"] == 0


async def test_sessions_of_a_group(http_server_client, history: History):
    reply = await call(http_server_client, "GET", f"/api/groups/{history.verbs}/study_sessions")
    assert reply.status == 200
    items = reply.json["items"]
    assert [s["id"] for s in items] == [history.sessions[2], history.sessions[0]]
    assert {s["group_name"] for s in items} == {"Verbs"}
    assert [s["review_items_count"] for s in items] == [0, 3]
    empty = await call(http_server_client, "GET", f"/api/groups/{history.empty_group}/study_sessions")
    assert empty.json["items"] == []


async def test_group_sessions_past_the_end(http_server_client, db: Db, history: History):
    reply = await call(http_server_client, "GET", f"/api/groups/{history.verbs}/study_sessions?page=5")
    assert reply.status == 200
    assert reply.json["items"] == []
    assert reply.json["pagination"]["total_items"] == 2
