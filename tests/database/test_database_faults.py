"""Database faults through a handler: the database being unavailable is a 503 with Retry-After;
a bug in a statement or its arguments is a 500 with a request id, and its connection is kept."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from langportal import portaldb
from langportal.handlers import APIHandler, make_app

from ..helpers import FIXTURE_SQL, send, wait_until

SLEEPING = "SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = $1"  # in pg_sleep()


class FaultHandler(APIHandler):
    """A test-only route that meets one kind of database fault through the base handler's helpers."""

    def initialize(self, database_url: str) -> None:
        self.database_url = database_url

    async def get(self, fault: str) -> None:
        if fault == "out_of_range_argument":
            await self.fetchrow("get_group", 2**31)  # asyncpg.DataError: not an int4
        elif fault == "wrong_argument_count":
            await self.fetchrow("get_group", 1, 2)  # a plain asyncpg.InterfaceError
        elif fault == "batched_out_of_range_argument":
            await self.fetchrow_batched("create_study_sessions", 2**31, 1)
        elif fault == "dropped_while_idle":
            async with self.connection() as conn:
                await self._terminate(await conn.fetchval(FIXTURE_SQL.backend_pid))
                for _ in range(500):  # asyncpg detaches the connection once it sees the socket close
                    try:
                        if conn.is_closed():
                            break
                    except asyncpg.InterfaceError:
                        break
                    await asyncio.sleep(0.01)
                await conn.fetchval(FIXTURE_SQL.backend_pid)
        elif fault == "dropped_mid_statement":
            async with self.connection() as conn:
                pid = await conn.fetchval(FIXTURE_SQL.backend_pid)
                statement = asyncio.ensure_future(conn.fetchval(FIXTURE_SQL.sleep_seconds, 3))
                await self._wait_until_sleeping(pid)
                await self._terminate(pid)
                await statement
        self.write_json(200, {"fault": fault, "happened": False})

    async def _wait_until_sleeping(self, pid: int) -> None:
        """Until the backend runs the statement (in pg_sleep): the drop comes mid-statement."""
        other = await asyncpg.connect(self.database_url)
        try:
            await wait_until(
                lambda: other.fetchval(SLEEPING, pid), 10, f"backend {pid} to be in its pg_sleep"
            )
        finally:
            await other.close()

    async def _terminate(self, pid: int) -> None:
        other = await asyncpg.connect(self.database_url)
        try:
            assert await other.fetchval(FIXTURE_SQL.terminate_backend, pid)
        finally:
            await other.close()


@pytest.fixture
def one_connection(io_loop, database_url, pooler_mode, db):
    pool = io_loop.run_sync(
        lambda: portaldb.create_pool(
            database_url, min_size=1, max_size=1, connect_timeout=5, statement_timeout=5, pooler=pooler_mode
        )
    )
    yield pool
    io_loop.run_sync(pool.close)


@pytest.fixture
def app(one_connection, direct_database_url):
    app = make_app(one_connection, pool_timeout=2, retry_after=7)
    # pg_terminate_backend goes directly to the database (through a pooler too)
    app.add_handlers(
        r".*", [(r"/api/test/faults/(\w+)", FaultHandler, {"database_url": direct_database_url})]
    )
    return app


@pytest.mark.parametrize(
    "fault", ["out_of_range_argument", "wrong_argument_count", "batched_out_of_range_argument"]
)
async def test_a_bug_is_a_500_with_a_request_id_and_keeps_its_connection(
    http_server_client, one_connection, fault
):
    before = await one_connection.fetchval(FIXTURE_SQL.backend_pid)
    reply = await send(http_server_client, "GET", f"/api/test/faults/{fault}")
    assert reply.status == 500
    assert reply.json == {"error": "internal server error", "request_id": reply.headers["X-Request-ID"]}
    assert "Retry-After" not in reply.headers
    assert one_connection.get_size() == 1
    assert await one_connection.fetchval(FIXTURE_SQL.backend_pid) == before  # the same connection


@pytest.mark.parametrize("fault", ["dropped_while_idle", "dropped_mid_statement"])
async def test_a_connection_the_server_dropped_is_a_503_and_is_replaced(
    http_server_client, one_connection, pooler_mode, fault
):
    before = await one_connection.fetchval(FIXTURE_SQL.backend_pid)
    reply = await send(http_server_client, "GET", f"/api/test/faults/{fault}")
    if pooler_mode == "transaction" and fault == "dropped_while_idle":
        # A transaction pooler holds the server connection only during a transaction: one dropped
        # between two is replaced by the pooler unseen, and the request simply succeeds.
        assert reply.status == 200, reply.json
        assert await one_connection.fetchval(FIXTURE_SQL.backend_pid) != before
        return
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "7"
    assert "retry shortly" in reply.json["error"]
    after = await one_connection.fetchval(FIXTURE_SQL.backend_pid)  # a fresh connection serves
    assert after != before


async def test_a_closing_pool_is_a_503(http_server_client, one_connection):
    await one_connection.close()
    reply = await send(http_server_client, "GET", "/api/test/faults/out_of_range_argument")
    assert reply.status == 503
    assert reply.headers["Retry-After"] == "7"
    assert reply.reason == "Service Unavailable"  # not the metrics' label ("database_unavailable")


@pytest.mark.parametrize(
    ("exc", "unavailable"),
    [
        (asyncpg.InterfaceError("connection is closed"), True),
        (asyncpg.InterfaceError("cannot perform operation: connection is closed"), True),
        (asyncpg.InterfaceError("cannot perform operation: another operation is cancelling"), True),
        (
            asyncpg.InterfaceError(
                "cannot call Connection.fetch(): connection has been released back to the pool"
            ),
            True,
        ),
        (
            asyncpg.InterfaceError(
                "cannot call Transaction.__aexit__(): the underlying connection is closed"
            ),
            True,
        ),
        (
            asyncpg.InterfaceError(
                "cannot call PreparedStatement.fetch(): "
                "the underlying connection has been released back to the pool"
            ),
            False,  # the portal using a statement after its connection went back: a bug
        ),
        (asyncpg.InterfaceError("pool is closing"), True),
        (asyncpg.InterfaceError("pool is closed"), True),
        (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), True),
        (ConnectionResetError(), True),
        (
            portaldb.BatchSendTimeout("no answer in time"),
            False,
        ),  # a fault (BUSY), but not of the connection's
        (TimeoutError(), False),  # not raised by the driver: see tests/unit/test_fault_origin.py
        (FileNotFoundError(2, "No such file or directory"), False),
        (
            asyncpg.DataError("invalid input for query argument $1: 2147483648 (value out of int32 range)"),
            False,
        ),
        (asyncpg.InterfaceError("the server expects 1 argument for this query, 2 were passed"), False),
        (asyncpg.InterfaceError("cannot perform operation: another operation is in progress"), False),
        (asyncpg.ClientConfigurationError("connection is closed"), False),  # a subclass never counts
        (asyncpg.UndefinedTableError("relation does not exist"), False),
        (ValueError("connection is closed"), False),
    ],
)
def test_which_errors_mean_unavailable(exc, unavailable):
    assert portaldb.is_unavailable(exc) is unavailable
    assert portaldb.connection_is_suspect(exc) is unavailable
