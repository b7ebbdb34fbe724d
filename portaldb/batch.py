"""Group commit: concurrent calls of one statement share a round trip and a transaction.

Under load, many requests want to run the same small INSERT at once. Each round trip costs the
database (parse/bind/execute/commit) and this process (asyncpg, the event loop) about as much as
the insert itself, so :class:`Batcher` lets calls that arrive while the pool's connections are busy
wait together and go out as one statement over arrays. With no queue (light load) a call goes out
on its own at once: batching never adds a delay.

Several statements can share their batches in flight (:class:`Lane`): the app's launches and
answers have one batch in flight between them, taking turns, and each one's calls gather while
the other's batch is out.

The statement takes one array parameter per argument and returns one row per call, in order, with
a column ``ord`` (1-based, from ``unnest(...) WITH ORDINALITY``). It must be correct for any batch,
since a failing statement fails every call in its batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from .pool import PooledConnection, connection_is_suspect, discard, refused_before_sending

log = logging.getLogger("portaldb.batch")


class BatchSendTimeout(TimeoutError):
    """The call's batch was sent but got no answer within its send timeout: the statement may or
    may not have been committed."""


class BatchWaitTimeout(TimeoutError):
    """The call was not sent within its wait (no connection, or no room in its lane, came free);
    it was never sent."""


UNSENT = "not sent in time: no database connection, or no room in its lane, came free"
UNANSWERED = "sent, but no answer came within the send timeout: it may or may not have been stored"


@dataclass(eq=False)
class _Call:
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    deadline: float  # loop time: unsent by then, it fails; sent, it gets send_timeout more
    sent: bool = field(default=False)


class Lane:
    """The batches in flight of one or more :class:`Batcher`\\ s over one pool: at most
    ``max_workers`` at a time, in all. A worker takes a connection and sends the batches of the
    lane's batchers that have calls queued, one batcher's turn after another's (round robin), until
    no call is left; then it gives the connection back and ends (no idle task is left behind).
    After a batch that failed it takes a fresh connection, and after no connection came within
    the wait it tries again for the calls still waiting.

    A batcher made without a lane has one of its own. Batchers that share a lane (the app's
    launches and answers) share its workers: with one worker, while one statement's batch is in
    flight the other's calls gather, so each goes out in larger batches (the database pays a
    statement, its triggers and a commit per batch). The price: a batch stuck on a broken
    connection holds the calls of every batcher of the lane until its send timeout.
    """

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._batchers: list[Batcher] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # Workers running, counted down by a worker in the very step it decides to end (every
        # queue seen empty), not by a done callback later: a call queued in between would
        # otherwise find no room for a new worker and wait, unsent, until its wait_timeout.
        self._working = 0

    def add(self, batcher: Batcher) -> None:
        """Make ``batcher`` one of the lane's (Batcher does, when made with this lane)."""
        if self._batchers and batcher._pool is not self._batchers[0]._pool:
            raise ValueError(
                "the batchers of one lane must share one pool: its connections carry all their batches"
            )
        self._batchers.append(batcher)

    def wake(self, batcher: Batcher) -> None:
        """A call was queued on ``batcher`` (Batcher calls this): start a worker if there is room."""
        if self._working < self.max_workers:
            self._working += 1
            task = asyncio.get_running_loop().create_task(self._work(batcher))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _next(self, after: Batcher) -> Batcher | None:
        """The first batcher with calls queued, starting with the one after ``after`` (in turn)."""
        batchers = self._batchers
        start = batchers.index(after) + 1
        for i in range(len(batchers)):
            batcher = batchers[(start + i) % len(batchers)]
            if batcher._queue:
                return batcher
        return None

    async def _work(self, woken_by: Batcher) -> None:
        """Send batches while calls are queued, then end. The turns go round from the batcher after
        ``woken_by`` (itself, when it is the only one with calls), and keep going round across
        connections: a statement that fails batch after batch cannot hold the others back."""
        last = woken_by  # whose batch went last; the next turn is the next batcher with calls queued
        try:
            while (first := self._next(last)) is not None:
                try:
                    connection = await first._pool.acquire(timeout=first._wait_timeout)
                except TimeoutError:
                    continue  # calls past their wait fail on their own timer; later ones get a try
                except Exception as exc:  # the database cannot be reached: fail the queues now, unsent
                    for each in self._batchers:
                        each._fail(each._take_all(), exc)
                    return
                try:
                    while (ready := self._next(last)) is not None:
                        last = ready
                        if not await ready._send(connection, ready._take()):
                            break  # the connection may be broken: get another for what is left
                finally:
                    await last._release(connection)  # one pool for the lane: any batcher's will do
        finally:
            self._working -= 1


class Batcher:
    """Runs ``statement`` for many concurrent :meth:`fetchrow` calls in as few round trips as the pool
    allows: at most ``max_workers`` batches at a time, up to ``max_batch`` calls each. Batchers made
    with one ``lane`` instead (all over the same pool) share its workers: the lane's
    ``max_workers`` is their limit together.

    Every wait is bounded: a call waits at most ``wait_timeout`` to be sent, and a sent batch gets
    ``send_timeout`` (a little over the statement timeout) before its calls fail and its connection
    is closed, whatever the driver is doing; a caller never hangs. The bounds cost no timer per
    call: calls arrive in the order of their deadlines, so one timer of the event loop, set for the
    oldest unanswered call, enforces them all (a timer per call, created and cancelled, was a
    measurable part of a request's CPU, and 10,000 of them at 10,000 concurrent requests).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        statement: str,
        *,
        wait_timeout: float,
        send_timeout: float,
        max_workers: int | None = None,
        max_batch: int = 500,
        on_batch: Callable[[int], None] | None = None,
        lane: Lane | None = None,
    ) -> None:
        if lane is None:
            if max_workers is None:
                raise ValueError("give a Batcher max_workers (for a lane of its own) or the lane it shares")
            lane = Lane(max_workers)
        elif max_workers is not None:
            raise ValueError("a Batcher with a lane has the lane's max_workers: give one or the other")
        self._pool = pool
        self._statement = statement
        self._wait_timeout = wait_timeout
        self._send_timeout = send_timeout
        self._max_batch = max_batch
        self._queue: deque[_Call] = deque()
        # Every call not known to be answered, in arrival (so deadline) order; then the sent calls
        # past their wait, in the order of their send deadlines. One timer serves both.
        self._unanswered: deque[_Call] = deque()
        self._overdue: deque[_Call] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._on_batch = on_batch  # metrics (issue 9): told each batch's size
        self._lane = lane
        lane.add(self)

    @property
    def waiting(self) -> int:
        """Calls queued, not yet sent (waiting for a connection or for a batch to go out)."""
        return len(self._queue)

    async def fetchrow(self, *args: Any) -> Any:
        """This call's row of the statement's result.

        Raises :class:`BatchWaitTimeout` when no connection could be had within ``wait_timeout``
        (nothing was sent); whatever the statement raised (for the whole batch); or TimeoutError
        when a sent batch got no answer within ``send_timeout``, in which case the statement may
        or may not have been committed (as with any request cut off mid-flight; a client retries
        safely with an Idempotency-Key).
        """
        loop = asyncio.get_running_loop()
        call = _Call(args, loop.create_future(), loop.time() + self._wait_timeout)
        self._queue.append(call)
        self._unanswered.append(call)
        self._lane.wake(self)
        if self._timer is None:
            self._timer = loop.call_at(call.deadline, self._expire)
        try:
            return await call.future
        finally:
            unanswered = self._unanswered
            while unanswered and unanswered[0].future.done():
                unanswered.popleft()

    def _expire(self) -> None:
        """The timer: fail every call past its deadline (unsent: ``wait_timeout`` after it came;
        sent: ``send_timeout`` after that), then set the timer for the next deadline."""
        self._timer = None
        now = (loop := asyncio.get_running_loop()).time()
        unanswered, overdue = self._unanswered, self._overdue
        while unanswered and (unanswered[0].future.done() or unanswered[0].deadline <= now):
            call = unanswered.popleft()
            if call.future.done():
                continue
            if not call.sent:
                self._queue.remove(call)
                call.future.set_exception(BatchWaitTimeout(UNSENT))
            else:
                call.deadline += self._send_timeout
                overdue.append(call)
        while overdue and (overdue[0].future.done() or overdue[0].deadline <= now):
            call = overdue.popleft()
            if not call.future.done():
                call.future.set_exception(BatchSendTimeout(UNANSWERED))
        deadlines = [calls[0].deadline for calls in (unanswered, overdue) if calls]
        if deadlines:
            self._timer = loop.call_at(min(deadlines), self._expire)

    async def _release(self, connection: PooledConnection) -> None:
        try:
            await self._pool.release(connection, timeout=self._send_timeout)
        except Exception as exc:  # a connection the server cut off may fail to reset; drop it
            log.warning("a database connection could not go back to the pool: %r", exc)
            discard(connection)

    def _take_all(self) -> list[_Call]:
        calls = list(self._queue)
        self._queue.clear()
        return calls

    @staticmethod
    def _fail(calls: Sequence[_Call], exc: BaseException) -> None:
        for call in calls:
            if not call.future.done():
                call.future.set_exception(exc)

    def _take(self) -> list[_Call]:
        batch: list[_Call] = []
        while self._queue and len(batch) < self._max_batch:
            call = self._queue.popleft()
            if call.future.done():  # answered meanwhile (its wait ran out): never sent after that
                continue
            call.sent = True
            batch.append(call)
        return batch

    async def _send(self, connection: PooledConnection, batch: Sequence[_Call]) -> bool:
        """Run one batch; every call in it gets its row, or the statement's error. True if it ran."""
        try:
            if self._on_batch is not None:
                self._on_batch(len(batch))
            columns = [list(column) for column in zip(*(call.args for call in batch), strict=True)]
            rows = await asyncio.wait_for(connection.fetch(self._statement, *columns), self._send_timeout)
        except Exception as exc:
            if connection_is_suspect(exc):
                discard(connection)
            if refused_before_sending(exc):  # nothing went out: the calls wait for another connection
                now = asyncio.get_running_loop().time()
                for call in reversed(batch):
                    if call.future.done():
                        continue
                    if call in self._overdue or call.deadline <= now:  # past its wait: never sent
                        call.future.set_exception(BatchWaitTimeout(UNSENT))
                        continue
                    call.sent = False
                    self._queue.appendleft(call)
                return False
            self._fail(batch, exc)
            return False
        if len(rows) != len(batch):
            self._fail(batch, RuntimeError(f"a batch of {len(batch)} calls returned {len(rows)} rows"))
            return True
        for call, row in zip(batch, rows, strict=True):
            if not call.future.done():
                call.future.set_result(row)
        return True
