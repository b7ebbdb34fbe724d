"""POST /api/study_sessions: the contract, input by input, and that nothing is stored on any error."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
import tornado.httpclient

from ..helpers import FIXTURE_SQL, Catalog, Db, send

PATH = "/api/study_sessions"
JSON = {"Content-Type": "application/json"}


async def post(client, body, **kwargs):
    return await send(client, "POST", PATH, body, **kwargs)


# -- success --------------------------------------------------------------------------------------


async def test_creates_a_session(http_server_client, db: Db, catalog: Catalog):
    reply = await post(
        http_server_client, {"group_id": catalog.group_id, "study_activity_id": catalog.activity_id}
    )

    assert reply.status == 201
    session = reply.json["study_session"]
    assert set(session) == {"id", "group_id", "study_activity_id", "created_at"}
    assert session["group_id"] == catalog.group_id
    assert session["study_activity_id"] == catalog.activity_id
    assert isinstance(session["id"], int)
    assert reply.headers["Location"] == f"/api/study_sessions/{session['id']}"
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"

    row = await db.fetchrow("study_session_row", session["id"])
    assert row is not None
    created_at = dt.datetime.fromisoformat(session["created_at"])
    assert created_at.utcoffset() == dt.timedelta(0)
    assert created_at == row["created_at"]  # the stored timestamp, not the server's clock
    assert await db.count_sessions() == 1


async def test_each_create_makes_a_new_session(http_server_client, db: Db, catalog: Catalog):
    body = {"group_id": catalog.group_id, "study_activity_id": catalog.activity_id}
    first = await post(http_server_client, body)
    second = await post(http_server_client, body)
    assert first.status == second.status == 201
    assert first.json["study_session"]["id"] != second.json["study_session"]["id"]
    assert await db.count_sessions() == 2


@pytest.mark.parametrize(
    "body_text",
    [
        '{"group_id": 1.0, "study_activity_id": 1}',  # JSON Schema: 1.0 is the integer 1
        '{"group_id": 1e0, "study_activity_id": 1}',
        '{"study_activity_id": 1, "group_id": 1}',  # field order does not matter
        ' \n {"group_id":1,"study_activity_id":1} \n',  # surrounding whitespace
    ],
)
async def test_accepts_equivalent_json(http_server_client, db: Db, catalog: Catalog, body_text):
    reply = await post(http_server_client, body_text, headers=JSON)
    assert reply.status == 201, reply.body
    assert reply.json["study_session"]["group_id"] == 1
    assert type(reply.json["study_session"]["group_id"]) is int
    assert await db.count_sessions() == 1


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON; charset=UTF-8",
        'application/json;charset="utf-8"',
    ],
)
async def test_accepts_json_media_types(http_server_client, db: Db, catalog: Catalog, content_type):
    reply = await post(
        http_server_client,
        json.dumps({"group_id": 1, "study_activity_id": 1}),
        headers={"Content-Type": content_type},
    )
    assert reply.status == 201


async def test_largest_ids_are_looked_up_not_rejected(http_server_client, db: Db, catalog: Catalog):
    reply = await post(http_server_client, {"group_id": 2147483647, "study_activity_id": 2147483647})
    assert reply.status == 404
    assert await db.count_sessions() == 0


# -- 400: the body is not what the contract asks for ---------------------------------------------


async def assert_rejected(reply, db: Db, status: int = 400) -> dict:
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    body = reply.json
    assert isinstance(body["error"], str)
    assert body["error"]
    assert await db.count_sessions() == 0
    return body


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["group_id", "study_activity_id"]),
        ({"group_id": 1}, ["study_activity_id"]),
        ({"study_activity_id": 1}, ["group_id"]),
    ],
)
async def test_missing_fields_are_named(http_server_client, db: Db, catalog: Catalog, body, fields):
    error = await assert_rejected(await post(http_server_client, body), db)
    assert sorted(d["field"] for d in error["details"]) == fields
    for field in fields:
        assert f"{field} is required" in error["error"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "true"),
        (False, "false"),
        ("1", 'the string "1"'),
        ("abc", 'the string "abc"'),
        (1.5, "1.5"),
        (None, "null"),
        ({"id": 1}, "an object"),
        ([1], "an array"),
    ],
)
@pytest.mark.parametrize("field", ["group_id", "study_activity_id"])
async def test_values_that_are_not_integers(
    http_server_client, db: Db, catalog: Catalog, field, value, shown
):
    body = {"group_id": 1, "study_activity_id": 1, field: value}
    error = await assert_rejected(await post(http_server_client, body), db)
    assert error["details"] == [{"field": field, "message": f"{field} must be an integer, got {shown}"}]
    assert error["error"] == f"{field} must be an integer, got {shown}"


@pytest.mark.parametrize("text", ["0", "-1", "2147483648", "9223372036854775808", "1e300", "-1e300"])
async def test_integers_out_of_range(http_server_client, db: Db, catalog: Catalog, text):
    body = f'{{"group_id": {text}, "study_activity_id": 1}}'
    error = await assert_rejected(await post(http_server_client, body, headers=JSON), db)
    assert error["details"][0]["field"] == "group_id"
    assert "group_id must be from 1 to 2147483647" in error["error"]


async def test_unknown_fields_are_refused(http_server_client, db: Db, catalog: Catalog):
    body = {"group_id": 1, "study_activity_id": 1, "user_id": 5, "名前": "x"}
    error = await assert_rejected(await post(http_server_client, body), db)
    assert {d["field"] for d in error["details"]} == {"user_id", "名前"}
    assert "user_id is not a known field (allowed: group_id, study_activity_id)" in error["error"]


@pytest.mark.parametrize("body", ["[]", "[1, 2]", "1", '"text"', "null", "true"])
async def test_body_that_is_not_an_object(http_server_client, db: Db, catalog: Catalog, body):
    error = await assert_rejected(await post(http_server_client, body, headers=JSON), db)
    assert error["error"].startswith("the request body must be a JSON object")
    assert error["details"][0]["field"] is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "the request body is empty"),
        (b"   ", "the request body is empty"),
        (b"{", "not valid JSON"),
        (b'{"group_id": 1, "study_activity_id": 1,}', "not valid JSON"),
        (b"{'group_id': 1}", "not valid JSON"),
        (b'{"group_id": 1} {"x": 2}', "not valid JSON"),
        (b'{"group_id": 01, "study_activity_id": 1}', "not valid JSON"),
        (b'{"group_id": \xff, "study_activity_id": 1}', "not valid UTF-8"),
        (b'{"group_id": 1, "study_activity_id": 1, "x": "\xc3"}', "not valid UTF-8"),
        (b'\xef\xbb\xbf{"group_id": 1, "study_activity_id": 1}', "byte order mark"),
        (b'{"group_id": NaN, "study_activity_id": 1}', "NaN is not valid JSON"),
        (b'{"group_id": Infinity, "study_activity_id": 1}', "Infinity is not valid JSON"),
        (b'{"group_id": -Infinity, "study_activity_id": 1}', "-Infinity is not valid JSON"),
        (b'{"group_id": 1e400, "study_activity_id": 1}', "too large"),
        (
            b'{"group_id": 1, "group_id": 2, "study_activity_id": 1}',
            'the field "group_id" appears more than once',
        ),
        (
            b'{"group_id": 1, "study_activity_id": 1, "group_id": 1}',
            'the field "group_id" appears more than once',
        ),
        (b'{"group_id": ' + b"9" * 5000 + b', "study_activity_id": 1}', "too many digits"),
        (b"[" * 20000 + b"]" * 20000, "nested too deeply"),
    ],
)
async def test_malformed_bodies(http_server_client, db: Db, catalog: Catalog, raw, message):
    error = await assert_rejected(await post(http_server_client, raw, headers=JSON), db)
    assert message in error["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"group_id": "1; DROP TABLE groups; --", "study_activity_id": 1},
        {"group_id": "' OR '1'='1", "study_activity_id": 1},
        {"group_id": "<script>alert(1)</script>", "study_activity_id": 1},
        {"group_id": "\u0661", "study_activity_id": 1},  # an Arabic-Indic digit one
        {"group_id": "\u0000", "study_activity_id": 1},
        {"group_id": 1, "study_activity_id": 1, "\ud800": 1},  # a lone surrogate as a key
        {"group_id": 1, "study_activity_id": 1, "x" * 1000: 1},
    ],
)
async def test_special_characters_are_plain_bad_input(http_server_client, db: Db, catalog: Catalog, body):
    await assert_rejected(await post(http_server_client, json.dumps(body), headers=JSON), db)
    # the catalogue is untouched: the next valid request still works
    assert (await post(http_server_client, {"group_id": 1, "study_activity_id": 1})).status == 201


# -- 404: well-formed ids with no row -------------------------------------------------------------


async def test_unknown_group(http_server_client, db: Db, catalog: Catalog):
    error = await assert_rejected(
        await post(http_server_client, {"group_id": 42, "study_activity_id": catalog.activity_id}), db, 404
    )
    assert error["error"] == "group 42 not found"
    assert error["details"] == [{"field": "group_id", "message": "group 42 not found"}]


async def test_unknown_study_activity(http_server_client, db: Db, catalog: Catalog):
    error = await assert_rejected(
        await post(http_server_client, {"group_id": catalog.group_id, "study_activity_id": 7}), db, 404
    )
    assert error["error"] == "study activity 7 not found"


async def test_both_unknown_are_both_named(http_server_client, db: Db, catalog: Catalog):
    error = await assert_rejected(
        await post(http_server_client, {"group_id": 42, "study_activity_id": 7}), db, 404
    )
    assert error["error"] == "group 42 not found; study activity 7 not found"
    assert [d["field"] for d in error["details"]] == ["group_id", "study_activity_id"]


async def test_empty_database(http_server_client, db: Db):
    error = await assert_rejected(
        await post(http_server_client, {"group_id": 1, "study_activity_id": 1}), db, 404
    )
    assert error["error"] == "group 1 not found; study activity 1 not found"


# -- 413 and 415 ------------------------------------------------------------------------------------


async def test_body_over_the_limit(http_server_client, db: Db, catalog: Catalog):
    body = json.dumps({"group_id": 1, "study_activity_id": 1, "padding": "x" * 70_000})
    error = await assert_rejected(await post(http_server_client, body, headers=JSON), db, 413)
    assert "the limit is 65536 bytes" in error["error"]


async def test_chunked_body_over_the_limit(http_server_client, db: Db, catalog: Catalog):
    chunks = [b'{"group_id": 1, "study_activity_id": 1, "padding": "', b"x" * 40_000, b"x" * 40_000, b'"}']

    async def producer(write):
        for chunk in chunks:
            await write(chunk)

    reply = await send(http_server_client, "POST", PATH, body_producer=producer, headers=JSON)
    await assert_rejected(reply, db, 413)


async def test_body_at_the_limit_is_read(http_server_client, db: Db, catalog: Catalog):
    prefix, suffix = '{"group_id": 1, "study_activity_id": 1, "padding": "', '"}'
    body = prefix + "x" * (65536 - len(prefix) - len(suffix)) + suffix
    assert len(body) == 65536
    error = await assert_rejected(await post(http_server_client, body, headers=JSON), db, 400)
    assert "padding is not a known field" in error["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {"Content-Type": "application/json-patch+json"},
        {"Content-Type": "application/json; charset=latin-1"},
    ],
)
async def test_not_json_media_type(http_server_client, db: Db, catalog: Catalog, headers):
    body = json.dumps({"group_id": 1, "study_activity_id": 1})
    error = await assert_rejected(await post(http_server_client, body, headers=headers), db, 415)
    assert "application/json" in error["error"] or "UTF-8" in error["error"]


# -- concurrency ------------------------------------------------------------------------------------


async def test_concurrent_creates_all_succeed_with_distinct_ids(
    http_server, http_server_client, db: Db, catalog: Catalog
):
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=200)
    url = http_server_client.get_url(PATH)
    body = json.dumps({"group_id": catalog.group_id, "study_activity_id": catalog.activity_id})
    try:
        replies = await asyncio.gather(
            *(
                client.fetch(
                    url,
                    method="POST",
                    body=body,
                    headers=JSON,
                    raise_error=False,
                )
                for _ in range(200)
            )
        )
    finally:
        client.close()
    assert [r.code for r in replies] == [201] * 200
    ids = [json.loads(r.body)["study_session"]["id"] for r in replies]
    assert len(set(ids)) == 200
    assert await db.count_sessions() == 200
    stored = [row["id"] for row in await db.pool.fetch(FIXTURE_SQL.all_study_session_ids)]
    assert stored == sorted(ids)
