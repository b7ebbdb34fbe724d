"""Idempotency-Key: a retried POST gets the first answer back and creates nothing more."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

import asyncpg
import pytest
import tornado.httpclient
import tornado.httputil

from langportal.handlers import idempotency, make_app
from langportal.portaldb import idempotency as stored_keys
from langportal.portaldb import purge_idempotency_keys

from ..helpers import FIXTURE_SQL, Catalog, Db, call, send

PATH = "/api/study_sessions"


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def test_a_retry_gets_the_same_answer_and_creates_nothing(http_server_client, db: Db, catalog: Catalog):
    key = str(uuid.uuid4())
    body = {"group_id": catalog.group_id, "study_activity_id": catalog.activity_id}
    first = await send(http_server_client, "POST", PATH, body, headers=keyed(key))
    retry = await send(http_server_client, "POST", PATH, body, headers=keyed(key))
    assert first.status == retry.status == 201
    assert retry.body == first.body  # byte for byte
    assert retry.headers["Location"] == first.headers["Location"]
    assert "Idempotent-Replayed" not in first.headers
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert await db.count_sessions() == 1
    # a new key is a new request
    other = await send(http_server_client, "POST", PATH, body, headers=keyed(str(uuid.uuid4())))
    assert other.json["study_session"]["id"] != first.json["study_session"]["id"]
    assert await db.count_sessions() == 2


async def test_the_body_is_compared_as_json_not_as_text(http_server_client, db: Db, catalog: Catalog):
    key = "k-1"
    headers = {**keyed(key), "Content-Type": "application/json"}
    first = await send(
        http_server_client, "POST", PATH, '{"group_id":1,"study_activity_id":1}', headers=headers
    )
    retry = await send(
        http_server_client, "POST", PATH, '{ "study_activity_id": 1,\n "group_id": 1 }', headers=headers
    )
    assert (first.status, retry.status) == (201, 201)
    assert await db.count_sessions() == 1


async def test_same_key_with_another_body_is_422(http_server_client, db: Db, catalog: Catalog):
    key = "reused-key"
    await send(http_server_client, "POST", PATH, {"group_id": 1, "study_activity_id": 1}, headers=keyed(key))
    reply = await send(
        http_server_client, "POST", PATH, {"group_id": 2, "study_activity_id": 1}, headers=keyed(key)
    )
    assert reply.status == 422
    assert "already used for a different request" in reply.json["error"]
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert await db.count_sessions() == 1


async def test_same_key_on_another_endpoint_is_422(http_server_client, db: Db, catalog: Catalog):
    key = "shared"
    await send(http_server_client, "POST", PATH, {"group_id": 1, "study_activity_id": 1}, headers=keyed(key))
    reply = await send(
        http_server_client,
        "POST",
        "/api/study_sessions/1/words/1/review",
        {"correct": True},
        headers=keyed(key),
    )
    assert reply.status == 422


async def test_concurrent_requests_with_one_key_create_one_session(
    http_server, http_server_client, db: Db, catalog: Catalog
):
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=30)
    headers = {"Content-Type": "application/json", "Idempotency-Key": "same-time"}
    body = json.dumps({"group_id": 1, "study_activity_id": 1})
    try:
        replies = await asyncio.gather(
            *(
                client.fetch(
                    http_server_client.get_url(PATH),
                    method="POST",
                    body=body,
                    headers=headers,
                    raise_error=False,
                )
                for _ in range(30)
            )
        )
    finally:
        client.close()
    assert [r.code for r in replies] == [201] * 30
    assert len({json.loads(r.body)["study_session"]["id"] for r in replies}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in replies) == 29
    assert await db.count_sessions() == 1


async def test_a_404_is_kept_too(http_server_client, db: Db, catalog: Catalog):
    key = "missing-group"
    body = {"group_id": 3, "study_activity_id": 1}
    first = await send(http_server_client, "POST", PATH, body, headers=keyed(key))
    await db.fetchval("insert_group", "Third group")  # group 3 exists now
    retry = await send(http_server_client, "POST", PATH, body, headers=keyed(key))
    assert first.status == retry.status == 404
    assert (
        retry.json
        == first.json
        == {
            "error": "group 3 not found",
            "details": [{"field": "group_id", "message": "group 3 not found"}],
        }
    )
    assert await db.count_sessions() == 0


async def test_bad_input_is_not_kept(http_server_client, db: Db, catalog: Catalog):
    key = "fix-and-retry"
    bad = await send(http_server_client, "POST", PATH, {"group_id": "1"}, headers=keyed(key))
    good = await send(
        http_server_client, "POST", PATH, {"group_id": 1, "study_activity_id": 1}, headers=keyed(key)
    )
    assert (bad.status, good.status) == (400, 201)
    assert await db.count_sessions() == 1


@pytest.mark.parametrize("key", ["x" * 256, "has space", "naïve", "tab\there"])
async def test_malformed_keys(http_server_client, db: Db, catalog: Catalog, key):
    reply = await send(
        http_server_client, "POST", PATH, {"group_id": 1, "study_activity_id": 1}, headers=keyed(key)
    )
    assert reply.status == 400
    assert "Idempotency-Key" in reply.json["error"]
    assert await db.count_sessions() == 0


async def test_two_keys_in_one_request_are_400(http_server_client, db: Db, catalog: Catalog):
    # joined, they were one key "b1,b2", which a later request with that very key replayed
    headers = tornado.httputil.HTTPHeaders({"Content-Type": "application/json"})
    headers.add("Idempotency-Key", "b1")
    headers.add("Idempotency-Key", "b2")
    response = await http_server_client.fetch(
        PATH,
        method="POST",
        body=json.dumps({"group_id": 1, "study_activity_id": 1}),
        headers=headers,
        raise_error=False,
    )
    assert response.code == 400
    assert json.loads(response.body)["error"] == (
        "the Idempotency-Key header appears 2 times; send one key per request"
    )
    assert await db.count_sessions() == 0


async def test_one_point_zero_is_the_same_request_as_one(http_server_client, db: Db, catalog: Catalog):
    # the schemas take 1.0 as the integer 1: a retry that writes it so is the same request
    first = await send(
        http_server_client, "POST", PATH, {"group_id": 1, "study_activity_id": 1}, headers=keyed("k1")
    )
    again = await send(
        http_server_client, "POST", PATH, {"group_id": 1.0, "study_activity_id": 1e0}, headers=keyed("k1")
    )
    assert (first.status, again.status) == (201, 201)
    assert again.json == first.json
    assert await db.count_sessions() == 1


async def test_keys_expire(http_server_client, db: Db, catalog: Catalog):
    key = "old"
    body = {"group_id": 1, "study_activity_id": 1}
    first = await send(http_server_client, "POST", PATH, body, headers=keyed(key))
    assert await db.fetchval("idempotency_key_expiry", key) == dt.timedelta(hours=24)
    await db.fetchval("expire_idempotency_keys")
    again = await send(http_server_client, "POST", PATH, body, headers=keyed(key))
    assert again.status == 201
    assert "Idempotent-Replayed" not in again.headers
    assert again.json["study_session"]["id"] != first.json["study_session"]["id"]
    await db.fetchval("expire_idempotency_keys")
    await purge_idempotency_keys(db.pool)
    assert await db.fetchval("count_idempotency_keys") == 0


class TestShortLifetime:
    @pytest.fixture
    def app(self, pool, db):
        return make_app(pool, idempotency_ttl=90)

    async def test_the_lifetime_is_configurable(self, http_server_client, db: Db, catalog: Catalog):
        await send(
            http_server_client, "POST", PATH, {"group_id": 1, "study_activity_id": 1}, headers=keyed("k")
        )
        assert await db.fetchval("idempotency_key_expiry", "k") == dt.timedelta(seconds=90)


async def test_reviews_take_keys_too(http_server_client, db: Db, catalog: Catalog):
    word = await db.fetchval("insert_word", "水", "mizu", "water", "[]")
    session = await send(http_server_client, "POST", PATH, {"group_id": 1, "study_activity_id": 1})
    path = f"{session.headers['Location']}/words/{word}/review"
    first = await send(http_server_client, "POST", path, {"correct": True}, headers=keyed("review-1"))
    retry = await send(http_server_client, "POST", path, {"correct": True}, headers=keyed("review-1"))
    assert first.status == retry.status == 201
    assert retry.json == first.json
    assert await db.fetchval("count_reviews") == 1


async def test_cors_lets_browsers_send_and_read_the_headers(http_server_client, db: Db):
    preflight = await send(
        http_server_client,
        "OPTIONS",
        PATH,
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Headers": "content-type,idempotency-key",
        },
    )
    assert "Idempotency-Key" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Idempotent-Replayed" in preflight.headers["Access-Control-Expose-Headers"]


class TestResets:
    @pytest.fixture
    def app(self, pool, db):
        return make_app(pool, allow_reset=True)

    @pytest.mark.parametrize("reset", ["/api/reset_history", "/api/full_reset"])
    async def test_a_key_used_before_a_reset_is_new_after_it(
        self, http_server_client, db: Db, catalog: Catalog, reset
    ):
        body = {"group_id": 1, "study_activity_id": 1}
        await send(http_server_client, "POST", PATH, body, headers=keyed("before-reset"))
        assert (await send(http_server_client, "POST", reset)).status == 200
        assert await db.fetchval("count_idempotency_keys") == 0
        again = await send(http_server_client, "POST", PATH, body, headers=keyed("before-reset"))
        assert "Idempotent-Replayed" not in again.headers


class TestTheStoredAnswerGoneBeforeItIsRead:
    """Between a request's claim of a live key and its read of the stored answer, the answer cannot
    be deleted by another transaction (the claim locks the key's row); should it be gone all the
    same, the request claims the key anew and does its work, or, if that keeps happening, is a 409."""

    async def test_a_concurrent_delete_waits_for_the_claiming_transaction(self, direct_database_url, db: Db):
        async with db.pool.acquire() as first, first.transaction():
            assert await stored_keys.claim(first, "k", "fingerprint", 60)
            await stored_keys.store_answer(first, "k", 201, "{}", {})
        # directly: the deleter's backend pid is looked up (a pooler would hide it)
        claimer = await asyncpg.connect(direct_database_url)
        deleter = await asyncpg.connect(direct_database_url)
        try:
            async with claimer.transaction():
                assert not await stored_keys.claim(claimer, "k", "fingerprint", 60)  # live: locked
                deleting = asyncio.ensure_future(deleter.execute(FIXTURE_SQL.delete_idempotency_key, "k"))
                deleter_pid = deleter.get_server_pid()
                for _ in range(500):
                    if await claimer.fetchval(FIXTURE_SQL.waits_for_a_lock, deleter_pid):
                        break
                    await asyncio.sleep(0.01)
                else:
                    pytest.fail("the DELETE did not wait for the claiming transaction")
                assert not deleting.done()
                found = await stored_keys.find_answer(claimer, "k")
                assert found == stored_keys.StoredAnswer("fingerprint", 201, "{}", {})
            assert await deleting == "DELETE 1"  # once the claiming transaction ended
        finally:
            await claimer.close()
            await deleter.close()

    async def test_the_work_runs_again_when_the_answer_is_gone(
        self, http_server_client, db: Db, catalog: Catalog, monkeypatch
    ):
        body = {"group_id": 1, "study_activity_id": 1}
        first = await send(http_server_client, "POST", PATH, body, headers=keyed("vanishing"))
        real_find = stored_keys.find_answer
        calls = []

        async def find_after_a_reset(conn, key):
            calls.append(key)
            if len(calls) == 1:  # the key's row is deleted right after the claim found it live
                await conn.execute(FIXTURE_SQL.delete_idempotency_key, key)
            return await real_find(conn, key)

        monkeypatch.setattr(stored_keys, "find_answer", find_after_a_reset)
        again = await send(http_server_client, "POST", PATH, body, headers=keyed("vanishing"))
        assert again.status == 201, again.json
        assert "Idempotent-Replayed" not in again.headers
        assert again.json["study_session"]["id"] != first.json["study_session"]["id"]
        assert calls == ["vanishing"]  # claimed anew, so nothing more to read
        retry = await send(http_server_client, "POST", PATH, body, headers=keyed("vanishing"))
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert retry.body == again.body
        assert await db.count_sessions() == 2

    async def test_an_answer_that_keeps_vanishing_is_a_409(
        self, http_server_client, db: Db, catalog: Catalog, monkeypatch
    ):
        claims = []

        async def live_key_elsewhere(conn, key, fingerprint, ttl):
            claims.append(key)
            return False

        async def gone(conn, key):
            return None

        monkeypatch.setattr(stored_keys, "claim", live_key_elsewhere)
        monkeypatch.setattr(stored_keys, "find_answer", gone)
        body = {"group_id": 1, "study_activity_id": 1}
        reply = await call(http_server_client, "POST", PATH, body, headers=keyed("always-gone"))
        assert reply.status == 409
        assert reply.json["error"].endswith("send the request again")
        assert claims == ["always-gone"] * idempotency.CLAIM_ATTEMPTS
        assert await db.count_sessions() == 0
