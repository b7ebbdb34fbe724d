"""Supervision of the embedded PostgreSQL: when it exits unexpectedly, start it again.

A PostgreSQL killed by the OOM killer (SIGKILL), or crashed, leaves the server answering 503 for
ever unless someone restarts it. :func:`watch` starts a :class:`Watchdog` thread in the process that
started the database (with ``--processes N``, the parent, which never serves): it waits on the
postmaster's pid (a pidfd, so it notices at once; polled every ``interval`` where there is none),
logs one line when the server is gone, and restarts it with the same options; PostgreSQL's crash
recovery replays the WAL, so every committed transaction is back. Restarts that keep failing, or
crashes that keep coming, back off (0.5 s, 1, 2, 4 ... up to 30 s) and the log says so. Whatever a
restart raises (the database's own error, an OSError of a full temporary folder or a failed fork,
a bug), it is logged on one line with when it is tried again: the thread never dies of it.

Forking (``--processes``) while the thread runs is safe: a fork waits until the watchdog is idle
(between polls), and a forked child never runs the thread nor owns the database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
import weakref

from .embedded import EmbeddedPostgres, EmbeddedPostgresError, process_alive

log = logging.getLogger("portaldb.watchdog")

FIRST_DELAY = 0.5  # seconds before the second restart in a row; doubled each time after
MAX_DELAY = 30.0
STABLE_AFTER = 60.0  # up this long since the last restart: the next crash starts the count afresh


def watch(database: EmbeddedPostgres, *, interval: float = 0.25) -> Watchdog:
    """Start watching ``database`` (running); ``database.stop()`` stops the watchdog first."""
    watchdog = Watchdog(database, interval=interval)
    database.watchdog = watchdog
    watchdog.start()
    return watchdog


def backoff(strikes: int, first: float = FIRST_DELAY, most: float = MAX_DELAY) -> float:
    """Seconds to wait before a restart when ``strikes`` crashes or failed starts came before the
    last one in a row: none for the first, then ``first``, doubling up to ``most``."""
    return 0.0 if strikes <= 0 else min(most, first * 2 ** (strikes - 1))


class Watchdog:
    """One thread restarting ``database`` whenever its postmaster exits on its own."""

    def __init__(
        self,
        database: EmbeddedPostgres,
        *,
        interval: float = 0.25,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
        stable_after: float = STABLE_AFTER,
    ) -> None:
        self.database = database
        self.interval = interval
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.stable_after = stable_after
        self.restarts = 0  # successful restarts, for tests and the log
        self._strikes = 0  # crashes and failed starts in a row (since it was last up for a while)
        self._up_since = time.monotonic()
        self._stopping = threading.Event()
        self._busy = threading.Lock()  # held while acting, never while waiting; forks wait for it
        self._owner = os.getpid()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="postgres-watchdog", daemon=True)
        _WATCHDOGS.add(self)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; a restart under way finishes first. Idempotent; a no-op in a forked child."""
        self._stopping.set()
        if self._thread is not None and os.getpid() == self._owner:
            self._thread.join()
        _WATCHDOGS.discard(self)

    # -- the thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        pid: int | None = None
        looked = False  # whether the pid of the server to watch was read yet
        failures = 0  # of the watchdog's own steps, in a row (a failed restart is a strike instead)
        while not self._stopping.is_set():
            try:
                if not looked:
                    pid, looked = self.database.postmaster_pid(), True
                if pid is None or not self._wait_for_exit(pid):
                    if pid is None:
                        pid = self._restart(None)
                    continue
                pid = self._restart(pid)
                failures = 0
            except Exception as exc:  # anything at all: the thread must live, or no restart ever comes
                failures += 1
                delay = backoff(failures, self.first_delay, self.max_delay)
                log.error(
                    "the watchdog of the embedded PostgreSQL failed (%s); it will retry in %.1f s",
                    _describe(exc),
                    delay,
                )
                log.debug("the watchdog's failure", exc_info=True)
                self._stopping.wait(delay)

    def _wait_for_exit(self, pid: int) -> bool:
        """Block until ``pid`` exits (True) or the watchdog is stopped (False)."""
        pidfd = None
        with contextlib.suppress(AttributeError, OSError):  # no pidfd: an old kernel or not Linux
            pidfd = os.pidfd_open(pid)
        if pidfd is None and not process_alive(pid):
            return True
        try:
            poller = None
            if pidfd is not None:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
            while not self._stopping.is_set():
                if poller is not None:
                    if poller.poll(self.interval * 1000):
                        return True
                elif not process_alive(pid):
                    return True
                else:
                    self._stopping.wait(self.interval)
            return False
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def _restart(self, pid: int | None) -> int | None:
        """The server ``pid`` is gone: start it again, backing off while that fails. Returns the
        new postmaster's pid (None when stopped before it could start)."""
        with self._busy:
            if self._stopping.is_set():
                return None
            current = self.database.postmaster_pid()
            if current is not None and current != pid and process_alive(current):
                log.info("the embedded PostgreSQL now runs as pid %d (restarted by someone else)", current)
                return current
            if time.monotonic() - self._up_since >= self.stable_after:
                self._strikes = 0
            self._strikes += 1
            log.error(
                "the embedded PostgreSQL (pid %s) exited unexpectedly (killed, out of memory or "
                "crashed; its log: %s); restarting it",
                pid or "unknown",
                self.database.log_file,
            )
        down_since = time.monotonic()
        if pid is not None:
            self._await_gone(pid)
        failed = False  # the last try failed, and its line said when the next one comes
        while not self._stopping.is_set():
            delay = backoff(self._strikes - 1, self.first_delay, self.max_delay)
            if delay:
                if not failed:
                    log.warning(
                        "the embedded PostgreSQL keeps failing (%d crashes or failed starts in a "
                        "row); next restart in %.1f s",
                        self._strikes,
                        delay,
                    )
                if self._stopping.wait(delay):
                    return None
            with self._busy:
                if self._stopping.is_set():
                    return None
                try:
                    self.database.restart_after_crash()
                except Exception as exc:  # not only its own errors: an OSError (a full /tmp, a fork
                    # that failed) must not end the thread, or the database is never restarted
                    self._strikes += 1
                    failed = True
                    log.error(
                        "could not restart the embedded PostgreSQL: %s; %d crashes or failed starts "
                        "in a row, next restart in %.1f s",
                        _describe(exc),
                        self._strikes,
                        backoff(self._strikes - 1, self.first_delay, self.max_delay),
                    )
                    log.debug("the failed restart", exc_info=True)
                    continue
                self.restarts += 1
                self._up_since = time.monotonic()
                new_pid = self.database.postmaster_pid()
                log.warning(
                    "the embedded PostgreSQL is back (pid %s) %.1f s after it exited; crash recovery "
                    "ran (see its log)",
                    new_pid,
                    self._up_since - down_since,
                )
                return new_pid
        return None

    def _await_gone(self, pid: int) -> None:
        """PostgreSQL refuses to start while the pid in ``postmaster.pid`` exists, even as a zombie
        its parent has not reaped yet (which can take a second). Reap it when it is ours (the
        server runs as PID 1 in a container, say); else drop the stale file of the dead server.
        Its shared memory is checked by PostgreSQL itself all the same: it will not start while
        processes of the dead server still use it."""
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not process_alive(pid):
            self.database.forget_dead_postmaster(pid)


def _describe(exc: BaseException) -> str:
    """One line for a failure: the database's own errors say what to do; anything else (an OSError,
    a bug) is named by its type, since its message alone may be no more than "[Errno 28] ..."."""
    text = " ".join(str(exc).split())
    if isinstance(exc, EmbeddedPostgresError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- fork safety ----------------------------------------------------------------------------------
# os.fork() copies only the calling thread. Taking every watchdog's lock before a fork means none
# is half-way through a restart or a log line when the child is made; the child's copies are inert.

_WATCHDOGS: weakref.WeakSet[Watchdog] = weakref.WeakSet()


def _before_fork() -> None:
    for watchdog in list(_WATCHDOGS):
        watchdog._busy.acquire()


def _after_fork_in_parent() -> None:
    for watchdog in list(_WATCHDOGS):
        with contextlib.suppress(RuntimeError):
            watchdog._busy.release()


def _after_fork_in_child() -> None:
    for watchdog in list(_WATCHDOGS):  # fresh objects: the old ones' locks may be held forever
        watchdog._busy = threading.Lock()
        watchdog._stopping = threading.Event()
        watchdog._stopping.set()
        watchdog._thread = None
    _WATCHDOGS.clear()


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)
