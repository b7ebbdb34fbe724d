"""Several server processes on one port: fork them, replace one that dies, stop and reap them all.

The parent holds SIGTERM, SIGINT and SIGCHLD blocked from before the first fork to after the last
child is reaped, and takes them one at a time with sigtimedwait, so nothing interrupts it between
two steps: a fork and the registration of its child are never separated by a stop, and no child is
forked once a stop is requested. Each child starts with the signals still blocked, forgets the
parent's state, then unblocks them, so a SIGTERM sent right after its fork waits (pending) until
it can stop gracefully. Whatever ends the supervisor (a stop signal, a child that cannot start, an
error), every child is signalled and reaped before it returns, so the embedded PostgreSQL is only
stopped under no one.

Even when nothing of the supervisor runs any more (``kill -9``, the OOM killer), its children end
with it: each asks the kernel (Linux: ``prctl(PR_SET_PDEATHSIG)``) for a SIGTERM when its parent
dies, and stops gracefully on it; elsewhere a thread of the child watches the parent's pid.
Otherwise they would go on serving the port and holding the data folder's lock, with no watchdog
for the database, and the next start would fail.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .handlers.metrics import process_ended
from .portaldb.embedded import process_alive
from .serving import CLOSE_TIMEOUT, run_loop, serve
from .settings import Config, ConfigError
from .stopping import STOP_SIGNALS, blocked, stop_flag

log = logging.getLogger("portal")

WATCHED = STOP_SIGNALS | {signal.SIGCHLD}
MAX_FAILURES = 10  # children that died unexpectedly before the supervisor gives up
# Tests only: seconds to pause after each fork of the start loop, to send a signal in the middle.
PAUSE_ENV = "LANGPORTAL_TEST_PAUSE_AFTER_FORK"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL = 0.5  # seconds between two looks at the parent's pid, where the kernel cannot tell


def _find_prctl() -> Callable[..., int] | None:
    """libc's prctl on Linux, else None. Looked up in the parent, before any fork: loading a library
    in a child forked from a process with threads (the watchdog's) could wait for ever on a lock."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def _watch_parent(parent: int) -> None:
    """Where the kernel cannot signal a parent's death: a thread that looks every ``PARENT_POLL``
    seconds and sends this process SIGTERM once its parent is gone (it is then another's child)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def supervise(config: Config, dsn: str, sockets: list[Any], ready: str) -> None:
    """Serve with ``config.processes`` children until a stop signal; raises ConfigError when the
    children cannot start or keep failing (after every child was reaped)."""
    Supervisor(config, dsn, sockets).run(ready)


class Supervisor:
    def __init__(self, config: Config, dsn: str, sockets: list[Any]) -> None:
        self.config = config
        self.dsn = dsn
        self.sockets = sockets
        self.children: dict[int, int] = {}  # pid -> slot
        self.stopping = False
        self.deadline = float("inf")  # when children still running after a stop are killed
        self.error: str | None = None
        self.failures = 0
        self._unblocked: set[int] = set()  # the signal mask the children restore
        self._pause = float(os.environ.get(PAUSE_ENV) or 0)
        self._pid = os.getpid()  # the children's parent
        self._prctl = _find_prctl()

    def run(self, ready: str) -> None:
        with blocked(WATCHED) as before:
            self._unblocked = before
            try:
                for slot in range(self.config.processes):
                    if not self._start(slot):
                        break
                    if self._pause:
                        time.sleep(self._pause)
                else:
                    log.info("%s", ready)
                self._watch()
            finally:
                self._end_all()
        if self.error:
            raise ConfigError(self.error)

    # -- children -------------------------------------------------------------------------------

    def _start(self, slot: int) -> bool:
        """Fork the server of ``slot``, unless a stop was requested; False when it was."""
        self._take_stop_signals()
        if self.stopping:
            return False
        try:
            pid = os.fork()
        except OSError as exc:
            self._stop(f"cannot start a server process: {exc.strerror or exc}")
            return False
        if pid == 0:
            code = 1
            try:
                code = self._child()
            finally:
                os._exit(code)  # never return into the parent's code (or its finally blocks)
        self.children[pid] = slot
        log.debug("server process %d started (%d of %d)", pid, slot + 1, self.config.processes)
        return True

    def _child(self) -> int:
        stop_flag.forget()
        if not self._end_with_parent():
            log.error(
                "server process %d: the supervisor (pid %d) ended before it could start; not serving",
                os.getpid(),
                self._pid,
            )
            return 1
        # Unblock: a stop signal the parent sent since the fork is handled now, setting the flag.
        signal.pthread_sigmask(signal.SIG_SETMASK, self._unblocked)
        try:
            run_loop(serve(self.config, self.dsn, self.sockets))
            # The kernel signals a child as soon as its parent's main thread has exited (it is then
            # a zombie), maybe before the parent's other threads have and the child is another's.
            if os.getppid() != self._pid or not process_alive(self._pid):
                log.warning(
                    "server process %d stopped: its supervisor (pid %d) was gone (killed?)",
                    os.getpid(),
                    self._pid,
                )
        except ConfigError as exc:
            log.error("server process %d cannot start: %s", os.getpid(), exc)
            return 2
        except BaseException:
            log.exception("server process %d failed", os.getpid())
            return 1
        finally:
            logging.shutdown()
        return 0

    def _end_with_parent(self) -> bool:
        """In a new child, before it serves: get a SIGTERM when the supervisor dies, however it
        dies; False when it already has (between the fork and now: the kernel would never send it).
        The kernel sends it when the thread that forked dies: the supervisor's main thread, which
        lives as long as the supervisor."""
        if self._prctl is None or self._prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            _watch_parent(self._pid)  # started with the stop signals blocked: they stay the main thread's
        return os.getppid() == self._pid and process_alive(self._pid)

    def _signal_all(self, signum: int) -> None:
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):  # exited, not yet reaped
                os.kill(pid, signum)

    # -- watching -------------------------------------------------------------------------------

    def _stop(self, error: str | None = None) -> None:
        if error and not self.error:
            self.error = error
        if not self.stopping:
            self.stopping = True
            self.deadline = time.monotonic() + self.config.shutdown_grace + 3 * CLOSE_TIMEOUT
            self._signal_all(signal.SIGTERM)
            # No server process is started from now on, and each one closes its copy of the
            # listening sockets as it starts stopping: this one's copy would keep them open, so new
            # connections would be accepted by the kernel, never served, then reset at exit.
            for sock in self.sockets:
                sock.close()

    def _take_stop_signals(self) -> None:
        while (info := signal.sigtimedwait(STOP_SIGNALS, 0)) is not None:
            stop_flag.request(info.si_signo)
        if stop_flag.requested:
            self._stop()

    def _reap(self) -> list[tuple[int, int, int]]:
        """Children that ended since the last call: (pid, slot, exit code)."""
        ended = []
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:  # cannot happen: only this loop reaps; never wait for ever
                log.error("server processes %s vanished", sorted(self.children))
                self.children.clear()
                break
            if pid == 0:
                break
            slot = self.children.pop(pid, None)
            process_ended(pid)  # metrics (issue 9): drop its live gauges
            if slot is not None:
                ended.append((pid, slot, os.waitstatus_to_exitcode(status)))
        return ended

    def _watch(self) -> None:
        """Until every child has ended: replace one that died, pass a stop signal on."""
        while self.children:
            self._take_stop_signals()
            for pid, slot, code in self._reap():
                if self.stopping:
                    continue
                if code == 2:
                    self._stop("a server process could not start; see the message above")
                    continue
                self.failures += 1
                log.error("server process %d ended unexpectedly (exit %d); starting another", pid, code)
                if self.failures > MAX_FAILURES:
                    self._stop("server processes keep failing; see the log above")
                    continue
                self._start(slot)
            if self.children:
                self._wait_a_little()

    def _wait_a_little(self) -> None:
        """Sleep until a child ends or a signal comes (a second at most: SIGCHLD is not queued)."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            log.warning(
                "%d server process(es) still running %g s after the stop signal; killing them",
                len(self.children),
                self.config.shutdown_grace + 3 * CLOSE_TIMEOUT,
            )
            self._signal_all(signal.SIGKILL)
            self.deadline = float("inf")
            return
        info = signal.sigtimedwait(WATCHED, min(1.0, remaining))
        if info is not None and info.si_signo in STOP_SIGNALS:
            stop_flag.request(info.si_signo)

    def _end_all(self) -> None:
        """However the supervisor ends: every child signalled and reaped (killed after the grace)."""
        if not self.children:
            return
        self._stop()
        while self.children:
            self._reap()
            if self.children:
                self._wait_a_little()
