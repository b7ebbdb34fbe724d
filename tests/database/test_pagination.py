"""Every list endpoint: ?page= and ?per_page= checked the same way, 400 for anything but an integer
in range, and the same pagination object."""

from __future__ import annotations

import base64
import datetime as dt

import asyncpg
import pytest

from langportal import portaldb
from langportal.handlers.pagination import NO_CURSOR

from ..helpers import FIXTURE_SQL, Db, History, call

LISTS = [
    "/api/study_activities",
    "/api/study_activities/{flashcards}/study_sessions",
    "/api/groups",
    "/api/groups/{verbs}/words",
    "/api/groups/{verbs}/study_sessions",
    "/api/words",
    "/api/study_sessions",
    "/api/study_sessions/{s1}/words",
]


def url(template: str, history: History, query: str = "") -> str:
    path = template.format(flashcards=history.flashcards, verbs=history.verbs, s1=history.sessions[0])
    return f"{path}?{query}" if query else path


@pytest.mark.parametrize("template", LISTS)
async def test_defaults(http_server_client, history: History, template):
    reply = await call(http_server_client, "GET", url(template, history))
    assert reply.status == 200
    pagination = reply.json["pagination"]
    assert pagination["current_page"] == 1
    assert pagination["items_per_page"] == 100
    assert pagination["total_items"] == len(reply.json["items"]) > 0
    assert pagination["total_pages"] == 1


@pytest.mark.parametrize("template", LISTS)
async def test_per_page_one_walks_every_item(http_server_client, history: History, template):
    everything = (await call(http_server_client, "GET", url(template, history))).json["items"]
    walked = []
    for page in range(1, len(everything) + 2):
        reply = await call(http_server_client, "GET", url(template, history, f"page={page}&per_page=1"))
        walked += reply.json["items"]
        assert reply.json["pagination"]["total_pages"] == len(everything)
    assert walked == everything  # the last request, one past the end, added nothing


@pytest.mark.parametrize("template", LISTS)
async def test_largest_page_and_per_page(http_server_client, history: History, template):
    reply = await call(http_server_client, "GET", url(template, history, "page=2147483647&per_page=500"))
    assert reply.status == 200
    assert reply.json["items"] == []
    assert reply.json["pagination"]["current_page"] == 2147483647
    assert reply.json["pagination"]["items_per_page"] == 500


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page=0", "page must be from 1 to 2147483647, got 0"),
        ("page=-1", "page must be from 1 to 2147483647, got -1"),
        ("page=abc", 'page must be an integer, got the string "abc"'),
        ("page=1.5", 'page must be an integer, got the string "1.5"'),
        ("page=", 'page must be an integer, got the string ""'),
        ("page=%201", 'page must be an integer, got the string " 1"'),
        ("page=2147483648", "page must be from 1 to 2147483647, got 2147483648"),
        ("page=" + "9" * 50, "page must be from 1 to 2147483647, got a number of 50 characters"),
        ("page=" + "9" * 5000, "page must be an integer"),
        ("page=%FF", "the query parameter page is not valid UTF-8"),
        ("page=1&page=2", "the query parameter page appears 2 times; send it once"),
        ("per_page=0", "per_page must be from 1 to 500, got 0"),
        ("per_page=501", "per_page must be from 1 to 500, got 501"),
        ("per_page=-5", "per_page must be from 1 to 500, got -5"),
        ("per_page=ten", 'per_page must be an integer, got the string "ten"'),
        ("limit=5", "limit is not a known field"),
    ],
)
@pytest.mark.parametrize("template", LISTS)
async def test_bad_parameters_are_400(http_server_client, history: History, template, query, message):
    reply = await call(http_server_client, "GET", url(template, history, query))
    assert reply.status == 400, reply.body
    assert message in reply.json["error"]
    assert reply.headers["Access-Control-Allow-Origin"] == "*"


# -- ?cursor= on the session lists (issue 12) -----------------------------------------------------

SESSION_LISTS = [
    "/api/study_sessions",
    "/api/groups/{verbs}/study_sessions",
    "/api/study_activities/{flashcards}/study_sessions",
]


@pytest.mark.parametrize("template", SESSION_LISTS)
@pytest.mark.parametrize("per_page", [1, 2])
async def test_cursor_walk_matches_the_page_walk(http_server_client, history: History, template, per_page):
    everything = (await call(http_server_client, "GET", url(template, history))).json["items"]
    reply = await call(http_server_client, "GET", url(template, history, f"per_page={per_page}"))
    walked, pages = list(reply.json["items"]), [reply.json["pagination"]["current_page"]]
    while reply.json["pagination"]["next_cursor"] is not None:
        cursor = reply.json["pagination"]["next_cursor"]
        reply = await call(
            http_server_client, "GET", url(template, history, f"per_page={per_page}&cursor={cursor}")
        )
        assert reply.status == 200, reply.body
        assert reply.json["pagination"]["total_items"] == len(everything)
        walked += reply.json["items"]
        pages.append(reply.json["pagination"]["current_page"])
    assert walked == everything
    assert pages == list(range(1, len(pages) + 1))
    assert len(pages) == -(-len(everything) // per_page)


async def test_cursor_keeps_its_place_when_sessions_are_added(http_server_client, history: History):
    first = await call(http_server_client, "GET", "/api/study_sessions?per_page=2")
    cursor = first.json["pagination"]["next_cursor"]
    created = await call(
        http_server_client, "POST", "/api/study_sessions", {"group_id": history.verbs, "study_activity_id": 1}
    )
    assert created.status == 201
    after = await call(http_server_client, "GET", f"/api/study_sessions?per_page=2&cursor={cursor}")
    assert [s["id"] for s in after.json["items"]] == [history.sessions[0]]  # not shifted by the new one
    assert after.json["pagination"]["total_items"] == 4
    by_page = await call(http_server_client, "GET", "/api/study_sessions?per_page=2&page=2")
    assert [s["id"] for s in by_page.json["items"]] == [history.sessions[1], history.sessions[0]]


async def _sessions_listed(client, history: History, db: Db, template: str, total: int) -> list[dict]:
    """The list ``template``, made to hold exactly ``total`` sessions by adding older ones."""
    held = (await call(client, "GET", url(template, history, "per_page=1"))).json["pagination"]["total_items"]
    older = history.times[0] - dt.timedelta(days=1)
    await db.pool.execute(
        FIXTURE_SQL.insert_study_sessions_series, history.verbs, history.flashcards, total - held, older
    )
    everything = (await call(client, "GET", url(template, history, "per_page=500"))).json["items"]
    assert len(everything) == total
    return everything


async def _walk(client, history: History, template: str, per_page: int, cursor: str) -> list[list[dict]]:
    """The pages after ``cursor``, following each next_cursor to the end."""
    pages = []
    while cursor is not None:
        reply = await call(client, "GET", url(template, history, f"per_page={per_page}&cursor={cursor}"))
        assert reply.status == 200, reply.body
        pages.append(reply.json["items"])
        cursor = reply.json["pagination"]["next_cursor"]
    return pages


@pytest.mark.parametrize("template", SESSION_LISTS)
async def test_the_last_page_after_a_cursor_has_none_when_sessions_were_added(
    http_server_client, history: History, db: Db, template
):
    # 6 sessions, pages of 3: the page after the first one's cursor is the last, even though a
    # session added meanwhile makes 7 (the page number and the total would say a third follows)
    everything = await _sessions_listed(http_server_client, history, db, template, 6)
    first = await call(http_server_client, "GET", url(template, history, "per_page=3"))
    launched = await call(
        http_server_client,
        "POST",
        "/api/study_sessions",
        {"group_id": history.verbs, "study_activity_id": history.flashcards},
    )
    assert launched.status == 201
    pages = await _walk(http_server_client, history, template, 3, first.json["pagination"]["next_cursor"])
    assert pages == [everything[3:]]  # no empty page after it


@pytest.mark.parametrize("template", SESSION_LISTS)
async def test_a_cursor_leads_on_when_the_sessions_before_it_were_deleted(
    http_server_client, history: History, db: Db, template
):
    # 9 sessions, pages of 3; the first page's sessions are deleted: the page after its cursor
    # is then page 2 of a list of 6 (its number and the total would say it is the last), and the
    # 3 sessions after it must still be reached
    everything = await _sessions_listed(http_server_client, history, db, template, 9)
    first = await call(http_server_client, "GET", url(template, history, "per_page=3"))
    await db.pool.execute(FIXTURE_SQL.delete_study_sessions, [item["id"] for item in everything[:3]])
    pages = await _walk(http_server_client, history, template, 3, first.json["pagination"]["next_cursor"])
    assert pages == [everything[3:6], everything[6:]]


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
    ],
)
@pytest.mark.parametrize("template", SESSION_LISTS)
async def test_a_cursor_whose_time_leaves_the_calendar_in_utc_is_422(
    http_server_client, history: History, template, moment
):
    cursor = base64.urlsafe_b64encode(f"1~{moment}~1".encode()).decode().rstrip("=")
    reply = await call(http_server_client, "GET", url(template, history, f"cursor={cursor}"))
    assert reply.status == 422, reply.body
    assert reply.json["error"].startswith("cursor is not a cursor this server gave")


async def test_a_cursor_of_the_last_page_number_leads_to_a_cursor_this_server_takes(
    http_server_client, history: History
):
    newest = history.sessions[-1]
    moment = history.times[-1].isoformat()
    cursor = base64.urlsafe_b64encode(f"2147483647~{moment}~{newest}".encode()).decode().rstrip("=")
    reply = await call(http_server_client, "GET", f"/api/study_sessions?per_page=1&cursor={cursor}")
    assert reply.status == 200, reply.body
    assert reply.json["pagination"]["current_page"] == 2147483647
    after = reply.json["pagination"]["next_cursor"]
    assert after is not None  # older sessions follow
    again = await call(http_server_client, "GET", f"/api/study_sessions?per_page=1&cursor={after}")
    assert again.status == 200, again.body


@pytest.mark.parametrize("query", ["page=1%0A", "per_page=2%0A", "cursor=abc%0A", "page=%001"])
@pytest.mark.parametrize("template", SESSION_LISTS)
async def test_a_control_character_in_a_parameter_is_400(
    http_server_client, history: History, template, query
):
    # Python's "$" matches before a final newline: "1\n" was page 1, and "abc\n" passed the
    # cursor's pattern
    reply = await call(http_server_client, "GET", url(template, history, query))
    assert reply.status == 400, reply.body
    assert "holds a control character" in reply.json["error"]


@pytest.mark.parametrize(
    ("cursor", "status", "message"),
    [
        ("%21%21", 400, 'cursor must match the pattern ^[A-Za-z0-9_-]+$, got the string "!!"'),
        ("x" * 201, 400, "cursor must be 1 to 200 characters long, got 201 characters"),
    ],
)
@pytest.mark.parametrize("template", SESSION_LISTS)
async def test_a_cursor_of_the_wrong_form_is_400(
    http_server_client, history: History, template, cursor, status, message
):
    reply = await call(http_server_client, "GET", url(template, history, f"cursor={cursor}"))
    assert reply.status == status, reply.body
    assert "cursor" in reply.json["error"]
    assert reply.json["error"] == message  # in words, not jsonschema's Python reprs
    assert reply.json["details"] == [{"field": "cursor", "message": message}]


@pytest.mark.parametrize(
    "cursor",
    [
        "abc",
        "0",  # digits stay a string for a string parameter (it was once turned into the integer 0)
        "MX4yMDI0LTA1LTAxVDA5OjAwOjAwfjE",  # 1~2024-05-01T09:00:00~1: no time zone
        "MH4yMDI0LTA1LTAxVDA5OjAwOjAwKzAwOjAwfjE",  # page 0
        "Mn4yMDI0LTEzLTAxVDA5OjAwOjAwKzAwOjAwfjE",  # month 13
        "Mn4yMDI0LTA1LTAxVDA5OjAwOjAwKzAwOjAwfjk5OTk5OTk5OTk",  # id past 2147483647
    ],
)
@pytest.mark.parametrize("template", SESSION_LISTS)
async def test_a_cursor_this_server_did_not_give_is_422(
    http_server_client, history: History, template, cursor
):
    """Schema-valid (the form of a cursor), so not a 400, but no page can start there."""
    reply = await call(http_server_client, "GET", url(template, history, f"cursor={cursor}"))
    assert reply.status == 422, reply.body
    assert reply.json["error"].startswith("cursor is not a cursor this server gave")


@pytest.mark.parametrize("template", SESSION_LISTS)
async def test_page_and_cursor_together_is_422(http_server_client, history: History, template):
    first = await call(http_server_client, "GET", url(template, history, "per_page=1"))
    cursor = first.json["pagination"]["next_cursor"]
    reply = await call(
        http_server_client, "GET", url(template, history, f"per_page=1&page=2&cursor={cursor}")
    )
    assert reply.status == 422
    assert (
        reply.json["error"]
        == "send either page or cursor, not both: cursor already says where the page starts"
    )


@pytest.mark.parametrize("template", ["/api/study_activities", "/api/groups", "/api/words"])
async def test_cursor_is_for_session_lists_only(http_server_client, history: History, template):
    reply = await call(http_server_client, "GET", url(template, history, "cursor=abc"))
    assert reply.status == 400
    assert "cursor is not a known field" in reply.json["error"]
    reply = await call(http_server_client, "GET", url(template, history))
    assert "next_cursor" not in reply.json["pagination"]


@pytest.mark.parametrize("template", SESSION_LISTS)
async def test_the_most_per_page_from_the_newest_and_from_a_cursor(
    http_server_client, history: History, db: Db, template
):
    # A page that starts at the newest session or at a cursor is read by the lists' "_from"
    # statements, which cut it under a constant bound (sql/queries/study_sessions.sql): the bound
    # must hold the largest per_page the schema allows, and agree with the OFFSET statement.
    await db.pool.execute(
        FIXTURE_SQL.insert_study_sessions_series, history.verbs, history.flashcards, 650, history.times[-1]
    )
    first = await call(http_server_client, "GET", url(template, history, "per_page=500"))
    total = first.json["pagination"]["total_items"]
    assert total > 650
    assert len(first.json["items"]) == 500
    cursor = first.json["pagination"]["next_cursor"]
    second = await call(http_server_client, "GET", url(template, history, f"per_page=500&cursor={cursor}"))
    by_page = await call(http_server_client, "GET", url(template, history, "page=2&per_page=500"))
    assert second.json["items"] == by_page.json["items"]
    assert len(second.json["items"]) == total - 500
    ids = [item["id"] for item in first.json["items"] + second.json["items"]]
    assert len(set(ids)) == total
    everything = [
        item["id"]
        for item in (
            await call(http_server_client, "GET", url(template, history, "page=1&per_page=500"))
        ).json["items"]
    ]
    assert everything == ids[:500]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("list_study_sessions_from", ()),
        ("list_group_study_sessions_from", ("verbs",)),
        ("list_activity_study_sessions_from", ("flashcards",)),
    ],
)
async def test_the_lists_from_the_newest_are_planned_once_per_connection(
    history: History, db: Db, direct_database_url, name, key
):
    # sql/queries/study_sessions.sql: the page size reaches the "_from" statements as
    # LIMIT (SELECT $n), which no plan's estimate depends on, so after its five custom plans
    # PostgreSQL keeps the generic one. With a plain LIMIT $n a custom plan for a small page is
    # estimated cheaper than the generic plan, and every call was planned again (0.6 ms of a 0.75 ms
    # statement at 1M sessions).
    await db.pool.execute(
        FIXTURE_SQL.insert_study_sessions_series, history.verbs, history.flashcards, 2000, history.times[-1]
    )
    await db.pool.execute(FIXTURE_SQL.analyze_study_sessions)
    text = getattr(portaldb.load_queries(), name)
    conn = await asyncpg.connect(direct_database_url)
    try:
        statement = await conn.prepare(text)
        for per_page in (5, 10, 10, 20, 10, 10, 5, 10):
            rows = await statement.fetch(*(getattr(history, k) for k in key), per_page, *NO_CURSOR)
            assert len(rows) == per_page
        plans = await conn.fetchrow(FIXTURE_SQL.prepared_statement_plans, text)
    finally:
        await conn.close()
    assert plans["generic_plans"] == 3, dict(plans)


# -- pages by number of one group's or activity's sessions, read from the nearer end ----------------

GROUP_AND_ACTIVITY = [
    ("/api/groups/{verbs}/study_sessions", "list_group_study_sessions", "verbs"),
    ("/api/study_activities/{flashcards}/study_sessions", "list_activity_study_sessions", "flashcards"),
]


@pytest.mark.parametrize("per_page", [1, 2, 3, 4])
@pytest.mark.parametrize(("template", "statement", "key"), GROUP_AND_ACTIVITY)
async def test_every_page_by_number_from_either_end_is_its_slice_of_the_list(
    http_server_client, history: History, db: Db, template, statement, key, per_page
):
    # 11 sessions, 4 of them started at one moment (ties, ordered by id): the pages of the older
    # half are read oldest first and turned round; each must be exactly its slice
    older = history.times[0] - dt.timedelta(days=2)
    await db.pool.execute(
        FIXTURE_SQL.insert_study_sessions_at, [older] * 4, [history.verbs] * 4, [history.flashcards] * 4
    )
    everything = await _sessions_listed(http_server_client, history, db, template, 11)
    for page in range(1, 11 // per_page + 3):
        reply = await call(
            http_server_client, "GET", url(template, history, f"page={page}&per_page={per_page}")
        )
        assert reply.status == 200, reply.body
        start = (page - 1) * per_page
        assert reply.json["items"] == everything[start : start + per_page], (page, per_page)
        assert reply.json["pagination"]["total_items"] == 11


@pytest.mark.parametrize(("template", "statement", "key"), GROUP_AND_ACTIVITY)
async def test_the_last_page_by_number_reads_from_the_oldest_end(
    history: History, db: Db, template, statement, key
):
    # 3,000 sessions: the last page of 5 reads about 5 index entries, not the 2,995 before it
    await db.pool.execute(
        FIXTURE_SQL.insert_study_sessions_series, history.verbs, history.flashcards, 3000, history.times[-1]
    )
    await db.pool.execute(FIXTURE_SQL.analyze_study_sessions)
    text = getattr(portaldb.load_queries(), statement)
    async with db.pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(text, getattr(history, key), 5, 5 * 40)
        near_the_top = await conn.fetchval(FIXTURE_SQL.session_index_entries_read)
        total = rows[0]["total_items"]
        rows = await conn.fetch(text, getattr(history, key), 5, total - 5)
        read = await conn.fetchval(FIXTURE_SQL.session_index_entries_read) - near_the_top
    assert len(rows) == 5
    assert near_the_top >= 200  # page 41 from the newest end: the 200 sessions before it, skipped
    assert read <= 20, read
