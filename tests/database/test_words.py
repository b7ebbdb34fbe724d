"""GET /api/words (sortable, with counts) and GET /api/words/{id} (stats and groups)."""

from __future__ import annotations

import pytest

from ..helpers import Db, History, call


def summary(reply) -> list[tuple[str, int, int]]:
    return [(w["kanji"], w["correct_count"], w["wrong_count"]) for w in reply.json["items"]]


async def test_words_with_counts_over_all_sessions(http_server_client, history: History):
    reply = await call(http_server_client, "GET", "/api/words?sort_by=romaji")
    assert reply.status == 200
    assert summary(reply) == [("水", 0, 1), ("飲む", 1, 0), ("魚", 1, 0), ("食べる", 1, 1)]
    word = reply.json["items"][0]
    assert set(word) == {"id", "kanji", "romaji", "english", "parts", "correct_count", "wrong_count"}
    assert word["parts"] == [{"kanji": "水", "romaji": []}]
    assert reply.json["pagination"]["total_items"] == 4


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["水", "食べる", "飲む", "魚"]),  # kanji ascending, the default (code point order)
        ("?sort_by=kanji&order=desc", ["魚", "飲む", "食べる", "水"]),
        ("?sort_by=romaji&order=asc", ["水", "飲む", "魚", "食べる"]),
        ("?sort_by=romaji&order=desc", ["食べる", "魚", "飲む", "水"]),
        ("?sort_by=english", ["魚", "飲む", "食べる", "水"]),  # fish, to drink, to eat, water
        ("?order=desc&sort_by=english", ["水", "食べる", "飲む", "魚"]),
        # ties broken by id: 食べる(1) 飲む(2) 水(3) 魚(4)
        ("?sort_by=correct_count&order=desc", ["食べる", "飲む", "魚", "水"]),
        ("?sort_by=correct_count&order=asc", ["水", "食べる", "飲む", "魚"]),
        ("?sort_by=wrong_count&order=desc", ["食べる", "水", "飲む", "魚"]),
        ("?sort_by=wrong_count", ["飲む", "魚", "食べる", "水"]),
    ],
)
async def test_sorting(http_server_client, history: History, query, expected):
    reply = await call(http_server_client, "GET", f"/api/words{query}")
    assert [w["kanji"] for w in reply.json["items"]] == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sort_by=id", "sort_by must be one of kanji, romaji, english, correct_count, wrong_count"),
        ("sort_by=kanji%3BDROP%20TABLE%20words", "sort_by must be one of"),
        ("sort_by=kanji&sort_by=romaji", "sort_by appears 2 times; send it once"),
        ("sort_by=KANJI", "sort_by must be one of"),
        ("order=up", 'order must be one of asc, desc, got the string "up"'),
        ("order=", "order must be one of asc, desc"),
        ("sort=kanji", "sort is not a known field"),
    ],
)
async def test_sorting_whitelist(http_server_client, db: Db, history: History, query, message):
    reply = await call(http_server_client, "GET", f"/api/words?{query}")
    assert reply.status == 400
    assert message in reply.json["error"]


async def test_pages_of_words(http_server_client, history: History):
    first = await call(http_server_client, "GET", "/api/words?sort_by=romaji&per_page=3")
    second = await call(http_server_client, "GET", "/api/words?sort_by=romaji&per_page=3&page=2")
    assert [w["kanji"] for w in first.json["items"]] == ["水", "飲む", "魚"]
    assert [w["kanji"] for w in second.json["items"]] == ["食べる"]
    assert second.json["pagination"] == {
        "current_page": 2,
        "total_pages": 2,
        "total_items": 4,
        "items_per_page": 3,
    }


async def test_one_word_with_stats_and_groups(http_server_client, history: History):
    reply = await call(http_server_client, "GET", f"/api/words/{history.words['魚']}")
    assert reply.status == 200
    word = reply.json["word"]
    assert word["kanji"] == "魚"
    assert word["romaji"] == "sakana"
    assert word["english"] == "fish"
    assert (word["correct_count"], word["wrong_count"]) == (1, 0)
    assert word["groups"] == [{"id": history.food, "name": "Food"}, {"id": history.verbs, "name": "Verbs"}]


async def test_word_in_no_group_without_reviews(http_server_client, db: Db, history: History):
    word_id = await db.fetchval("insert_word", "本", "hon", "book", "[]")
    reply = await call(http_server_client, "GET", f"/api/words/{word_id}")
    word = reply.json["word"]
    assert (word["correct_count"], word["wrong_count"], word["groups"], word["parts"]) == (0, 0, [], [])


async def test_unknown_word_is_404(http_server_client, history: History):
    reply = await call(http_server_client, "GET", "/api/words/12345")
    assert reply.status == 404
    assert reply.json["error"] == "word 12345 not found"


@pytest.mark.parametrize("bad", ["0", "-3", "one", "9999999999"])
async def test_bad_word_id_is_400(http_server_client, history: History, bad):
    reply = await call(http_server_client, "GET", f"/api/words/{bad}")
    assert reply.status == 400
    assert reply.json["error"].startswith("word id must be an integer from 1 to 2147483647")
