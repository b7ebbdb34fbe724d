"""The course frontend's and Typing Tutor's 18 calls (handlers/course*.py), each sent as the
browser sends it: the method, path and query the course's pages use, ``Origin:
http://localhost:5173``, and the CORS preflight before each POST; every field the pages read
checked with its type, and every reply checked against the OpenAPI document (``call``)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

import pytest

from langportal import make_app

from ..helpers import FIXTURE_SQL, Db, History, Reply, call, send

ORIGIN = "http://localhost:5173"
BROWSER = {"Origin": ORIGIN}
INT = int
STR = str


@pytest.fixture
def app(pool: Any, db: Db, request: pytest.FixtureRequest) -> Any:
    """The server as a course student runs it, or as a test's ``app`` parameter says."""
    return make_app(pool, **getattr(request, "param", {}))


async def get(client: Any, path: str) -> Reply:
    reply = await call(client, "GET", path, headers=BROWSER)
    assert reply.headers["Access-Control-Allow-Origin"] == "*", path
    return reply


async def preflight(client: Any, path: str) -> None:
    """What the browser asks before a POST with a JSON body (a non-simple Content-Type)."""
    reply = await send(
        client,
        "OPTIONS",
        path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert reply.status == 204, (path, reply.body)
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in reply.headers["Access-Control-Allow-Methods"].split(", ")
    assert "content-type" in reply.headers["Access-Control-Allow-Headers"].lower()


async def post(client: Any, path: str, body: Any) -> Reply:
    await preflight(client, path)
    reply = await call(client, "POST", path, body, headers={**BROWSER, "Content-Type": "application/json"})
    assert reply.headers["Access-Control-Allow-Origin"] == "*", path
    return reply


def typed(value: dict[str, Any], **types: type) -> None:
    """Each named field is present with that type (bool is no int here)."""
    for name, kind in types.items():
        assert name in value, name
        assert type(value[name]) is kind, (name, value[name])


def iso(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    assert moment.tzinfo is not None
    return moment


def assert_word(word: dict[str, Any]) -> None:
    typed(word, id=INT, kanji=STR, romaji=STR, english=STR, correct_count=INT, wrong_count=INT)


def assert_session(session: dict[str, Any]) -> None:
    typed(
        session,
        id=INT,
        group_id=INT,
        group_name=STR,
        activity_id=INT,
        activity_name=STR,
        start_time=STR,
        end_time=STR,
        review_items_count=INT,
    )
    assert iso(session["end_time"]) >= iso(session["start_time"])


# -- 1, 2: the dashboard --------------------------------------------------------------------------


async def test_recent_session_is_null_before_the_first(http_server_client, db: Db):
    reply = await get(http_server_client, "/dashboard/recent-session")
    assert reply.status == 200
    assert reply.body == b"null"


async def test_recent_session_is_the_newest_with_its_answers(http_server_client, history: History):
    reply = await get(http_server_client, "/dashboard/recent-session")
    recent = reply.json
    typed(recent, id=INT, group_id=INT, activity_name=STR, created_at=STR, correct_count=INT, wrong_count=INT)
    assert recent == {
        "id": history.sessions[2],
        "group_id": history.verbs,
        "activity_name": "Flashcards",
        "created_at": history.times[2].isoformat(),
        "correct_count": 0,
        "wrong_count": 0,
    }
    started = await post(
        http_server_client, "/study_sessions", {"group_id": history.food, "study_activity_id": history.typing}
    )
    session = started.json["session_id"]
    for word, correct in [("水", True), ("魚", False), ("水", True)]:
        body = {"word_id": history.words[word], "correct": correct}
        assert (await post(http_server_client, f"/study_sessions/{session}/review", body)).status == 201
    recent = (await get(http_server_client, "/dashboard/recent-session")).json
    assert (recent["id"], recent["activity_name"], recent["correct_count"], recent["wrong_count"]) == (
        session,
        "Typing Tutor",
        2,
        1,
    )


async def test_stats(http_server_client, history: History):
    stats = (await get(http_server_client, "/dashboard/stats")).json
    typed(
        stats,
        total_vocabulary=INT,
        total_words_studied=INT,
        mastered_words=INT,
        success_rate=float,
        total_sessions=INT,
        active_groups=INT,
        current_streak=INT,
    )
    # the history's sessions are from 2024: none in the last 30 days, no current streak
    assert stats == {
        "total_vocabulary": 4,
        "total_words_studied": 4,
        "mastered_words": 0,
        "success_rate": 0.6,  # 3 right of 5: a fraction, which the page multiplies by 100
        "total_sessions": 3,
        "active_groups": 0,
        "current_streak": 0,
    }
    session = (
        await post(
            http_server_client,
            "/study_sessions",
            {"group_id": history.food, "study_activity_id": history.typing},
        )
    ).json["session_id"]
    # 水 had 1 wrong: 4 right more make 5 reviews, 80% right (mastered)
    for correct in (True, True, True, True):
        await post(
            http_server_client,
            f"/study_sessions/{session}/review",
            {"word_id": history.words["水"], "correct": correct},
        )
    for correct in (True, True, True, False):  # 飲む: 4 right of 5 with its earlier one: 80%
        await post(
            http_server_client,
            f"/study_sessions/{session}/review",
            {"word_id": history.words["飲む"], "correct": correct},
        )
    for correct in (True, True, False, False):  # 魚: 3 right of 5: 60%, not mastered
        await post(
            http_server_client,
            f"/study_sessions/{session}/review",
            {"word_id": history.words["魚"], "correct": correct},
        )
    stats = (await get(http_server_client, "/dashboard/stats")).json
    assert stats["mastered_words"] == 2
    assert stats["success_rate"] == pytest.approx((3 + 4 + 3 + 2) / (5 + 12))
    assert (stats["total_sessions"], stats["active_groups"], stats["current_streak"]) == (4, 1, 1)


async def test_stats_before_any_review(http_server_client, db: Db):
    stats = (await get(http_server_client, "/dashboard/stats")).json
    assert stats["success_rate"] == 0
    assert stats["total_vocabulary"] == stats["total_sessions"] == stats["mastered_words"] == 0


# -- 3 to 8: groups and words ----------------------------------------------------------------------


async def test_groups_page(http_server_client, history: History):
    page = (await get(http_server_client, "/groups?page=1&sort_by=name&order=asc")).json
    assert page == {
        "groups": [
            {"id": history.empty_group, "group_name": "Empty", "word_count": 0},
            {"id": history.food, "group_name": "Food", "word_count": 2},
            {"id": history.verbs, "group_name": "Verbs", "word_count": 3},
        ],
        "total_pages": 1,
        "current_page": 1,
    }
    for group in page["groups"]:
        typed(group, id=INT, group_name=STR, word_count=INT)
    by_count = (await get(http_server_client, "/groups?page=1&sort_by=word_count&order=desc")).json
    assert [g["group_name"] for g in by_count["groups"]] == ["Verbs", "Food", "Empty"]


async def test_groups_ten_a_page(http_server_client, db: Db):
    for n in range(12):
        await db.fetchval("insert_group", f"Group {n:02}")
    first = (await get(http_server_client, "/groups?page=1&sort_by=name&order=asc")).json
    second = (await get(http_server_client, "/groups?page=2&sort_by=name&order=asc")).json
    assert (len(first["groups"]), len(second["groups"])) == (10, 2)
    assert (first["total_pages"], second["current_page"]) == (2, 2)
    assert second["groups"][-1]["group_name"] == "Group 11"


async def test_one_group(http_server_client, history: History):
    reply = await get(http_server_client, f"/groups/{history.verbs}")
    assert reply.json == {"id": history.verbs, "group_name": "Verbs", "word_count": 3}
    missing = await get(http_server_client, "/groups/999")
    assert (missing.status, missing.json) == (404, {"error": "group 999 not found"})
    bad = await get(http_server_client, "/groups/abc")
    assert bad.status == 400
    assert "group id must be an integer" in bad.json["error"]


async def test_group_words(http_server_client, history: History):
    page = (
        await get(http_server_client, f"/groups/{history.verbs}/words?page=1&sort_by=kanji&order=asc")
    ).json
    assert set(page) == {"words", "total_pages", "current_page"}
    assert [w["kanji"] for w in page["words"]] == ["食べる", "飲む", "魚"]
    for word in page["words"]:
        assert_word(word)
    tabe = page["words"][0]
    assert (tabe["romaji"], tabe["english"], tabe["correct_count"], tabe["wrong_count"]) == (
        "taberu",
        "to eat",
        1,
        1,
    )
    by_romaji = (
        await get(http_server_client, f"/groups/{history.verbs}/words?page=1&sort_by=romaji&order=desc")
    ).json
    assert [w["romaji"] for w in by_romaji["words"]] == ["taberu", "sakana", "nomu"]
    missing = await get(http_server_client, "/groups/999/words?page=1&sort_by=kanji&order=asc")
    assert missing.status == 404


async def test_words_fifty_a_page_with_their_total(http_server_client, history: History, db: Db):
    for n in range(50):
        await db.fetchval("insert_word", f"語{n:02}", f"go{n:02}", f"word {n}", "[]")
    first = (await get(http_server_client, "/words?page=1&sort_by=kanji&order=asc")).json
    assert set(first) == {"words", "total_pages", "current_page", "total_words"}
    assert (len(first["words"]), first["total_pages"], first["total_words"], first["current_page"]) == (
        50,
        2,
        54,
        1,
    )
    for word in first["words"]:
        assert_word(word)
    by_wrong = (await get(http_server_client, "/words?page=1&sort_by=wrong_count&order=desc")).json
    assert [w["wrong_count"] for w in by_wrong["words"][:3]] == [1, 1, 0]
    assert {w["kanji"] for w in by_wrong["words"][:2]} == {"食べる", "水"}


async def test_one_word_with_its_groups(http_server_client, history: History):
    word = (await get(http_server_client, f"/words/{history.words['魚']}")).json["word"]
    assert_word(word)
    assert word["groups"] == [{"id": history.food, "name": "Food"}, {"id": history.verbs, "name": "Verbs"}]
    assert (await get(http_server_client, "/words/999")).status == 404


# -- 6: a group's sessions, in every order the session table sends -----------------------------------


SORTS = {
    # sort_by -> the key of a session (as answered) that orders it, ties broken as the statement does
    "startTime": lambda s: (iso(s["start_time"]), s["id"]),
    "start_time": lambda s: (iso(s["start_time"]), s["id"]),
    "created_at": lambda s: (iso(s["start_time"]), s["id"]),
    "group_name": lambda s: (iso(s["start_time"]), s["id"]),
    "id": lambda s: (s["id"],),
    "activity_name": lambda s: (s["activity_name"], iso(s["start_time"]), s["id"]),
    "end_time": lambda s: (iso(s["end_time"]), s["id"]),
    "review_items_count": lambda s: (s["review_items_count"], s["id"]),
}


async def sessions_of(client: Any, group: int, query: str) -> list[dict[str, Any]]:
    page = (await get(client, f"/groups/{group}/study_sessions?{query}")).json
    assert set(page) == {"study_sessions", "total_pages", "current_page"}
    for session in page["study_sessions"]:
        assert_session(session)
    return page["study_sessions"]


async def test_group_sessions_in_every_order(http_server_client, history: History, db: Db):
    # more sessions in Verbs, with answers, so that each order differs from the others
    verbs, flash, typing = history.verbs, history.flashcards, history.typing
    for activity, answers in [(typing, 4), (flash, 0), (typing, 1), (flash, 2)]:
        session = (
            await post(
                http_server_client, "/study_sessions", {"group_id": verbs, "study_activity_id": activity}
            )
        ).json["session_id"]
        for n in range(answers):
            body = {"word_id": history.words["飲む"], "correct": n % 2 == 0}
            await post(http_server_client, f"/study_sessions/{session}/review", body)
    everything = await sessions_of(http_server_client, verbs, "page=1&sort_by=startTime&order=desc")
    assert len(everything) == 6
    s1 = next(s for s in everything if s["id"] == history.sessions[0])
    s3 = next(s for s in everything if s["id"] == history.sessions[2])
    assert (s1["end_time"], s1["review_items_count"]) == (
        (history.times[0] + dt.timedelta(minutes=30)).isoformat(),
        3,
    )
    assert s3["end_time"] == s3["start_time"]  # no review: the end is the start
    assert (s3["group_name"], s3["activity_name"], s3["activity_id"]) == ("Verbs", "Flashcards", flash)
    for sort_by, key in SORTS.items():
        for order in ("asc", "desc"):
            listed = await sessions_of(http_server_client, verbs, f"page=1&sort_by={sort_by}&order={order}")
            expected = sorted(everything, key=key, reverse=order == "desc")
            assert [s["id"] for s in listed] == [s["id"] for s in expected], (sort_by, order)
    # the template's camelCase keys are the same orders
    for camel, snake in [
        ("endTime", "end_time"),
        ("activityName", "activity_name"),
        ("reviewItemsCount", "review_items_count"),
    ]:
        a = await sessions_of(http_server_client, verbs, f"page=1&sort_by={camel}&order=asc")
        b = await sessions_of(http_server_client, verbs, f"page=1&sort_by={snake}&order=asc")
        assert a == b


async def test_group_sessions_paged_ten_at_a_time(http_server_client, history: History):
    for _ in range(11):
        await post(
            http_server_client,
            "/study_sessions",
            {"group_id": history.food, "study_activity_id": history.typing},
        )
    pages = []
    for sort_by in ("startTime", "id", "activity_name", "end_time", "review_items_count"):
        first = (
            await get(
                http_server_client,
                f"/groups/{history.food}/study_sessions?page=1&sort_by={sort_by}&order=asc",
            )
        ).json
        second = (
            await get(
                http_server_client,
                f"/groups/{history.food}/study_sessions?page=2&sort_by={sort_by}&order=asc",
            )
        ).json
        assert (len(first["study_sessions"]), len(second["study_sessions"]), first["total_pages"]) == (
            10,
            2,
            2,
        )
        ids = [s["id"] for s in first["study_sessions"] + second["study_sessions"]]
        assert len(set(ids)) == 12, sort_by
        pages.append(sorted(ids))
    assert all(p == pages[0] for p in pages)
    assert (
        await get(http_server_client, "/groups/999/study_sessions?page=1&sort_by=startTime&order=desc")
    ).status == 404


async def test_every_page_of_every_order(http_server_client, history: History, db: Db):
    """Pages 1 to 4 of 10 sessions, in every order and direction, put together are the whole order:
    the pages in the second half read from the other end, the activity order's skips over whole
    activities, and a page past the end that is empty."""
    quiz = await db.fetchval("insert_study_activity", "Anki Quiz", "http://localhost:8085")
    activities = [history.flashcards, history.typing, quiz]
    for n in range(25):
        body = {"group_id": history.food, "study_activity_id": activities[(n * 7) % 3]}
        session = (await call(http_server_client, "POST", "/study_sessions", body)).json["session_id"]
        for answer in range((n * 5) % 4):
            review = {"word_id": history.words["水"], "correct": answer % 2 == 0}
            await call(http_server_client, "POST", f"/study_sessions/{session}/review", review)
    everything = await sessions_of(http_server_client, history.food, "page=1&sort_by=id&order=asc")
    everything += await sessions_of(http_server_client, history.food, "page=2&sort_by=id&order=asc")
    everything += await sessions_of(http_server_client, history.food, "page=3&sort_by=id&order=asc")
    assert len(everything) == 26
    for sort_by, key in SORTS.items():
        for order in ("asc", "desc"):
            pages = [
                await sessions_of(
                    http_server_client, history.food, f"page={n}&sort_by={sort_by}&order={order}"
                )
                for n in (1, 2, 3, 4)
            ]
            assert [len(page) for page in pages] == [10, 10, 6, 0], (sort_by, order)
            expected = sorted(everything, key=key, reverse=order == "desc")
            listed = [s["id"] for page in pages for s in page]
            assert listed == [s["id"] for s in expected], (sort_by, order)


async def test_group_session_sort_keys_stay_exact_through_every_write(
    http_server_client, history: History, db: Db
):
    """Migration 0010's table behind the end time and review count orders, against a recount of the
    history, after each kind of write: inserts (the fixture's and the API's), an UPDATE moving
    reviews and one moving a session, DELETEs of a review and of a session, a TRUNCATE of the
    reviews alone, and the reset."""

    async def exact() -> None:
        assert await db.pool.fetch(FIXTURE_SQL.session_review_stats_mismatches) == []

    await exact()
    s1, s2, s3 = history.sessions
    await post(
        http_server_client, f"/study_sessions/{s3}/review", {"word_id": history.words["魚"], "correct": True}
    )
    await exact()
    await db.pool.execute(FIXTURE_SQL.move_reviews_to_session, s1, s3)
    await exact()
    await db.pool.execute(FIXTURE_SQL.delete_newest_review_of_session, s3)
    await exact()
    await db.pool.execute(FIXTURE_SQL.move_session_to_group, s2, history.verbs)
    await exact()
    await db.pool.execute(FIXTURE_SQL.delete_study_session, s2)
    await exact()
    await db.pool.execute(FIXTURE_SQL.truncate_reviews)
    await exact()
    assert await db.fetchval("count_session_review_stats") == 2
    listed = await sessions_of(
        http_server_client, history.verbs, "page=1&sort_by=review_items_count&order=desc"
    )
    assert [s["review_items_count"] for s in listed] == [0, 0]


# -- 9, 18: the writes ------------------------------------------------------------------------------


async def test_start_a_session_as_the_launch_page_does(http_server_client, history: History, db: Db):
    reply = await post(
        http_server_client,
        "/study_sessions",
        {"group_id": history.verbs, "study_activity_id": history.typing},
    )
    assert reply.status == 201
    typed(reply.json, session_id=INT)
    session_id = reply.json["session_id"]
    assert reply.json["study_session"]["id"] == session_id
    assert reply.headers["Location"] == f"/api/study_sessions/{session_id}"
    stored = await db.fetchrow("study_session_row", session_id)
    assert (stored["group_id"], stored["study_activity_id"]) == (history.verbs, history.typing)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"group_id": 999, "study_activity_id": 1}, 404),
        ({"group_id": 1}, 400),
        ({"group_id": "1", "study_activity_id": 1}, 400),
        ({"group_id": 1, "study_activity_id": 1, "extra": True}, 400),
        ("{not json", 400),
    ],
)
async def test_a_bad_start_stores_nothing(
    http_server_client, history: History, db: Db, body: Any, status: int
):
    before = await db.count_sessions()
    reply = await post(http_server_client, "/study_sessions", body)
    assert reply.status == status
    assert isinstance(reply.json["error"], str)
    assert reply.json["error"]
    assert await db.count_sessions() == before


async def test_a_start_without_a_json_content_type_is_415(http_server_client, history: History, db: Db):
    reply = await send(
        http_server_client,
        "POST",
        "/study_sessions",
        '{"group_id": 1, "study_activity_id": 1}',
        headers={**BROWSER, "Content-Type": "text/plain"},
    )
    assert reply.status == 415
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert await db.count_sessions() == 3


async def test_record_an_answer_as_the_typing_tutor_does(http_server_client, history: History, db: Db):
    session = history.sessions[2]
    word = history.words["飲む"]
    before = (await call(http_server_client, "GET", f"/api/words/{word}")).json["word"]
    reply = await post(
        http_server_client, f"/study_sessions/{session}/review", {"word_id": word, "correct": False}
    )
    assert reply.status == 201
    typed(reply.json, message=STR)
    assert reply.json["message"] == f"recorded a wrong answer to word {word} in study session {session}"
    item = reply.json["review_item"]
    assert (item["word_id"], item["study_session_id"], item["correct"]) == (word, session, False)
    # recorded exactly as POST /api/study_sessions/{id}/words/{word_id}/review records it
    after = (await call(http_server_client, "GET", f"/api/words/{word}")).json["word"]
    assert (after["correct_count"], after["wrong_count"]) == (
        before["correct_count"],
        before["wrong_count"] + 1,
    )
    one = (await call(http_server_client, "GET", f"/api/study_sessions/{session}")).json["study_session"]
    assert one["review_items_count"] == 1
    row = await db.fetchrow("review_row", item["id"])
    assert (row["word_id"], row["study_session_id"], row["correct"]) == (word, session, False)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/study_sessions/{s}/review", {"reviews": [{"word_id": 1, "is_correct": True}]}, 400),
        ("/study_sessions/{s}/review", {"word_id": "{w}", "correct": 1}, 400),
        ("/study_sessions/{s}/review", {"word_id": 0, "correct": True}, 400),
        ("/study_sessions/{s}/review", {"word_id": 999, "correct": True}, 404),
        ("/study_sessions/999/review", {"word_id": "{w}", "correct": True}, 404),
        ("/study_sessions/abc/review", {"word_id": "{w}", "correct": True}, 400),
    ],
)
async def test_a_bad_answer_stores_nothing(
    http_server_client, history: History, db: Db, path: str, body: Any, status: int
):
    word = history.words["水"]
    body = {k: (word if v == "{w}" else v) for k, v in body.items()}
    before = await db.fetchval("count_reviews")
    reply = await post(http_server_client, path.format(s=history.sessions[1]), body)
    assert reply.status == status, reply.body
    assert reply.json["error"]
    assert await db.fetchval("count_reviews") == before


async def test_an_answer_retried_with_its_key_is_recorded_once(http_server_client, history: History, db: Db):
    path = f"/study_sessions/{history.sessions[1]}/review"
    body = {"word_id": history.words["水"], "correct": True}
    headers = {**BROWSER, "Idempotency-Key": "tutor-answer-1"}
    first = await call(http_server_client, "POST", path, body, headers=headers)
    again = await call(http_server_client, "POST", path, body, headers=headers)
    assert (first.status, again.status) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert await db.fetchval("count_reviews") == 6


# -- 10, 11: the session pages ------------------------------------------------------------------------


async def test_session_list(http_server_client, history: History):
    page = (await get(http_server_client, "/api/study-sessions?page=1&per_page=10")).json
    assert (page["total"], page["page"], page["per_page"], page["total_pages"]) == (3, 1, 10, 1)
    assert [s["id"] for s in page["items"]] == history.sessions[::-1]
    for session in page["items"]:
        assert_session(session)
    s2 = page["items"][1]
    assert s2 == {
        "id": history.sessions[1],
        "group_id": history.food,
        "group_name": "Food",
        "activity_id": history.typing,
        "activity_name": "Typing Tutor",
        "start_time": history.times[1].isoformat(),
        "end_time": (history.times[0] + dt.timedelta(minutes=80)).isoformat(),
        "review_items_count": 2,
    }
    second = (await get(http_server_client, "/api/study-sessions?page=2&per_page=2")).json
    assert ([s["id"] for s in second["items"]], second["total_pages"]) == ([history.sessions[0]], 2)


async def test_one_session_with_the_words_counted_in_it(http_server_client, history: History):
    s1 = history.sessions[0]
    page = (await get(http_server_client, f"/api/study-sessions/{s1}?page=1&per_page=10")).json
    assert_session(page["session"])
    assert page["session"]["review_items_count"] == 3
    assert (page["total"], page["page"], page["per_page"], page["total_pages"]) == (2, 1, 10, 1)
    for word in page["words"]:
        assert_word(word)
    assert [(w["kanji"], w["correct_count"], w["wrong_count"]) for w in page["words"]] == [
        ("食べる", 1, 1),
        ("飲む", 1, 0),
    ]
    second = (await get(http_server_client, f"/api/study-sessions/{s1}?page=2&per_page=1")).json
    assert [w["kanji"] for w in second["words"]] == ["飲む"]
    missing = await get(http_server_client, "/api/study-sessions/999?page=1&per_page=10")
    assert (missing.status, missing.json["error"]) == (404, "study session 999 not found")


# -- 12: the reset ------------------------------------------------------------------------------------


async def test_the_reset_is_off_unless_enabled(http_server_client, history: History, db: Db):
    reply = await post(http_server_client, "/api/study-sessions/reset", None)
    assert reply.status == 403
    assert "--enable-reset" in reply.json["error"]
    assert await db.count_sessions() == 3


@pytest.mark.parametrize("app", [{"allow_reset": True}], indirect=True)
async def test_the_reset_as_the_settings_page_sends_it(app, http_server_client, history: History, db: Db):
    # the page sends Content-Type: application/json and no body
    reply = await post(http_server_client, "/api/study-sessions/reset", None)
    assert reply.status == 200
    assert reply.json["deleted"] == {"study_sessions": 3, "word_review_items": 5}
    assert await db.count_sessions() == 0
    assert (await get(http_server_client, "/dashboard/recent-session")).body == b"null"


# -- 13 to 16: study activities -----------------------------------------------------------------------


@pytest.fixture
def bundled(io_loop: Any, history: History, db: Db) -> int:
    """The bundled Typing Tutor as the demo data has it: relative URLs."""

    async def insert() -> int:
        return int(
            await db.fetchval(
                "insert_study_activity_with_thumbnail",
                "Bundled Tutor",
                "/static/typing/",
                "/static/typing/thumbnail.svg",
                "Type the romaji.",
            )
        )

    return io_loop.run_sync(insert)


async def test_activities_with_absolute_urls(
    http_server_client, http_server_port, history: History, bundled: int
):
    reply = await get(http_server_client, "/api/study-activities")
    activities = reply.json
    assert isinstance(activities, list)
    for activity in activities:
        assert set(activity) == {"id", "title", "launch_url", "preview_url"}
        typed(activity, id=INT, title=STR, launch_url=STR)
    origin = f"http://127.0.0.1:{http_server_port[1]}"
    assert activities[-1] == {
        "id": bundled,
        "title": "Bundled Tutor",
        "launch_url": f"{origin}/static/typing/",
        "preview_url": f"{origin}/static/typing/thumbnail.svg",
    }
    assert activities[0] == {
        "id": history.flashcards,
        "title": "Flashcards",
        "launch_url": "http://localhost:8082",
        "preview_url": None,
    }


async def test_urls_follow_the_address_the_client_used(http_server_client, bundled: int):
    reply = await send(
        http_server_client, "GET", f"/api/study-activities/{bundled}", headers={"Host": "localhost:5000"}
    )
    assert reply.json["launch_url"] == "http://localhost:5000/static/typing/"
    # X-Forwarded-Proto counts only from a trusted proxy (none here)
    reply = await send(
        http_server_client,
        "GET",
        f"/api/study-activities/{bundled}",
        headers={"Host": "portal.example", "X-Forwarded-Proto": "https"},
    )
    assert reply.json["launch_url"] == "http://portal.example/static/typing/"
    bad = await send(
        http_server_client, "GET", f"/api/study-activities/{bundled}", headers={"Host": "a!b.example"}
    )
    assert bad.status == 400
    assert "Host header" in bad.json["error"]


@pytest.mark.parametrize("app", [{"trusted_proxies": [ipaddress.ip_network("127.0.0.0/8")]}], indirect=True)
async def test_urls_behind_a_trusted_proxy_take_its_scheme(app, http_server_client, bundled: int):
    reply = await send(
        http_server_client,
        "GET",
        f"/api/study-activities/{bundled}/launch",
        headers={"Host": "portal.example", "X-Forwarded-Proto": "https"},
    )
    assert reply.json["activity"]["launch_url"] == "https://portal.example/static/typing/"
    assert reply.json["activity"]["preview_url"] == "https://portal.example/static/typing/thumbnail.svg"


async def test_one_activity(http_server_client, bundled: int):
    activity = (await get(http_server_client, f"/api/study-activities/{bundled}")).json
    typed(activity, id=INT, title=STR, description=STR, launch_url=STR, preview_url=STR)
    assert activity["description"] == "Type the romaji."
    missing = await get(http_server_client, "/api/study-activities/999")
    assert (missing.status, missing.json["error"]) == (404, "study activity 999 not found")


async def test_activity_sessions(http_server_client, history: History):
    page = (
        await get(
            http_server_client, f"/api/study-activities/{history.flashcards}/sessions?page=1&per_page=10"
        )
    ).json
    assert [s["id"] for s in page["items"]] == [history.sessions[2], history.sessions[0]]
    assert (page["total"], page["page"], page["per_page"], page["total_pages"]) == (2, 1, 10, 1)
    for session in page["items"]:
        assert_session(session)
    missing = await get(http_server_client, "/api/study-activities/999/sessions?page=1&per_page=10")
    assert missing.status == 404


async def test_launch_data(http_server_client, http_server_port, history: History, bundled: int):
    launch = (await get(http_server_client, f"/api/study-activities/{bundled}/launch")).json
    origin = f"http://127.0.0.1:{http_server_port[1]}"
    assert launch == {
        "activity": {
            "id": bundled,
            "title": "Bundled Tutor",
            "launch_url": f"{origin}/static/typing/",
            "preview_url": f"{origin}/static/typing/thumbnail.svg",
        },
        "groups": [
            {"id": history.empty_group, "name": "Empty"},
            {"id": history.food, "name": "Food"},
            {"id": history.verbs, "name": "Verbs"},
        ],
    }
    assert (await get(http_server_client, "/api/study-activities/999/launch")).status == 404


# -- 17: the Typing Tutor's words ---------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_raw_words(http_server_client, history: History, prefix: str):
    raw = (await get(http_server_client, f"{prefix}/groups/{history.food}/words/raw")).json
    assert (raw["group_id"], raw["group_name"]) == (history.food, "Food")
    assert [w["id"] for w in raw["words"]] == sorted([history.words["水"], history.words["魚"]])
    for word in raw["words"]:
        assert set(word) == {"id", "kanji", "romaji", "english", "parts"}
        typed(word, id=INT, kanji=STR, romaji=STR, english=STR, parts=list)
    assert raw["words"][0]["parts"] == [{"kanji": "水", "romaji": []}]
    empty = (await get(http_server_client, f"{prefix}/groups/{history.empty_group}/words/raw")).json
    assert empty == {"group_id": history.empty_group, "group_name": "Empty", "words": []}
    assert (await get(http_server_client, f"{prefix}/groups/999/words/raw")).status == 404


# -- lenient query strings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "sort_by=bogus",
        "sort_by=bogus&order=sideways",
        "page=abc",
        "page=0",
        "page=-3",
        "page=1.5",
        "order=",
        "page=1&page=2",
    ],
)
async def test_queries_the_template_would_take_never_fail(http_server_client, history: History, query: str):
    default = await sessions_of(http_server_client, history.verbs, "")
    assert [s["id"] for s in await sessions_of(http_server_client, history.verbs, query)] == [
        s["id"] for s in default
    ]
    for path in ("/groups", f"/groups/{history.verbs}/words", "/words", "/api/study-sessions"):
        assert (await get(http_server_client, f"{path}?{query}")).status == 200, (path, query)


async def test_per_page_is_bounded(http_server_client, history: History):
    assert (await get(http_server_client, "/api/study-sessions?per_page=100000")).json["per_page"] == 500
    assert (await get(http_server_client, "/api/study-sessions?per_page=0")).json["per_page"] == 10
    far = (await get(http_server_client, "/api/study-sessions?page=99999999999&per_page=10")).json
    assert (far["page"], far["items"], far["total"]) == (2147483647, [], 3)


@pytest.mark.parametrize("app", [{"cors_origins": [ORIGIN]}], indirect=True)
async def test_an_origin_allowlist_names_the_frontend(app, http_server_client, history: History):
    reply = await send(http_server_client, "GET", "/groups", headers=BROWSER)
    assert reply.headers["Access-Control-Allow-Origin"] == ORIGIN
    missing = await send(http_server_client, "GET", "/groups/999", headers=BROWSER)
    assert (missing.status, missing.headers["Access-Control-Allow-Origin"]) == (404, ORIGIN)
    other = await send(http_server_client, "GET", "/groups", headers={"Origin": "http://elsewhere.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
