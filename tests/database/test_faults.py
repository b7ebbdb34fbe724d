"""Database faults (issue 13): what each means for a request, and one log line per episode.

A full disk (SQLSTATE 53100), no memory (53200) or a configured limit (53400) is the database's
trouble, not a bug: 503 with Retry-After and a message saying what is wrong, never a 500 with a
traceback per request. Here the real database raises those SQLSTATEs (a trigger raises the one a
test chooses), so the driver, the pool, the group commit and the handlers all run as in production;
tests/processes/test_disk_full.py fills a real disk.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from langportal import portaldb
from langportal.portaldb import faults

from ..helpers import FAULT_SQL, Catalog, Db, send

VALID = {"group_id": 1, "study_activity_id": 1}

# -- classify: which exceptions are the database's trouble ------------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (asyncpg.DiskFullError("could not extend file"), faults.DISK_FULL),
        (asyncpg.OutOfMemoryError("out of memory"), faults.OUT_OF_MEMORY),
        (asyncpg.ConfigurationLimitExceededError("too many"), faults.CONFIGURATION_LIMIT),
        (asyncpg.TooManyConnectionsError("too many clients"), faults.TOO_MANY_CONNECTIONS),
        (asyncpg.InsufficientResourcesError("other"), faults.OUT_OF_RESOURCES),
        (asyncpg.CrashShutdownError("crash of another server process"), faults.UNAVAILABLE),
        (asyncpg.AdminShutdownError("unexpected postmaster exit"), faults.UNAVAILABLE),
        (asyncpg.CannotConnectNowError("the database system is starting up"), faults.UNAVAILABLE),
        (ConnectionRefusedError(111, "Connection refused"), faults.UNAVAILABLE),
        (asyncpg.ConnectionDoesNotExistError("closed"), faults.UNAVAILABLE),
        (portaldb.BatchSendTimeout("no answer"), faults.BUSY),
        (TimeoutError(), None),  # raised by the portal's own code, not the driver's: a bug
        (portaldb.BatchWaitTimeout("no connection"), faults.BUSY),
        (asyncpg.QueryCanceledError("statement timeout"), faults.BUSY),
        (asyncpg.DivisionByZeroError("division by zero"), None),  # a bug: 500
        (asyncpg.UndefinedColumnError("no such column"), None),
        (ZeroDivisionError(), None),
        (KeyError("x"), None),
    ],
)
def test_classify(exc, expected):
    assert faults.classify(exc) is expected


def test_the_disk_full_message_says_what_to_do():
    assert faults.DISK_FULL.message == (
        "the database's disk is full; free space on the database server, then retry"
    )
    assert faults.DISK_FULL.writes_only
    assert faults.OUT_OF_MEMORY.writes_only
    assert faults.CONFIGURATION_LIMIT.writes_only
    assert not faults.UNAVAILABLE.writes_only
    assert not faults.TOO_MANY_CONNECTIONS.writes_only


# -- DatabaseHealth: episodes, not lines per request -------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def health(caplog):
    caplog.set_level(logging.DEBUG, logger="test.faults")
    clock = Clock()
    return portaldb.DatabaseHealth(logger=logging.getLogger("test.faults"), clock=clock), clock


def lines(caplog, level=logging.WARNING):
    return [r.getMessage() for r in caplog.records if r.name == "test.faults" and r.levelno >= level]


def test_one_line_per_episode_with_the_count(health, caplog):
    tracker, clock = health
    full = asyncpg.DiskFullError('could not extend file "base/5/16384": No space left on device')
    for _ in range(500):
        tracker.refused(faults.DISK_FULL, full, started=clock.now)
        clock.now += 0.01
    assert tracker.failing is faults.DISK_FULL
    assert lines(caplog) == [
        "database trouble: the database's disk is full (DiskFullError: could not extend file "
        '"base/5/16384": No space left on device); answering 503 with Retry-After until it is over'
    ]
    tracker.succeeded(write=False)  # reads work on a full disk: not over
    assert tracker.failing is faults.DISK_FULL
    clock.now += 1
    tracker.succeeded(write=True)
    assert tracker.failing is None
    assert lines(caplog)[1:] == [
        "database recovered after 500 refused requests (refused for 5.0 s: the database's disk is full)"
    ]
    tracker.succeeded(write=True)
    assert len(lines(caplog)) == 2  # nothing more to say
    assert tracker.episodes == 1


def test_writes_that_succeed_now_and_then_do_not_end_an_episode(health, caplog):
    """On a full disk an insert succeeds now and then (in room an aborted one left): the episode
    ends only once a write succeeds after a second without refusals, and is logged once."""
    tracker, clock = health
    for _ in range(20):
        tracker.refused(faults.DISK_FULL, asyncpg.DiskFullError("full"), started=clock.now)
        clock.now += 0.1
        tracker.succeeded(write=True)
        clock.now += 0.1
    assert tracker.failing is faults.DISK_FULL
    clock.now += 1
    tracker.succeeded(write=True)
    assert tracker.failing is None
    assert tracker.episodes == 1
    assert len(lines(caplog)) == 2
    assert lines(caplog)[1].startswith("database recovered after 20 refused requests (refused for 3.8 s")


def test_an_outage_ends_at_the_first_success_and_late_failures_open_nothing(health, caplog):
    tracker, clock = health
    began = clock.now
    tracker.refused(faults.UNAVAILABLE, ConnectionRefusedError(111, "Connection refused"), started=began)
    clock.now += 2
    tracker.succeeded(write=False)  # any answer ends an outage
    assert tracker.failing is None
    # a request begun during the outage, cut off by it, fails after the recovery: no new episode
    tracker.refused(faults.UNAVAILABLE, asyncpg.ConnectionDoesNotExistError("closed"), started=began + 1)
    assert tracker.failing is None
    assert tracker.episodes == 1
    # a request begun after the recovery that fails is a new episode
    clock.now += 1
    tracker.refused(faults.UNAVAILABLE, ConnectionRefusedError(111, "refused"), started=clock.now)
    assert tracker.episodes == 2
    assert [line.split(" (")[0] for line in lines(caplog)] == [
        "database trouble: the database is down, restarting or unreachable",
        "database recovered after 1 refused request",
        "database trouble: the database is down, restarting or unreachable",
    ]


def test_a_changed_cause_and_a_long_episode_are_said_again(health, caplog):
    tracker, clock = health
    tracker.refused(faults.DISK_FULL, asyncpg.DiskFullError("full"), started=clock.now)
    tracker.refused(faults.BUSY, TimeoutError(), started=clock.now)  # trails trouble: no line
    tracker.refused(faults.UNAVAILABLE, asyncpg.CrashShutdownError("crash"), started=clock.now)
    clock.now += 61
    tracker.refused(faults.UNAVAILABLE, ConnectionRefusedError(111, "refused"), started=clock.now)
    tracker.refused(faults.UNAVAILABLE, ConnectionRefusedError(111, "refused"), started=clock.now)
    assert lines(caplog) == [
        "database trouble: the database's disk is full (DiskFullError: full); answering 503 with "
        "Retry-After until it is over",
        "database trouble continues, now: the database is down, restarting or unreachable "
        "(CrashShutdownError: crash); 3 requests refused so far",
        "database trouble continues for 61 s: the database is down, restarting or unreachable; "
        "4 requests refused so far",
    ]


# -- through the API, with the real database raising the SQLSTATE -----------------------------------


@pytest.fixture
def fault(io_loop, pool, db: Db):
    """``fault(sqlstate, message)`` makes every insert into study_sessions, and the readiness
    probe's CREATE TABLE, fail in the database with that SQLSTATE; ``fault(None)`` clears it."""

    async def install() -> None:
        await pool.execute(FAULT_SQL.remove_fault)
        try:
            await pool.execute(FAULT_SQL.install_fault)
        except asyncpg.InsufficientPrivilegeError as exc:
            pytest.skip(f"the test database does not allow event triggers (needs a superuser): {exc}")

    io_loop.run_sync(install)

    async def set_fault(sqlstate: str | None, message: str = "") -> None:
        await pool.execute(FAULT_SQL.clear_fault)
        if sqlstate is not None:
            await pool.execute(FAULT_SQL.set_fault, sqlstate, message)

    yield set_fault
    io_loop.run_sync(lambda: pool.execute(FAULT_SQL.remove_fault))


def trouble_lines(caplog) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "portaldb.faults" and r.levelno >= logging.WARNING
    ]


@pytest.mark.parametrize(
    ("sqlstate", "message", "answer"),
    [
        (
            "53100",
            'could not extend file "base/5/16384": No space left on device',
            "the database's disk is full; free space on the database server, then retry",
        ),
        ("53200", "out of memory", faults.OUT_OF_MEMORY.message),
        ("53400", "configuration limit exceeded", faults.CONFIGURATION_LIMIT.message),
    ],
)
async def test_resource_faults_are_503_once_logged_and_readyz_follows(
    http_server_client, fault, catalog: Catalog, db: Db, caplog, sqlstate, message, answer
):
    caplog.set_level(logging.INFO)
    assert (await send(http_server_client, "GET", "/readyz")).status == 200
    await fault(sqlstate, message)
    replies = [await send(http_server_client, "POST", "/api/study_sessions", VALID) for _ in range(5)]
    keyed = await send(
        http_server_client, "POST", "/api/study_sessions", VALID, headers={"Idempotency-Key": "k-1"}
    )
    for reply in [*replies, keyed]:
        assert reply.status == 503
        assert reply.json == {"error": answer}
        assert reply.headers["Retry-After"] == "1"
    ready = await send(http_server_client, "GET", "/readyz")
    assert ready.status == 503
    assert ready.json == {"error": answer}
    assert (await send(http_server_client, "GET", "/api/study_sessions")).status == 200  # reads work
    assert await db.count_sessions() == 0
    assert not [r for r in caplog.records if r.exc_info]  # no tracebacks
    assert len(trouble_lines(caplog)) == 1
    assert f"Error: {message})" in trouble_lines(caplog)[0]  # what the database said, one line

    await fault(None)
    await asyncio.sleep(1.05)  # a second without refusals: the next success ends the episode
    created = await send(http_server_client, "POST", "/api/study_sessions", VALID)
    assert created.status == 201
    assert (await send(http_server_client, "GET", "/readyz")).status == 200
    assert await db.count_sessions() == 1
    lines = trouble_lines(caplog)
    assert len(lines) == 2
    # 5 plain + 1 keyed creates + the readiness probe
    assert lines[1].startswith("database recovered after 7 refused requests")


async def test_readyz_alone_ends_the_episode(http_server_client, fault, catalog: Catalog, caplog):
    """With no writes coming, the readiness probe's own write shows the disk has room again."""
    caplog.set_level(logging.INFO)
    await fault("53100", "No space left on device")
    assert (await send(http_server_client, "POST", "/api/study_sessions", VALID)).status == 503
    assert (await send(http_server_client, "GET", "/readyz")).status == 503
    await fault(None)
    assert (await send(http_server_client, "GET", "/readyz")).status == 200  # ready at once
    assert len(trouble_lines(caplog)) == 1  # the episode ends after a second without refusals
    await asyncio.sleep(1.05)  # a second without refusals: the next success ends the episode
    assert (await send(http_server_client, "GET", "/readyz")).status == 200
    assert trouble_lines(caplog)[-1].startswith("database recovered after 2 refused requests")


async def test_other_database_errors_are_still_500(http_server_client, fault, catalog: Catalog, caplog):
    """Only the database's trouble is a 503: an error in a statement is a bug, answered 500 and
    logged with its traceback, and opens no episode."""
    await fault("XX000", "internal error")
    reply = await send(http_server_client, "POST", "/api/study_sessions", VALID)
    assert reply.status == 500
    assert reply.json["error"] == "internal server error"
    assert trouble_lines(caplog) == []
    assert [r for r in caplog.records if r.name == "portal.api" and r.exc_info]


async def test_a_keyed_replay_during_a_full_disk_ends_no_episode(
    http_server_client, fault, catalog: Catalog, db: Db, caplog
):
    """A replay reads the stored answer and writes nothing: it shows nothing of the disk."""
    caplog.set_level(logging.INFO)
    keyed = {"Idempotency-Key": "replayed-during-the-fault"}
    first = await send(http_server_client, "POST", "/api/study_sessions", VALID, headers=keyed)
    assert first.status == 201
    await fault("53100", "No space left on device")
    assert (await send(http_server_client, "POST", "/api/study_sessions", VALID)).status == 503
    await asyncio.sleep(1.05)  # a second without refusals: a success now would end the episode
    replay = await send(http_server_client, "POST", "/api/study_sessions", VALID, headers=keyed)
    assert replay.status == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(trouble_lines(caplog)) == 1, trouble_lines(caplog)  # still in the episode
    await fault(None)
    assert (await send(http_server_client, "POST", "/api/study_sessions", VALID)).status == 201
    assert trouble_lines(caplog)[-1].startswith("database recovered after 1 refused request")
