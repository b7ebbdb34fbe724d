"""The watchdog keeps trying whatever goes wrong (issue 13): a restart that raises anything (an
OSError of a full temporary folder or a failed fork, a bug), or a failure while it looks for the
server, is logged on one line with the retry, backed off, and tried again; the thread never dies,
so a crashed database is restarted once the cause is gone. A stand-in for the database: a real
process plays the postmaster (only its pid matters to the watchdog)."""

from __future__ import annotations

import errno
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from langportal.portaldb.watchdog import Watchdog

FIRST_DELAY = 0.05
MAX_DELAY = 0.2


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not so after {timeout} s"
        time.sleep(0.01)


def watching() -> bool:
    return any(t.name == "postgres-watchdog" and t.is_alive() for t in threading.enumerate())


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped: a postmaster that crashed."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


class FakeDatabase:
    """What the watchdog asks of an EmbeddedPostgres. ``restart_after_crash`` raises the errors
    of ``failures`` in turn, then starts a new "postmaster" (a sleeping process)."""

    log_file = Path("/nonexistent/postgres.log")
    watchdog = None

    def __init__(self, failures: list[BaseException], pid_failures: list[BaseException] = ()) -> None:
        self.pid = dead_pid()
        self.failures = list(failures)
        self.pid_failures = list(pid_failures)
        self.attempts: list[float] = []  # when each restart was tried (monotonic)
        self.running: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()

    def postmaster_pid(self) -> int | None:
        with self.lock:
            if self.pid_failures:
                raise self.pid_failures.pop(0)
            return self.pid

    def restart_after_crash(self) -> None:
        with self.lock:
            self.attempts.append(time.monotonic())
            if self.failures:
                raise self.failures.pop(0)
            self.running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            self.pid = self.running.pid

    def forget_dead_postmaster(self, pid: int) -> None:
        pass

    def end(self) -> None:
        if self.running is not None:
            self.running.kill()
            self.running.wait()


@pytest.fixture
def watched() -> Iterator[Callable[..., tuple[FakeDatabase, Watchdog]]]:
    made: list[tuple[FakeDatabase, Watchdog]] = []

    def make(
        failures: list[BaseException], pid_failures: list[BaseException] = ()
    ) -> tuple[FakeDatabase, Watchdog]:
        database = FakeDatabase(failures, pid_failures)
        watchdog = Watchdog(
            database,  # type: ignore[arg-type]
            interval=0.02,
            first_delay=FIRST_DELAY,
            max_delay=MAX_DELAY,
        )
        made.append((database, watchdog))
        watchdog.start()
        return database, watchdog

    yield make
    for database, watchdog in made:
        watchdog.stop()
        database.end()


def test_a_restart_that_raises_anything_is_retried_with_backoff_until_it_works(watched, caplog):
    failures: list[BaseException] = [
        OSError(errno.ENOSPC, "No space left on device"),  # the temporary file of pg_ctl's output
        BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"),  # fork failed
        ValueError("something unexpected"),
    ]
    with caplog.at_level(logging.INFO, logger="portaldb.watchdog"):
        database, watchdog = watched(failures)
        wait_until(lambda: watchdog.restarts == 1, "the database restarted after three failed tries")
    assert watching(), "the watchdog's thread ended"
    assert len(database.attempts) == 4
    # backed off: 0.05, 0.1, then 0.2 s (the most) between the tries
    gaps = [later - earlier for earlier, later in zip(database.attempts, database.attempts[1:], strict=False)]
    for gap, delay in zip(gaps, [FIRST_DELAY, 2 * FIRST_DELAY, MAX_DELAY], strict=True):
        assert gap >= delay - 0.005, (gaps, caplog.text)
    failed = [r.getMessage() for r in caplog.records if "could not restart" in r.getMessage()]
    assert len(failed) == 3, caplog.text
    for line, cause in zip(
        failed,
        ["No space left on device", "Resource temporarily unavailable", "something unexpected"],
        strict=True,
    ):
        assert cause in line, line
        assert "next restart in" in line, line
        assert "\n" not in line
    assert not [r for r in caplog.records if r.exc_info], caplog.text  # one line each, no traceback
    assert "the embedded PostgreSQL is back" in caplog.text


def test_a_failure_while_looking_for_the_server_is_retried_too(watched, caplog):
    """Even reading ``postmaster.pid`` may fail (a permission changed, an I/O error): the watchdog
    logs it, waits, and looks again."""
    with caplog.at_level(logging.INFO, logger="portaldb.watchdog"):
        _, watchdog = watched(
            [], [PermissionError(errno.EACCES, "Permission denied"), OSError(errno.EIO, "I/O error")]
        )
        wait_until(lambda: watchdog.restarts == 1, "the database restarted")
    assert watching(), "the watchdog's thread ended"
    assert "Permission denied" in caplog.text, caplog.text
    assert "I/O error" in caplog.text, caplog.text
    assert "retry" in caplog.text, caplog.text
    assert not [r for r in caplog.records if r.exc_info], caplog.text


def test_stop_ends_a_watchdog_that_is_backing_off_at_once(watched):
    database, watchdog = watched([OSError(errno.ENOSPC, "No space left on device")] * 100)
    wait_until(lambda: len(database.attempts) >= 3, "three tries")
    started = time.monotonic()
    watchdog.stop()
    assert time.monotonic() - started < 1
    assert watchdog.restarts == 0
