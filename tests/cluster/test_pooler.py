"""Through a real PgBouncer 1.18 in transaction mode (issue 10): statements, timeouts, migrations,
the start-up check and the errors a pooler produces.

Each test gets a fresh database ``langportal_pooler`` on the run's server (reached directly) and
its own PgBouncer in front of it, so it can make the pooler tiny, pause it or stop it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from langportal import portaldb
from langportal.handlers import make_app
from langportal.portaldb import migrations
from langportal.serving import check_connection_budget
from langportal.settings import ConfigError, parse_args

from .. import pgbouncer
from ..helpers import FIXTURE_SQL, send, wait_until
from ..servers import Server

pytestmark = pytest.mark.skipif(pgbouncer.available() is not None, reason=str(pgbouncer.available()))

QUERIES = portaldb.load_queries()


@pytest.fixture
def fresh_database(io_loop, direct_database_url, pool) -> Iterator[str]:
    """An empty database ``langportal_pooler`` on the run's server; its direct URL."""
    admin = io_loop.run_sync(lambda: asyncpg.connect(direct_database_url))
    io_loop.run_sync(lambda: admin.execute(FIXTURE_SQL.drop_pooler_database))
    io_loop.run_sync(lambda: admin.execute(FIXTURE_SQL.create_pooler_database))
    base, _, query = direct_database_url.partition("?")
    url = base.rsplit("/", 1)[0] + "/langportal_pooler" + (f"?{query}" if query else "")
    yield url
    io_loop.run_sync(lambda: admin.execute(FIXTURE_SQL.drop_pooler_database))
    io_loop.run_sync(admin.close)


@pytest.fixture
def bouncer(fresh_database) -> Iterator[pgbouncer.PgBouncer]:
    with pgbouncer.PgBouncer(fresh_database, default_pool_size=3) as running:
        yield running


async def _pooled(url: str, *, statement_timeout: float = 5, min_size: int = 1, max_size: int = 4) -> Any:
    return await portaldb.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        connect_timeout=5,
        statement_timeout=statement_timeout,
        pooler="transaction",
    )


async def _migrate_through(url: str, statement_timeout: float = 5) -> list[str]:
    conn = await asyncpg.connect(url, **portaldb.connect_options("transaction"))
    try:
        return await portaldb.migrate(
            conn, QUERIES, role_timeouts=portaldb.statement_timeouts(statement_timeout)
        )
    finally:
        await conn.close()


# -- statements and timeouts -------------------------------------------------------------------


async def test_a_direct_mode_pool_is_refused_by_the_pooler(bouncer):
    """Why the mode exists: PgBouncer refuses the timeouts as startup parameters."""
    with pytest.raises(
        asyncpg.ProtocolViolationError, match="unsupported startup parameter: statement_timeout"
    ):
        await portaldb.create_pool(
            bouncer.url, min_size=1, max_size=1, connect_timeout=5, statement_timeout=5
        )


async def test_many_concurrent_statements_on_few_server_connections(bouncer):
    """No prepared statement outlives its transaction: 400 statements with arguments from 8
    client connections over 3 server connections all succeed (in direct mode about 40% failed
    with 'prepared statement "__asyncpg_stmt_N__" does not exist'); a second pool (a restart)
    meets no leftover statement either."""
    for _ in range(2):
        pool = await _pooled(bouncer.url, max_size=8)
        try:
            results = await asyncio.gather(*(pool.fetchval(FIXTURE_SQL.add_one, i) for i in range(400)))
            assert results == [i + 1 for i in range(400)]
        finally:
            await pool.close()


async def test_the_database_cancels_a_stuck_statement_through_the_pooler(bouncer):
    await _migrate_through(bouncer.url, statement_timeout=0.3)
    pool = await _pooled(bouncer.url, statement_timeout=0.3, max_size=3)
    try:
        # every server connection the pooler hands out has the timeout, the one that migrated too
        timeouts = await asyncio.gather(
            *(pool.fetchval(FIXTURE_SQL.current_statement_timeout) for _ in range(6))
        )
        assert set(timeouts) == {"300ms"}
        jit = await asyncio.gather(*(pool.fetchval(FIXTURE_SQL.server_setting, "jit") for _ in range(6)))
        assert set(jit) == {"off"}  # the role's default too (portaldb/pool.py NO_JIT)
        started = time.monotonic()
        with pytest.raises(asyncpg.QueryCanceledError, match="statement timeout"):
            await pool.fetchval(FIXTURE_SQL.sleep_seconds, 5)
        assert time.monotonic() - started < 2  # the server cancelled it, not asyncpg's command_timeout
        assert await pool.fetchval(FIXTURE_SQL.sleep_seconds, 0) is None
    finally:
        await pool.close()


# -- migrations ----------------------------------------------------------------------------------


@pytest.mark.parametrize("through", ["pooler", "direct"])
async def test_eight_instances_migrating_at_once_create_the_schema_once(bouncer, fresh_database, through):
    url = bouncer.url if through == "pooler" else fresh_database
    options = portaldb.connect_options("transaction" if through == "pooler" else "none")
    conns = [await asyncpg.connect(url, **options) for _ in range(8)]
    try:
        results = await asyncio.wait_for(asyncio.gather(*(portaldb.migrate(c, QUERIES) for c in conns)), 60)
        everything = [f"{m.version:04d}_{m.name}" for m in migrations.discover()]
        assert sorted(results, key=len) == [[]] * 7 + [everything]
        assert await conns[0].fetchval(FIXTURE_SQL.count_migrations) == len(everything)
    finally:
        for conn in conns:
            await conn.close()


async def test_a_migration_lock_held_elsewhere_is_waited_for_a_bounded_time(bouncer, fresh_database, caplog):
    holder = await asyncpg.connect(fresh_database)
    waiter = await asyncpg.connect(bouncer.url, **portaldb.connect_options("transaction"))
    try:
        async with holder.transaction():
            await holder.execute(FIXTURE_SQL.hold_migration_lock, migrations._LOCK_KEY)
            started = time.monotonic()
            with (
                caplog.at_level(logging.INFO, logger="portaldb.migrations"),
                pytest.raises(
                    portaldb.MigrationError,
                    match=r"waited 0\.5 s for server process \d+ .*to finish migrating",
                ),
            ):
                await portaldb.migrate(waiter, QUERIES, lock_wait=0.5)
            assert time.monotonic() - started < 3
            assert "waiting up to 0.5 s for server process" in caplog.text
        # once the holder's transaction ended, the lock is free again: nothing leaked
        assert len(await portaldb.migrate(waiter, QUERIES, lock_wait=5)) == len(migrations.discover())
    finally:
        await holder.close()
        await waiter.close()


def test_instances_started_together_through_the_pooler_create_the_schema_once(bouncer, unused_port):
    """Four `python server.py migrate` and then two servers, all through the pooler at once."""
    migrators = [
        Server("migrate", "--database-url", bouncer.url, "--database-pooler", "transaction") for _ in range(4)
    ]
    try:
        outputs = []
        for migrator in migrators:
            code, output = migrator.finish(timeout=60)
            assert code == 0, output
            outputs.append(output)
        assert sum("database migrated" in output for output in outputs) == 1, outputs
        assert sum("database schema up to date" in output for output in outputs) == 3, outputs
    finally:
        for migrator in migrators:
            migrator.kill()


def test_migrate_says_why_it_cannot_and_exits_2(unused_port):
    code, output = Server(
        "migrate", "--database-url", f"postgresql://postgres@127.0.0.1:{unused_port}/x"
    ).finish(timeout=60)
    assert code == 2, output
    assert "migrate: error: cannot connect to the database at postgresql://postgres@127.0.0.1:" in output


# -- the start-up check ----------------------------------------------------------------------------


def test_the_connection_budget_through_a_pooler_is_logged_not_refused(caplog):
    config = parse_args(
        [
            *("--database-url", "postgresql://u@pooler:6432/db", "--database-pooler", "transaction"),
            *("--processes", "50", "--pool-size", "100"),
        ],
        environ={},
    )
    with caplog.at_level(logging.INFO, logger="portal"):
        check_connection_budget(config, allowed=100)
    assert "up to 5000 client connection(s) from this instance" in caplog.text
    assert "max_client_conn must allow that times the number of instances" in caplog.text


def test_the_connection_budget_counts_instances():
    args = ["--database-url", "postgresql://u@db:5432/db", "--processes", "2", "--pool-size", "10"]
    check_connection_budget(parse_args(args, environ={}), allowed=100)
    with pytest.raises(ConfigError, match=r"--instances 5 x --processes 2 x --pool-size 10 = 100 database"):
        check_connection_budget(parse_args([*args, "--instances", "5"], environ={}), allowed=100)
    with pytest.raises(ConfigError, match="This assumes 5 instance"):
        check_connection_budget(parse_args(args, environ={"INSTANCES": "5"}), allowed=100)


def test_pooler_mode_needs_a_database_url():
    with pytest.raises(SystemExit):
        parse_args(["--database-pooler", "transaction", "--data-dir", "/tmp/x"], environ={})


# -- what a pooler answers when it cannot serve: 503 with Retry-After, never 500 ------------------


@pytest.fixture
def pooler_app(io_loop, fresh_database, request) -> Iterator[tuple[Any, pgbouncer.PgBouncer]]:
    """An app whose pool goes through a PgBouncer made to fail; connections are opened lazily."""
    params = getattr(request, "param", {})
    running = pgbouncer.PgBouncer(fresh_database, **params).start()
    io_loop.run_sync(lambda: _migrate_through(running.url))
    pool = io_loop.run_sync(lambda: _pooled(running.url, min_size=0, max_size=2))
    yield make_app(pool, pool_timeout=2, retry_after=7), running
    io_loop.run_sync(pool.close)
    running.close()


@pytest.fixture
def app(pooler_app):
    return pooler_app[0]


def _assert_503(reply: Any) -> None:
    assert reply.status == 503, reply.json
    assert reply.headers["Retry-After"] == "7"
    assert "retry shortly" in reply.json["error"]


@pytest.mark.parametrize("pooler_app", [{"max_client_conn": 2}], indirect=True)
async def test_a_full_pooler_is_a_503(http_server_client, pooler_app):
    _, running = pooler_app
    hogs = [await asyncpg.connect(running.url, statement_cache_size=0) for _ in range(2)]
    try:
        _assert_503(await send(http_server_client, "GET", "/api/groups"))  # max_client_conn
    finally:
        for hog in hogs:
            await hog.close()
    assert (await send(http_server_client, "GET", "/api/groups")).status == 200


@pytest.mark.parametrize("pooler_app", [{"query_wait_timeout": 1}], indirect=True)
async def test_a_paused_pooler_is_a_503(http_server_client, pooler_app):
    _, running = pooler_app
    admin = await asyncpg.connect(running.admin_url, statement_cache_size=0)
    try:
        await admin.execute("PAUSE")  # the admin console's command, not SQL
        _assert_503(await send(http_server_client, "GET", "/api/groups"))  # query_wait_timeout
        await admin.execute("RESUME")
    finally:
        await admin.close()
    assert (await send(http_server_client, "GET", "/api/groups")).status == 200


async def test_a_pooler_that_cannot_reach_the_server_is_a_503(http_server_client, pooler_app):
    _, running = pooler_app
    admin = await asyncpg.connect(running.admin_url, statement_cache_size=0)
    try:
        await admin.execute("DISABLE langportal_pooler")  # new server connections refused
        await admin.execute("KILL langportal_pooler")  # and the open ones dropped
        _assert_503(await send(http_server_client, "GET", "/api/groups"))
        await admin.execute("ENABLE langportal_pooler")
        await admin.execute("RESUME langportal_pooler")
    finally:
        await admin.close()


async def test_a_stopped_pooler_is_a_503_and_a_restarted_one_serves(http_server_client, pooler_app):
    _, running = pooler_app
    assert (await send(http_server_client, "GET", "/api/groups")).status == 200
    running.stop()  # the open client connection is cut, new ones are refused
    _assert_503(await send(http_server_client, "GET", "/api/groups"))
    _assert_503(await send(http_server_client, "GET", "/api/groups"))
    running.start()

    async def served() -> bool:  # once the pool has replaced its broken connection
        return (await send(http_server_client, "GET", "/api/groups")).status == 200

    await wait_until(served, 15, "a 200 once PgBouncer ran again", interval=0.1)


# -- PostgreSQL restarted behind the pooler ------------------------------------------------------


class TestADatabaseRestartBehindThePooler:
    """PostgreSQL restarted behind PgBouncer: writes are 201s again within a few seconds of its
    return. PgBouncer waits ``server_login_retry`` after a failed login to the server before it
    tries again, answering every client an error meanwhile: at its default, 15 s, a restart cost
    15-18 s of 503s; deploy/pgbouncer.ini and tests/pgbouncer.py set 1 s."""

    @pytest.fixture
    def restartable(
        self, io_loop, own_database
    ) -> Iterator[tuple[Any, portaldb.EmbeddedPostgres, dict[str, int]]]:
        """An app through a PgBouncer in front of a PostgreSQL of the test's own, and what to write."""
        running = pgbouncer.PgBouncer(own_database.dsn).start()

        async def prepare() -> dict[str, int]:
            await _migrate_through(running.url)
            conn = await asyncpg.connect(own_database.dsn)
            try:
                group = await conn.fetchval(FIXTURE_SQL.insert_group, "Restart")
                activity = await conn.fetchval(FIXTURE_SQL.insert_study_activity, "Flashcards", "http://x")
            finally:
                await conn.close()
            return {"group_id": group, "study_activity_id": activity}

        body = io_loop.run_sync(prepare)
        pool = io_loop.run_sync(lambda: _pooled(running.url, min_size=0, max_size=2))
        yield make_app(pool, pool_timeout=2, retry_after=7), own_database, body
        io_loop.run_sync(pool.close)
        running.close()

    @pytest.fixture
    def app(self, restartable):
        return restartable[0]

    async def test_writes_are_201s_again_within_seconds_of_a_restart(self, http_server_client, restartable):
        _, database, body = restartable
        loop = asyncio.get_running_loop()

        async def write() -> int:
            reply = await send(http_server_client, "POST", "/api/study_sessions", body, request_timeout=10)
            if reply.status != 201:
                _assert_503(reply)  # never a 500, always with Retry-After
            return reply.status

        assert await write() == 201
        await asyncio.to_thread(database.stop)
        # while it is down: the first write waits for PgBouncer's logins to the server to fail,
        # the others are refused at once (server_login_retry)
        for _ in range(3):
            assert await write() == 503
        await asyncio.to_thread(database.start)
        back = loop.time()
        statuses: list[int] = []
        while True:
            statuses.append(await write())
            again = loop.time()
            if statuses[-1] == 201 or again - back > 20:
                break
            await asyncio.sleep(0.1)
        print(f"\nwrites 201 again {again - back:.2f} s after PostgreSQL was back ({len(statuses) - 1} 503s)")
        assert statuses[-1] == 201, statuses
        assert again - back < 4, statuses  # PgBouncer's 15 s default: about 15 s
