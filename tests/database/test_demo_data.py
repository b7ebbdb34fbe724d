"""The demo data set: real words in groups of 30+, parts that spell each word, ids 1 kept."""

from __future__ import annotations

import json
import logging
import re

from langportal import portaldb

from ..helpers import FIXTURE_SQL, Db, call, send


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


async def test_the_typing_tutor_is_served_here_and_the_others_are_labelled_external(
    http_server_client, demo: Db
):
    """The demo's Typing Tutor has a relative url: the launch page resolves it against the API's
    origin, and this server serves the activity and its thumbnail there. The other two point at
    apps outside this project, and their descriptions say that nothing is bundled for them."""
    reply = await call(http_server_client, "GET", "/api/study_activities")
    activities = {a["name"]: a for a in reply.json["items"]}
    typing = activities.pop("Typing Tutor")
    assert (typing["url"], typing["thumbnail_url"]) == ("/static/typing/", "/static/typing/thumbnail.svg")
    assert typing["description"] == "Type the romaji of each word as it appears."
    page = await send(http_server_client, "GET", f"{typing['url']}?group_id=1&session_id=1")
    assert page.status == 200
    assert b"<title>Typing Tutor" in page.body
    thumbnail = await send(http_server_client, "GET", typing["thumbnail_url"])
    assert (thumbnail.status, thumbnail.headers["Content-Type"]) == (200, "image/svg+xml; charset=utf-8")
    assert sorted(activities) == ["Adventure MUD", "Flashcards"]
    for activity in activities.values():
        assert re.fullmatch(r"http://localhost:808[23]", activity["url"]), activity
        where = activity["url"].removeprefix("http://")
        assert (
            f"An external app, not bundled with this server: it opens only if one runs at {where}."
            in (activity["description"])
        )


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
        "kept the data already in the database: the demo data set (demo.sql) goes only into an "
        "empty one (POST /api/full_reset, with --enable-reset, replaces everything with it)"
    ]


async def test_seeding_an_empty_database_says_it_loaded_the_demo_data(db: Db, caplog):
    caplog.set_level(logging.INFO, logger="portaldb.migrations")
    async with db.pool.acquire() as conn:
        await portaldb.migrate(conn, portaldb.load_queries(), seed_demo=True)
    assert await db.pool.fetchval(FIXTURE_SQL.count_groups) == 3
    messages = [r.getMessage() for r in caplog.records if r.name == "portaldb.migrations"]
    assert messages == ["loaded the demo data set (demo.sql)"]
