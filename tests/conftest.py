"""Shared fixtures: one real PostgreSQL for the whole run, a clean database for every test.

The database is ``TEST_DATABASE_URL`` when set, otherwise an embedded PostgreSQL started in a
temporary folder (never the data folder of ``python server.py``). pytest-tornasync drives the app:
its ``http_server_client`` serves the ``app`` fixture below on a random port.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import tornado.ioloop
import tornado.testing
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from langportal import portaldb
from langportal.handlers import build_document
from langportal.portaldb.queries import Queries, parse
from langportal.program import make_app

FIXTURE_SQL = Queries(parse((Path(__file__).parent / "sql" / "fixtures.sql").read_text(), "fixtures.sql"))


@pytest.fixture(scope="session")
def io_loop() -> Iterator[tornado.ioloop.IOLoop]:
    """One event loop for the run, so the session-wide pool lives on the loop that uses it.

    Replaces pytest-tornasync's own, which calls the deprecated ``make_current()``.
    """
    loop = tornado.ioloop.IOLoop(make_current=False)
    asyncio.set_event_loop(loop.asyncio_loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close(all_fds=True)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    folder = tempfile.mkdtemp(prefix="langportal-test-")
    server = portaldb.EmbeddedPostgres(folder)
    # A SIGTERM (a CI timeout, `kill`) unwinds pytest like Ctrl-C, so this fixture still stops
    # its PostgreSQL and removes the folder instead of leaving them behind.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    server.start()
    try:
        yield server.dsn
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def pool(io_loop: tornado.ioloop.IOLoop, database_url: str) -> Iterator[asyncpg.Pool]:
    async def open_pool() -> asyncpg.Pool:
        pool = await portaldb.create_pool(
            database_url, min_size=1, max_size=10, connect_timeout=10, statement_timeout=10
        )
        async with pool.acquire() as conn:
            await portaldb.migrate(conn, portaldb.load_queries())
        return pool

    pool = io_loop.run_sync(open_pool)
    yield pool
    io_loop.run_sync(pool.close)


@dataclass
class Db:
    """Direct access to the test database, for arranging data and checking what was stored."""

    pool: asyncpg.Pool

    async def fetchval(self, name: str, *args: Any) -> Any:
        return await self.pool.fetchval(getattr(FIXTURE_SQL, name), *args)

    async def fetchrow(self, name: str, *args: Any) -> Any:
        return await self.pool.fetchrow(getattr(FIXTURE_SQL, name), *args)

    async def count_sessions(self) -> int:
        return await self.fetchval("count_study_sessions")


@pytest.fixture
def db(io_loop: tornado.ioloop.IOLoop, pool: asyncpg.Pool) -> Db:
    """A clean database (every table emptied, ids restarting at 1) for each test."""
    io_loop.run_sync(lambda: pool.execute(FIXTURE_SQL.truncate_all))
    return Db(pool)


@dataclass
class Catalog:
    group_id: int
    other_group_id: int
    activity_id: int


@pytest.fixture
def catalog(io_loop: tornado.ioloop.IOLoop, db: Db) -> Catalog:
    """Two groups and one study activity."""

    async def insert() -> Catalog:
        group = await db.fetchval("insert_group", "Core Verbs")
        other = await db.fetchval("insert_group", "Food and Drink")
        activity = await db.fetchval("insert_study_activity", "Flashcards", "http://localhost:8082")
        return Catalog(group, other, activity)

    return io_loop.run_sync(insert)


@pytest.fixture
def app(pool: asyncpg.Pool, db: Db) -> Any:
    return make_app(pool)


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


async def send(client: Any, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
    """One request through pytest-tornasync's client; errors are returned, not raised.

    ``body`` may be bytes/str (sent as is) or any other value (sent as JSON); JSON bodies get
    ``Content-Type: application/json`` unless ``headers`` say otherwise.
    """
    headers = dict(kwargs.pop("headers", {}))
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    if body is None and method in ("POST", "PUT", "PATCH") and "body_producer" not in kwargs:
        body = b""
    response = await client.fetch(
        path,
        method=method,
        body=body,
        headers=headers,
        raise_error=False,
        allow_nonstandard_methods=True,
        **kwargs,
    )
    return Reply(response.code, response.headers, response.body or b"")


@pytest.fixture
def unused_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    sock, port = tornado.testing.bind_unused_port()
    sock.close()
    return port


# -- added for the portal's read endpoints (issue 5) ------------------------------------------------


@pytest.fixture
def demo(io_loop: tornado.ioloop.IOLoop, db: Db) -> Db:
    """The demo data set (sql/seed/demo.sql), loaded the way POST /api/full_reset loads it."""

    async def load() -> None:
        async with db.pool.acquire() as conn:
            await portaldb.restore_demo(conn, portaldb.load_queries())

    io_loop.run_sync(load)
    return db


@dataclass
class History:
    """A small, known history: see the ``history`` fixture."""

    verbs: int  # group ids
    food: int
    empty_group: int
    flashcards: int  # study activity ids
    typing: int
    words: dict[str, int]  # kanji -> id
    sessions: list[int]  # oldest first
    times: list[Any]  # each session's created_at, oldest first


T0 = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def history(io_loop: tornado.ioloop.IOLoop, db: Db) -> History:
    """Three groups (one empty), two activities, four words, three sessions and their reviews.

    Words: 食べる, 飲む (Verbs), 水 (Food), 魚 (Verbs and Food). Sessions, an hour apart from T0:
    s1 Verbs/Flashcards: 食べる right, 食べる wrong, 飲む right (last review at T0 + 30 min);
    s2 Food/Typing: 水 wrong, 魚 right;  s3 Verbs/Flashcards: no reviews.
    """

    async def insert() -> History:
        verbs = await db.fetchval("insert_group", "Verbs")
        food = await db.fetchval("insert_group", "Food")
        empty = await db.fetchval("insert_group", "Empty")
        flashcards = await db.fetchval("insert_study_activity", "Flashcards", "http://localhost:8082")
        typing = await db.fetchval("insert_study_activity", "Typing Tutor", "http://localhost:8081")
        words = {}
        for kanji, romaji, english, groups in [
            ("食べる", "taberu", "to eat", [verbs]),
            ("飲む", "nomu", "to drink", [verbs]),
            ("水", "mizu", "water", [food]),
            ("魚", "sakana", "fish", [verbs, food]),
        ]:
            parts = json.dumps([{"kanji": ch, "romaji": []} for ch in kanji])
            words[kanji] = await db.fetchval("insert_word", kanji, romaji, english, parts)
            for group in groups:
                await db.pool.execute(FIXTURE_SQL.add_word_to_group, words[kanji], group)
        times = [T0 + dt.timedelta(hours=h) for h in range(3)]
        s1 = await db.fetchval("insert_study_session_at", verbs, flashcards, times[0])
        s2 = await db.fetchval("insert_study_session_at", food, typing, times[1])
        s3 = await db.fetchval("insert_study_session_at", verbs, flashcards, times[2])
        for session, kanji, correct, minutes in [
            (s1, "食べる", True, 10),
            (s1, "食べる", False, 20),
            (s1, "飲む", True, 30),
            (s2, "水", False, 70),
            (s2, "魚", True, 80),
        ]:
            at = T0 + dt.timedelta(minutes=minutes)
            await db.fetchval("insert_review_at", session, words[kanji], correct, at)
        return History(verbs, food, empty, flashcards, typing, words, [s1, s2, s3], times)

    return io_loop.run_sync(insert)


def _openapi_tools() -> tuple[dict[str, Any], Any, list[tuple[Any, str]]]:
    document = build_document()
    registry = Registry().with_resource("urn:openapi", Resource(contents=document, specification=DRAFT202012))

    def validator(pointer: str) -> Draft202012Validator:
        return Draft202012Validator({"$ref": f"urn:openapi#{pointer}"}, registry=registry)

    templates = [
        (re.compile("^" + re.sub(r"\{[^}/]+\}", "[^/]+", template) + "$"), template)
        for template in document["paths"]
    ]
    return document, validator, templates


OPENAPI, _schema_validator, _TEMPLATES = _openapi_tools()


def assert_documented(method: str, path: str, reply: Reply) -> None:
    """The reply's status is documented for this operation and its body matches that schema.

    Statuses the API can give any request (405, 500, 503) may fall to the ``default`` response.
    """
    bare = path.split("?", 1)[0]
    templates = [template for pattern, template in _TEMPLATES if pattern.match(bare)]
    assert templates, f"{bare} is not in the OpenAPI document"
    operation = OPENAPI["paths"][templates[0]].get(method.lower())
    assert operation is not None, f"{method} {templates[0]} is not in the OpenAPI document"
    status = str(reply.status)
    if status not in operation["responses"]:
        assert reply.status in (405, 500, 503), f"{method} {templates[0]}: {status} is not documented"
        status = "default"
    response = operation["responses"][status]
    if "$ref" in response:
        response = OPENAPI["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    assert reply.headers["Content-Type"].startswith("application/json")
    errors = list(_schema_validator_for(schema).iter_errors(reply.json))
    assert not errors, f"{method} {path} {reply.status}: {[e.message for e in errors]}"


def _schema_validator_for(schema: dict[str, Any]) -> Any:
    if set(schema) == {"$ref"}:
        return _schema_validator(schema["$ref"].removeprefix("#"))
    return Draft202012Validator(schema)


async def call(client: Any, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
    """:func:`send`, then check the reply against the OpenAPI document (status and body)."""
    reply = await send(client, method, path, body, **kwargs)
    assert_documented(method, path, reply)
    return reply


# -- the browser tests' screenshots (tests/test_browser.py) ----------------------------------------

SCREENSHOTS: list[Path] = []  # every screenshot taken in this run, listed at the end of the output


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCREENSHOTS:
        terminalreporter.write_sep("-", "browser screenshots")
        for path in SCREENSHOTS:
            terminalreporter.write_line(str(path))
