"""The examples' server and databases, on the run's PostgreSQL (tests/conftest.py's ``database_url``:
``TEST_DATABASE_URL``, or the embedded one of the run).

- ``live_server``: one ``python server.py --enable-reset`` for all the console and sh blocks, on the
  run's database (through the pooler when ``TEST_DATABASE_POOLER`` says there is one), emptied
  and given the demo data first, the way ``POST /api/full_reset`` does: 3 groups, 3 activities,
  no sessions, so the first session created gets id 1; emptied again at the end.
- ``example_database``: a new database for one python block, migrated, with the demo data, dropped
  afterwards. Created on the server reached directly (``TEST_DATABASE_DIRECT_URL`` with a pooler,
  whose configuration knows only the run's database); needs the CREATEDB privilege there.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import pytest
import tornado.ioloop
import tornado.testing

from langportal import logs, portaldb

from ..helpers import FIXTURE_SQL
from ..servers import Server

_NAMES = itertools.count(1)


@dataclass
class LiveServer:
    server: Server
    address: str  # host:port

    @property
    def log(self) -> str:
        return self.server.output

    def log_since(self, start: int) -> str:
        """What the server logged from character ``start`` on, for a failure's message: read once
        its access lines are surely written (it holds them up to ``logs.FLUSH_INTERVAL``)."""
        time.sleep(logs.FLUSH_INTERVAL + 0.25)
        return self.log[start:]


@pytest.fixture(scope="module")
def live_server(
    io_loop: tornado.ioloop.IOLoop, pool: asyncpg.Pool, database_url: str, pooler_mode: str
) -> Iterator[LiveServer]:
    async def demo_data() -> None:
        async with pool.acquire() as conn:
            await portaldb.restore_demo(conn, portaldb.load_queries())

    io_loop.run_sync(demo_data)
    sock, port = tornado.testing.bind_unused_port()
    sock.close()
    server = Server(
        *("--port", str(port), "--database-url", database_url, "--database-pooler", pooler_mode),
        "--enable-reset",
    )
    try:
        server.wait_for(rf"listening on http://127\.0\.0\.1:{port}\b")
        _wait_ready(server, port)
        yield LiveServer(server, f"127.0.0.1:{port}")
        server.process.send_signal(signal.SIGTERM)
        code, log = server.finish()
        assert code == 0, f"the examples' server stopped with status {code}:\n{log}"
    finally:
        server.kill()
        io_loop.run_sync(lambda: pool.execute(FIXTURE_SQL.truncate_all))  # as the tests leave it


def _wait_ready(server: Server, port: int, within: float = 30) -> None:
    """Poll GET /readyz until it answers 200."""
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline or server.process.poll() is not None:
            raise AssertionError(f"the examples' server never became ready; it said:\n{server.output}")
        time.sleep(0.05)


@pytest.fixture
def example_database(io_loop: tornado.ioloop.IOLoop, direct_database_url: str) -> Iterator[str]:
    """A new database with the demo data; its URL (direct, not through a pooler)."""
    name = f"langportal_example_{os.getpid()}_{next(_NAMES)}"
    base, _, query = direct_database_url.partition("?")
    url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")

    async def create() -> None:
        admin = await asyncpg.connect(direct_database_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(url)
        try:
            await portaldb.migrate(conn, portaldb.load_queries(), seed_demo=True)
        finally:
            await conn.close()

    async def drop() -> None:
        admin = await asyncpg.connect(direct_database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    try:
        io_loop.run_sync(create)
        yield url
    finally:
        io_loop.run_sync(drop)
