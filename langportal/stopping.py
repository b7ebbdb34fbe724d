"""How a process learns it must stop: SIGTERM and SIGINT set a flag and wake a waiter, never more.

One handler is installed at the start of the program and stays for its whole life, so a stop
signal is never lost and never kills the process half-way (which would leave the embedded
PostgreSQL running): whatever the program is doing when it comes (creating the database, migrating,
starting servers, stopping them), it finishes that step, sees the flag and winds down in order.
The handler only records the signal and wakes whoever waits in an event loop; it never raises
into the code it interrupts. The supervisor blocks the signals and takes them with sigtimedwait
instead (see supervisor.py); a signal it takes is recorded here with ``request()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


class StopFlag:
    """The stop signal of this process: ``requested`` once SIGTERM or SIGINT has come."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._wakers: list[Callable[[], None]] = []

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def install(self) -> None:
        """Handle the stop signals from now on (main thread only; before creating anything)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._received)

    def request(self, signum: int) -> None:
        """Record a stop signal taken another way (sigtimedwait), or ask this process to stop."""
        if self.signal is None:
            self.signal = signum
        for wake in list(self._wakers):
            wake()

    def _received(self, signum: int, frame: Any) -> None:
        self.request(signum)

    def forget(self) -> None:
        """In a new child process, with the stop signals still blocked: start with no stop
        requested and no waiters of the parent's; a signal sent to the child after its fork is
        pending, and is handled as soon as the child unblocks it."""
        self.signal = None
        self._wakers = []

    async def wait(self) -> None:
        """Return once a stop is requested (at once if it already was)."""
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(stopped.set)

        # Registered before the flag is read: a signal lands either before the read (seen) or
        # after the registration (wakes us); the handler runs in this thread between bytecodes.
        self._wakers.append(wake)
        try:
            if not self.requested:
                await stopped.wait()
        finally:
            self._wakers.remove(wake)


stop_flag = StopFlag()


@contextlib.contextmanager
def blocked(signals: frozenset[int] | set[int]) -> Iterator[set[int]]:
    """Hold ``signals`` pending (not delivered) in this thread while the block runs; yields the
    signal mask from before."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield previous
    finally:
        # Python runs the handler of a signal that came meanwhile before this call returns.
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
