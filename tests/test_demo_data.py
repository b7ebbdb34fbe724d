"""The demo data set: real words in groups of 30+, parts that spell each word, ids 1 kept."""

from __future__ import annotations

import json
import logging
import re

from langportal import portaldb

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


async def test_seeding_a_database_with_data_says_it_skipped_the_demo_data(demo: Db, caplog):
    """--seed-demo on a database that already has data loads nothing, and says so in the log."""
    before = [dict(row) for row in await demo.pool.fetch(FIXTURE_SQL.catalogue_counts)]
    caplog.set_level(logging.INFO, logger="portaldb.migrations")
    async with demo.pool.acquire() as conn:
        await portaldb.migrate(conn, portaldb.load_queries(), seed_demo=True)
    assert [dict(row) for row in await demo.pool.fetch(FIXTURE_SQL.catalogue_counts)] == before
    messages = [r.getMessage() for r in caplog.records if r.name == "portaldb.migrations"]
    assert messages == [
        "the database already has groups or study activities, so the demo data set (demo.sql) was "
        "not loaded; it is loaded only into an empty database (POST /api/full_reset, with "
        "--enable-reset, replaces everything with it)"
    ]


async def test_seeding_an_empty_database_says_it_loaded_the_demo_data(db: Db, caplog):
    caplog.set_level(logging.INFO, logger="portaldb.migrations")
    async with db.pool.acquire() as conn:
        await portaldb.migrate(conn, portaldb.load_queries(), seed_demo=True)
    assert await db.pool.fetchval(FIXTURE_SQL.count_groups) == 3
    messages = [r.getMessage() for r in caplog.records if r.name == "portaldb.migrations"]
    assert messages == ["loaded the demo data set (demo.sql)"]
