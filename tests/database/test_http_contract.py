"""What every /api response promises: JSON errors, CORS, request ids, access log, 404/405/500/503."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from langportal.handlers import make_app
from langportal.portaldb.queries import Queries

from ..helpers import Catalog, Db, send

VALID = {"group_id": 1, "study_activity_id": 1}


# -- GET /api/study_sessions/{id} ----------------------------------------------------------------


async def test_location_leads_to_the_same_session(http_server_client, db: Db, catalog: Catalog):
    created = await send(http_server_client, "POST", "/api/study_sessions", VALID)
    fetched = await send(http_server_client, "GET", created.headers["Location"])
    assert fetched.status == 200
    created_session, fetched_session = created.json["study_session"], fetched.json["study_session"]
    assert {k: fetched_session[k] for k in created_session} == created_session


async def test_get_unknown_session(http_server_client, db: Db):
    reply = await send(http_server_client, "GET", "/api/study_sessions/12345")
    assert reply.status == 404
    assert reply.json == {"error": "study session 12345 not found"}


@pytest.mark.parametrize("session_id", ["abc", "0", "-1", "2147483648", "1.5", "%C2%B2", "1%20"])
async def test_get_with_a_bad_id(http_server_client, db: Db, session_id):
    reply = await send(http_server_client, "GET", f"/api/study_sessions/{session_id}")
    assert reply.status == 400
    assert reply.json["error"].startswith("study session id must be an integer from 1 to 2147483647")


# -- 404 and 405 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api", "/api/", "/api/nothing", "/api/study_sessions/1/2/3", "/favicon.ico", "/index.html"]
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "OPTIONS"])
async def test_unknown_paths_answer_json_404(http_server_client, db: Db, path, method):
    reply = await send(http_server_client, method, path)
    assert reply.status == 404
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert reply.json["error"].startswith(f"no endpoint at {path}")
    assert reply.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/study_sessions", "GET, HEAD, POST, OPTIONS"),
        ("DELETE", "/api/study_sessions", "GET, HEAD, POST, OPTIONS"),
        ("PATCH", "/api/study_sessions", "GET, HEAD, POST, OPTIONS"),
        ("POST", "/api/study_sessions/1", "GET, HEAD, OPTIONS"),
        ("DELETE", "/api/study_sessions/1", "GET, HEAD, OPTIONS"),
    ],
)
async def test_method_not_allowed(http_server_client, db: Db, method, path, allow):
    reply = await send(http_server_client, method, path, b"{}" if method != "GET" else None)
    assert reply.status == 405
    assert reply.headers["Allow"] == allow
    assert reply.json == {"error": f"{method} is not allowed on {path}; use {allow}"}
    assert reply.headers["Access-Control-Allow-Origin"] == "*"


# -- HEAD ------------------------------------------------------------------------------------------

# answers that differ between two requests whatever the method
_PER_REQUEST = {"Date", "X-Request-Id", "Etag"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/groups",
        "/api/groups/1",
        "/api/groups/1/words?per_page=5",
        "/api/words/1",
        "/api/study_sessions/{created}",
        "/api/openapi.json",
        "/healthz",
        "/readyz",
        "/groups?page=1&sort_by=word_count",
        "/api/study-activities",
        "/api/groups/123456",  # 404
        "/api/study_sessions/abc",  # 400
        "/api/nothing",  # no route: 404
    ],
)
async def test_head_answers_as_get_does_without_the_body(http_server_client, db: Db, catalog: Catalog, path):
    created = await send(http_server_client, "POST", "/api/study_sessions", VALID)
    path = path.format(created=created.json["study_session"]["id"])
    got = await send(http_server_client, "GET", path)
    head = await send(http_server_client, "HEAD", path)
    assert head.status == got.status
    assert head.body == b""
    assert int(head.headers["Content-Length"]) == len(got.body) > 0
    assert {k: v for k, v in head.headers.get_all() if k not in _PER_REQUEST} == {
        k: v for k, v in got.headers.get_all() if k not in _PER_REQUEST
    }


async def test_head_of_a_route_without_get_is_not_allowed(http_server_client, db: Db):
    reply = await send(http_server_client, "HEAD", "/api/study_sessions/1/words/1/review")
    assert reply.status == 405
    assert reply.headers["Allow"] == "POST, OPTIONS"
    assert reply.body == b""


# -- request ids and the access log ----------------------------------------------------------------


async def test_every_response_has_a_request_id(http_server_client, db: Db, catalog: Catalog):
    ok = await send(http_server_client, "POST", "/api/study_sessions", VALID)
    bad = await send(http_server_client, "POST", "/api/study_sessions", {})
    missing = await send(http_server_client, "GET", "/api/nowhere")
    ids = [r.headers["X-Request-ID"] for r in (ok, bad, missing)]
    assert all(len(i) == 32 for i in ids)
    assert len(set(ids)) == 3


async def test_a_sane_incoming_request_id_is_kept(http_server_client, db: Db, catalog: Catalog):
    reply = await send(
        http_server_client, "POST", "/api/study_sessions", VALID, headers={"X-Request-ID": "abc-123"}
    )
    assert reply.headers["X-Request-ID"] == "abc-123"
    odd = await send(
        http_server_client, "POST", "/api/study_sessions", VALID, headers={"X-Request-ID": "a b\u00e9"}
    )
    assert odd.headers["X-Request-ID"] != "a b\u00e9"
    assert len(odd.headers["X-Request-ID"]) == 32


async def test_one_access_line_per_request(http_server_client, db: Db, catalog: Catalog, caplog):
    caplog.set_level(logging.INFO, logger="portal")
    ok = await send(http_server_client, "POST", "/api/study_sessions", VALID)
    bad = await send(http_server_client, "POST", "/api/study_sessions", {"group_id": 1})
    records = [r for r in caplog.records if r.name == "portal.access"]
    assert len(records) == 2
    assert records[0].levelno == logging.INFO
    assert records[0].getMessage().startswith(f"127.0.0.1 POST /api/study_sessions 201 {len(ok.body)} ")
    assert records[0].getMessage().endswith(f"ms rid={ok.headers['X-Request-ID']}")
    assert records[1].levelno == logging.WARNING
    assert "400 " in records[1].getMessage()
    assert bad.headers["X-Request-ID"] in records[1].getMessage()
    louder = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name != "portal.access"]
    assert louder == []


async def test_the_access_line_of_a_head_says_no_body_was_sent(
    http_server_client, db: Db, catalog: Catalog, caplog
):
    caplog.set_level(logging.INFO, logger="portal")
    head = await send(http_server_client, "HEAD", "/api/groups/1")
    assert int(head.headers["Content-Length"]) > 0  # the GET's length
    (record,) = [r for r in caplog.records if r.name == "portal.access"]
    assert record.getMessage().startswith("127.0.0.1 HEAD /api/groups/1 200 - ")


# -- CORS -----------------------------------------------------------------------------------------


async def test_preflight(http_server_client, db: Db):
    reply = await send(
        http_server_client,
        "OPTIONS",
        "/api/study_sessions",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert reply.status == 204
    assert reply.body == b""
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert reply.headers["Access-Control-Allow-Methods"] == "GET, HEAD, POST, OPTIONS"
    assert "Content-Type" in reply.headers["Access-Control-Allow-Headers"]
    assert int(reply.headers["Access-Control-Max-Age"]) > 0


async def test_preflight_of_a_single_session(http_server_client, db: Db):
    reply = await send(
        http_server_client, "OPTIONS", "/api/study_sessions/7", headers={"Origin": "http://x.test"}
    )
    assert reply.status == 204
    assert reply.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [
        ("POST", "/api/study_sessions", VALID, {}, 201),
        ("POST", "/api/study_sessions", {}, {}, 400),
        ("POST", "/api/study_sessions", {"group_id": 9, "study_activity_id": 9}, {}, 404),
        ("GET", "/api/nowhere", None, {}, 404),
        ("DELETE", "/api/study_sessions", None, {}, 405),
        ("POST", "/api/study_sessions", "x" * 70_000, {"Content-Type": "application/json"}, 413),
        ("POST", "/api/study_sessions", "{}", {"Content-Type": "text/plain"}, 415),
    ],
)
async def test_every_answer_carries_cors_headers(
    http_server_client, db: Db, catalog: Catalog, method, path, body, headers, status
):
    headers = {"Origin": "http://localhost:3000", **headers}
    reply = await send(http_server_client, method, path, body, headers=headers)
    assert reply.status == status
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert "Location" in reply.headers["Access-Control-Expose-Headers"]
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert "Server" not in reply.headers


class TestAllowlist:
    """With --cors-origins a,b: the request's Origin is echoed only when listed, with Vary: Origin."""

    @pytest.fixture
    def app(self, pool, db):
        return make_app(pool, cors_origins=["http://localhost:3000", "https://portal.example"])

    async def test_listed_origin_is_echoed(self, http_server_client, db: Db, catalog: Catalog):
        for origin in ("http://localhost:3000", "https://portal.example"):
            reply = await send(
                http_server_client, "POST", "/api/study_sessions", VALID, headers={"Origin": origin}
            )
            assert reply.status == 201
            assert reply.headers["Access-Control-Allow-Origin"] == origin
            assert reply.headers["Vary"] == "Origin"

    async def test_listed_origin_on_errors_and_preflight(self, http_server_client, db: Db):
        origin = {"Origin": "https://portal.example"}
        for method, path, body in [
            ("POST", "/api/study_sessions", {}),
            ("GET", "/api/x", None),
            ("OPTIONS", "/api/study_sessions", None),
        ]:
            reply = await send(http_server_client, method, path, body, headers=origin)
            assert reply.headers["Access-Control-Allow-Origin"] == "https://portal.example"
            assert reply.headers["Vary"] == "Origin"

    @pytest.mark.parametrize(
        "origin",
        [
            "http://evil.example",
            "http://localhost:3001",
            "https://localhost:3000",
            "null",
            "http://localhost:3000.evil",
        ],
    )
    async def test_other_origins_get_no_allow_origin(
        self, http_server_client, db: Db, catalog: Catalog, origin
    ):
        reply = await send(
            http_server_client, "POST", "/api/study_sessions", VALID, headers={"Origin": origin}
        )
        assert reply.status == 201  # CORS is enforced by the browser; the server just doesn't allow it
        assert "Access-Control-Allow-Origin" not in reply.headers
        assert reply.headers["Vary"] == "Origin"
        preflight = await send(
            http_server_client, "OPTIONS", "/api/study_sessions", headers={"Origin": origin}
        )
        assert "Access-Control-Allow-Origin" not in preflight.headers


# -- 500: an unexpected fault ------------------------------------------------------------------


class TestUnexpectedFault:
    """A statement that fails in the database (here: a division by zero) is a 500 that tells the
    client only a request id, while the log keeps the traceback under that id."""

    @pytest.fixture
    def app(self, pool, db):
        app = make_app(pool)
        broken = {name: getattr(app.queries, name) for name in app.queries.names()}
        broken["create_study_sessions"] = (
            "SELECT 1 / (a - a) AS id FROM unnest($1::int[], $2::int[]) AS r (a, b)"
        )
        app.queries = Queries(broken)
        return app

    async def test_500_hides_details_and_logs_them(
        self, http_server_client, db: Db, catalog: Catalog, caplog
    ):
        reply = await send(
            http_server_client, "POST", "/api/study_sessions", VALID, headers={"Origin": "http://a.test"}
        )
        assert reply.status == 500
        request_id = reply.headers["X-Request-ID"]
        assert reply.json == {"error": "internal server error", "request_id": request_id}
        assert reply.headers["Access-Control-Allow-Origin"] == "*"
        failures = [r for r in caplog.records if r.name == "portal.api" and r.levelno == logging.ERROR]
        assert len(failures) == 1
        assert request_id in failures[0].getMessage()
        assert failures[0].exc_info is not None
        assert "division by zero" in str(failures[0].exc_info[1])
        assert await db.count_sessions() == 0


# -- 503: the database cannot serve -----------------------------------------------------------------


class TestDatabaseUnreachable:
    @pytest.fixture
    def app(self, io_loop, unused_port):
        dead = io_loop.run_sync(
            lambda: asyncpg.create_pool(
                f"postgresql://postgres@127.0.0.1:{unused_port}/postgres", min_size=0, timeout=2
            )
        )
        yield make_app(dead)
        io_loop.run_sync(dead.close)

    async def test_503_with_retry_after(self, http_server_client):
        reply = await send(http_server_client, "POST", "/api/study_sessions", VALID)
        assert reply.status == 503
        assert reply.headers["Retry-After"] == "1"
        assert reply.json == {"error": "the database is unavailable or busy; retry shortly"}
        assert reply.headers["Access-Control-Allow-Origin"] == "*"
        assert "Retry-After" in reply.headers["Access-Control-Expose-Headers"]


class TestPoolExhausted:
    """With every connection busy, a request waits at most pool_timeout, then gets 503."""

    @pytest.fixture
    def app(self, one_connection, db):
        return make_app(one_connection, pool_timeout=0.2)

    async def test_503_when_no_connection_frees_up(
        self, http_server_client, one_connection, db: Db, catalog: Catalog
    ):
        async with one_connection.acquire():
            started = asyncio.get_running_loop().time()
            reply = await send(http_server_client, "POST", "/api/study_sessions", VALID)
            waited = asyncio.get_running_loop().time() - started
        assert reply.status == 503
        assert reply.headers["Retry-After"] == "1"
        assert waited < 2
        assert await db.count_sessions() == 0
        after = await send(http_server_client, "POST", "/api/study_sessions", VALID)
        assert after.status == 201
