"""The demo data set: real words in groups of 30+, parts that spell each word, ids 1 kept."""

from __future__ import annotations

import json
import re

from .helpers import FIXTURE_SQL, Db


async def test_groups_of_thirty_words_or_more(demo: Db):
    groups = [dict(row) for row in await demo.pool.fetch(FIXTURE_SQL.group_word_counts)]
    assert [(g["id"], g["name"]) for g in groups] == [
        (1, "Core Verbs"),
        (2, "Core Adjectives"),
        (3, "Food and Drink"),
    ]
    assert all(g["word_count"] >= 30 for g in groups)


async def test_activities_keep_their_ids(demo: Db):
    activities = [(row["id"], row["name"]) for row in await demo.pool.fetch(FIXTURE_SQL.all_study_activities)]
    assert activities == [(1, "Typing Tutor"), (2, "Flashcards"), (3, "Adventure MUD")]


async def test_every_word_is_complete_and_its_parts_spell_it(demo: Db):
    words = await demo.pool.fetch(FIXTURE_SQL.all_words)
    assert len(words) >= 60
    assert len({w["kanji"] for w in words}) == len(words)
    for word in words:
        assert all((word["kanji"], word["romaji"], word["english"]))
        assert re.fullmatch("[a-z]+", word["romaji"]), word["romaji"]
        parts = json.loads(word["parts"])
        assert "".join(p["kanji"] for p in parts) == word["kanji"], word["kanji"]
        assert "".join("".join(p["romaji"]) for p in parts) == word["romaji"], word["kanji"]
        assert all(set(p) == {"kanji", "romaji"} and p["romaji"] for p in parts)
