"""Shared reads: identical reads share one round trip (group commit's twin).

Under load a frontend asks the same questions (the dashboard's numbers, the first page of
sessions) many times at once. At most one read per key (statement and parameters) is in flight in
a process; a read that finds one in flight waits for it to end, then runs, and every identical
read that arrives meanwhile joins it. A read joins another only while that one has **not been sent
yet**: the statement then runs after every reader sharing it arrived, so each sees every write
committed before it asked, exactly as if it had run alone. Under light load a read finds nothing in
flight and is sent at once.

The reader that creates the entry (the leader) waits with :meth:`wait_turn`, calls :meth:`sent`
the moment it holds a connection, and ends with :meth:`settle` or :meth:`fail`; the others await
its result (or its exception) through :meth:`join`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any


class SharedReadCutOff(TimeoutError):
    """The identical read this one joined was cut off (its request's deadline) before its answer:
    the database was too slow for it, so this one is answered as it was (a 503, busy)."""


class SharedReads:
    """The reads of one process waiting to be sent, by (statement, parameters)."""

    def __init__(self) -> None:
        self._waiting: dict[Hashable, asyncio.Future[Any]] = {}  # not sent yet: joinable
        self._in_flight: dict[Hashable, asyncio.Future[Any]] = {}  # sent, not answered yet
        self.sent_reads = 0  # statements sent, and readers answered by another's (tests, tuning)
        self.joined_reads = 0

    def join(self, key: Hashable) -> asyncio.Future[Any] | None:
        """The result of an identical read not sent yet, or None: then call :meth:`lead`."""
        future = self._waiting.get(key)
        if future is not None:
            self.joined_reads += 1
        return future

    def lead(self, key: Hashable) -> asyncio.Future[Any]:
        """Become the read others with ``key`` join until :meth:`sent`."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        return future

    async def wait_turn(self, key: Hashable) -> None:
        """Wait until no identical read is in flight (whatever its outcome)."""
        while (previous := self._in_flight.get(key)) is not None:
            await asyncio.wait([previous])

    def sent(self, key: Hashable, future: asyncio.Future[Any]) -> None:
        """The leader's statement is about to go out: later readers must not join it."""
        if self._waiting.get(key) is future:
            del self._waiting[key]
            self._in_flight[key] = future
            self.sent_reads += 1

    def settle(self, key: Hashable, future: asyncio.Future[Any], result: Any) -> None:
        self._end(key, future)
        if not future.done():
            future.set_result(result)

    def fail(self, key: Hashable, future: asyncio.Future[Any], exc: BaseException) -> None:
        self._end(key, future)
        if not future.done():
            if isinstance(exc, asyncio.CancelledError):
                # The leader was cut off (its request's deadline: asyncio.timeout cancels it). Those
                # who joined it get a timeout, which they answer as the leader does (a 503); a
                # cancelled future would cancel them instead, and their requests would never end.
                exc = SharedReadCutOff("the identical read this one joined was cut off before its answer")
            future.set_exception(exc)
            future.exception()  # retrieved: with no one joined, nothing is left to report

    def _end(self, key: Hashable, future: asyncio.Future[Any]) -> None:
        if self._waiting.get(key) is future:
            del self._waiting[key]
        if self._in_flight.get(key) is future:
            del self._in_flight[key]
