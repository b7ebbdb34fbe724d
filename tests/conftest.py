"""Shared fixtures: one real PostgreSQL for the whole run, a clean database for every test.

The database is ``TEST_DATABASE_URL`` when set, otherwise an embedded PostgreSQL started in a
temporary folder (never the data folder of ``python server.py``). pytest-tornasync drives the app:
its ``http_server_client`` serves the ``app`` fixture below on a random port.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import tornado.ioloop
import tornado.testing

import portaldb
from portaldb.queries import Queries, parse
from server import make_app

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
    server.start()
    try:
        yield server.dsn
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


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
