"""What a failure means depends on who raised it: the same OSError or TimeoutError is the database's
trouble (a 503, retry later) when the driver or the event loop raised it while reaching the
database, and a bug (a 500 with a traceback) when the portal's own code did."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from langportal import portaldb
from langportal.portaldb import faults


def raised(exc: BaseException) -> BaseException:
    """``exc`` as it is met after a raise in this file (the portal's side, not the driver's)."""
    try:
        raise exc
    except BaseException as caught:
        return caught


def unreadable_file_error(tmp_path: Path) -> OSError:
    try:
        (tmp_path / "missing.sql").read_text()
    except OSError as exc:
        return exc
    raise AssertionError("the file exists")


def test_a_file_the_portal_cannot_read_is_a_bug(tmp_path: Path) -> None:
    exc = unreadable_file_error(tmp_path)
    assert faults.classify(exc) is None
    assert not portaldb.is_unavailable(exc)
    assert not portaldb.connection_is_suspect(exc)


def test_a_database_socket_that_is_not_there_is_an_outage(tmp_path: Path) -> None:
    async def connect() -> BaseException:
        try:
            await asyncpg.connect(f"postgresql://postgres@/postgres?host={tmp_path}&port=5432", timeout=5)
        except Exception as exc:
            return exc
        raise AssertionError("connected to nothing")

    exc = asyncio.run(connect())
    assert isinstance(exc, OSError), repr(exc)
    assert faults.classify(exc) is faults.UNAVAILABLE
    assert portaldb.connection_is_suspect(exc)


def test_a_timeout_is_busy_only_when_a_wait_for_the_database_ran_out() -> None:
    async def wait() -> BaseException:
        try:
            await asyncio.wait_for(asyncio.sleep(1), 0.001)
        except TimeoutError as exc:
            return exc
        raise AssertionError("no timeout")

    assert faults.classify(asyncio.run(wait())) is faults.BUSY
    assert faults.classify(raised(TimeoutError("a wait of the portal's own"))) is None
    assert faults.classify(portaldb.BatchWaitTimeout("no connection in time")) is faults.BUSY
    assert faults.classify(portaldb.BatchSendTimeout("no answer in time")) is faults.BUSY


@pytest.mark.parametrize(
    "exc",
    [ConnectionRefusedError(111, "Connection refused"), ConnectionResetError(), BrokenPipeError()],
)
def test_a_socket_refused_or_cut_is_an_outage_whoever_meets_it(exc: OSError) -> None:
    assert faults.classify(raised(exc)) is faults.UNAVAILABLE


INTERNAL = asyncpg.exceptions._base.InternalClientError


@pytest.mark.parametrize(
    "message",
    [
        "cannot switch to state 11; another operation (2) is in progress",  # consuming the server's FATAL
        "cannot switch to state 15; another operation (3) is in progress",  # a cancelled statement
        "got result for unknown protocol state 3",
    ],
)
def test_a_connection_the_server_ended_under_the_driver_is_lost(message: str) -> None:
    exc = INTERNAL(message)
    assert faults.classify(exc) is faults.UNAVAILABLE
    assert portaldb.connection_is_suspect(exc)


def test_the_drivers_own_inconsistency_is_a_bug_whose_connection_is_dropped() -> None:
    exc = INTERNAL("cannot switch to state 12; another operation (12) is in progress")  # used twice at once
    assert faults.classify(exc) is None  # a 500 with a traceback: not the database's doing
    assert portaldb.connection_is_suspect(exc)  # but never reused


def rollback_after_the_server_ended_the_session() -> None:
    """What a transaction's ROLLBACK on such a connection did: the driver's error, raised while the
    error that says what happened was being handled (so that error is its context)."""
    try:
        raise asyncpg.AdminShutdownError("terminating connection due to administrator command")
    except asyncpg.AdminShutdownError:
        raise INTERNAL("cannot switch to state 15; another operation (12) is in progress")  # noqa: B904


def test_an_internal_error_met_while_handling_a_fault_is_that_fault() -> None:
    with pytest.raises(INTERNAL) as raised_here:
        rollback_after_the_server_ended_the_session()
    assert faults.classify(raised_here.value) is faults.UNAVAILABLE
    assert faults.reason_of(raised_here.value, waiting_for_connection=False) == "database_unavailable"


def raised_while_handling(context: BaseException, message: str) -> BaseException:
    try:
        try:
            raise context
        except BaseException:
            raise INTERNAL(message)  # noqa: B904
    except INTERNAL as exc:
        return exc


def test_an_internal_error_met_while_the_deadline_cancelled_the_statement_is_a_timeout() -> None:
    exc = raised_while_handling(
        asyncio.CancelledError(), "cannot switch to state 15; another operation (3) is in progress"
    )
    assert faults.classify(exc) is faults.BUSY
    assert faults.reason_of(exc, waiting_for_connection=False) == "timeout"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("cannot switch to state 15; another operation (2) is in progress", faults.UNAVAILABLE),
        ("cannot switch to state 12; another operation (12) is in progress", None),
    ],
)
def test_an_internal_error_met_while_handling_a_bug_is_judged_on_its_own(message: str, expected) -> None:
    assert faults.classify(raised_while_handling(KeyError("x"), message)) is expected
