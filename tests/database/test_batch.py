"""Group commit (portaldb.Batcher) and the batched create statement behind POST /api/study_sessions."""

from __future__ import annotations

import asyncio
import itertools
import json
import random

import asyncpg
import pytest
import tornado.httpclient

from langportal import portaldb
from langportal.handlers import app as app_module

from ..helpers import FIXTURE_SQL, Catalog, Db, wait_until


async def all_queued(batcher: portaldb.Batcher, count: int) -> None:
    """Wait until ``count`` calls wait in the batcher's queue (its only connection is held)."""
    await wait_until(lambda: len(batcher._queue) == count, 5, f"{count} calls queued")


async def test_calls_that_wait_together_share_one_statement(one_connection):
    batcher = portaldb.Batcher(
        one_connection, FIXTURE_SQL.batch_probe, max_workers=1, wait_timeout=5, send_timeout=5
    )
    async with one_connection.acquire():  # every connection busy: calls queue up
        calls = [asyncio.ensure_future(batcher.fetchrow(i)) for i in range(50)]
        await all_queued(batcher, 50)
    rows = await asyncio.gather(*calls)
    assert [row["x"] for row in rows] == list(range(50))  # each call got its own row
    assert {row["batch_size"] for row in rows} == {50}


async def test_a_lone_call_goes_out_alone_at_once(one_connection):
    batcher = portaldb.Batcher(
        one_connection, FIXTURE_SQL.batch_probe, max_workers=1, wait_timeout=5, send_timeout=5
    )
    row = await asyncio.wait_for(batcher.fetchrow(7), 2)
    assert (row["x"], row["batch_size"]) == (7, 1)


async def test_batches_are_capped(one_connection):
    batcher = portaldb.Batcher(
        one_connection, FIXTURE_SQL.batch_probe, max_workers=1, wait_timeout=5, send_timeout=5, max_batch=20
    )
    async with one_connection.acquire():
        calls = [asyncio.ensure_future(batcher.fetchrow(i)) for i in range(50)]
        await all_queued(batcher, 50)
    rows = await asyncio.gather(*calls)
    assert [row["batch_size"] for row in rows] == [20] * 40 + [10] * 10


async def test_no_free_connection_times_out_unsent(one_connection):
    batcher = portaldb.Batcher(
        one_connection, FIXTURE_SQL.batch_probe, max_workers=1, wait_timeout=0.2, send_timeout=5
    )
    async with one_connection.acquire():
        with pytest.raises(portaldb.BatchWaitTimeout):
            await batcher.fetchrow(1)
    row = await batcher.fetchrow(2)  # and it works again once a connection is free
    assert row["batch_size"] == 1


async def test_a_failing_statement_fails_its_whole_batch_then_recovers(one_connection):
    failing = portaldb.Batcher(
        one_connection, FIXTURE_SQL.batch_probe_failing, max_workers=1, wait_timeout=5, send_timeout=5
    )
    async with one_connection.acquire():
        calls = [asyncio.ensure_future(failing.fetchrow(i)) for i in range(5)]
        await all_queued(failing, 5)
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, asyncpg.DivisionByZeroError) for r in results)
    working = portaldb.Batcher(
        one_connection, FIXTURE_SQL.batch_probe, max_workers=1, wait_timeout=5, send_timeout=5
    )
    assert (await working.fetchrow(3))["x"] == 3


async def test_batchers_sharing_a_lane_take_turns(two_connections):
    """The app's launches and answers share one lane (handlers/app.py): with room for one batch in
    flight, the batches of two batchers never run at once, though a second connection is free, and
    the calls that gather meanwhile go out as one batch per batcher, the other batcher first (in
    turn)."""
    lane = portaldb.Lane(1)
    first, second = (
        portaldb.Batcher(
            two_connections, FIXTURE_SQL.batch_probe_timed, wait_timeout=5, send_timeout=5, lane=lane
        )
        for _ in range(2)
    )
    opening = asyncio.ensure_future(first.fetchrow(0))
    await wait_until(lambda: first._unanswered and first._unanswered[0].sent, 5, "the first batch sent")
    firsts = [asyncio.ensure_future(first.fetchrow(i)) for i in (1, 2, 3)]
    seconds = [asyncio.ensure_future(second.fetchrow(i)) for i in (4, 5)]
    rows = await asyncio.gather(opening, *firsts, *seconds)
    statements = sorted({(row["started"], row["ended"], row["batch_size"]) for row in rows})
    assert [size for _, _, size in statements] == [1, 2, 3]  # the opening call, then second's, then first's
    for (_, ended, _), (started, _, _) in itertools.pairwise(statements):
        assert ended <= started  # one after the other, never overlapping
    assert [row["x"] for row in rows] == [0, 1, 2, 3, 4, 5]


async def test_a_statement_failing_batch_after_batch_does_not_hold_up_its_lane(one_connection):
    """The turns keep going round when a failed batch sends the worker to a fresh connection: here
    every failing batch finds another failing call queued, and the working statement still goes
    out second (found by a review: it used to wait behind all twenty)."""
    lane = portaldb.Lane(1)
    order: list[str] = []
    pending: list[asyncio.Future] = []

    def failed_batch(size: int) -> None:
        order.append("failing")
        if len(order) < 20:
            pending.append(asyncio.ensure_future(failing.fetchrow(1)))

    failing = portaldb.Batcher(
        one_connection, FIXTURE_SQL.batch_probe_failing, wait_timeout=5, send_timeout=5, lane=lane,
        on_batch=failed_batch,
    )  # fmt: skip
    working = portaldb.Batcher(
        one_connection, FIXTURE_SQL.batch_probe, wait_timeout=5, send_timeout=5, lane=lane,
        on_batch=lambda size: order.append("working"),
    )  # fmt: skip
    async with one_connection.acquire():  # both queue up before the worker has a connection
        pending.append(asyncio.ensure_future(failing.fetchrow(1)))
        answered = asyncio.ensure_future(working.fetchrow(2))
        await wait_until(lambda: failing._queue and working._queue, 5, "both queued")
    assert (await asyncio.wait_for(answered, 3))["x"] == 2
    while pending:
        await asyncio.gather(*pending, return_exceptions=True)
        pending[:] = [p for p in pending if not p.done()]
    assert order.index("working") <= 1, order


async def test_a_call_queued_while_the_worker_gives_its_connection_back_is_sent(one_connection):
    """The worker looks at the queues again after giving its connection back: a call that came in
    meanwhile found no room for a worker of its own, and must not wait out its wait_timeout."""
    batcher = portaldb.Batcher(
        one_connection, FIXTURE_SQL.batch_probe, max_workers=1, wait_timeout=2, send_timeout=5
    )
    release = batcher._release
    late: list[asyncio.Future] = []

    async def slow_release(connection: asyncpg.Connection) -> None:
        if not late:
            late.append(asyncio.ensure_future(batcher.fetchrow(9)))
            # the late call queued while the worker is still counted (so it started none)
            await wait_until(lambda: batcher._queue, 5, "the late call queued")
            assert batcher._lane._working == 1
        await release(connection)

    batcher._release = slow_release
    assert (await batcher.fetchrow(1))["x"] == 1
    started = asyncio.get_running_loop().time()
    assert (await asyncio.wait_for(late[0], 3))["x"] == 9
    assert asyncio.get_running_loop().time() - started < 1  # sent at once, not after the 2 s wait


class CountedPool:
    """A batcher's pool with its worker's waits for a connection counted."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.acquires = 0

    def acquire(self, **kwargs):
        self.acquires += 1
        return self.pool.acquire(**kwargs)

    def release(self, connection, **kwargs):
        return self.pool.release(connection, **kwargs)


async def test_calls_queued_while_no_connection_came_are_sent_once_one_is_free(one_connection):
    """A worker whose wait for a connection ran out ends only when no call is left: calls queued
    during that wait still have time, and go out as soon as a connection is free (found by a
    review: they used to wait, unsent, until their own wait ran out)."""
    batcher = portaldb.Batcher(
        one_connection, FIXTURE_SQL.batch_probe, max_workers=1, wait_timeout=1, send_timeout=5
    )
    batcher._pool = counted = CountedPool(one_connection)
    loop = asyncio.get_running_loop()
    async with one_connection.acquire():
        early = asyncio.ensure_future(batcher.fetchrow(1))
        await wait_until(lambda: counted.acquires == 1, 5, "the worker waiting for a connection")
        # Halfway through that 1 s wait, on purpose: the late call has 0.5 s left after it ends.
        await asyncio.sleep(0.5)
        late = asyncio.ensure_future(batcher.fetchrow(2))
        with pytest.raises(portaldb.BatchWaitTimeout):
            await early  # 1 s without a connection
        # the worker's wait ran out too, and it waits again for the late call
        await wait_until(lambda: counted.acquires == 2, 5, "the worker waiting again for a connection")
        assert not late.done()
    freed = loop.time()
    assert (await asyncio.wait_for(late, 3))["x"] == 2
    assert loop.time() - freed < 0.3  # the worker was still after a connection for it


async def test_a_batcher_takes_a_lane_or_max_workers_and_a_lane_one_pool(one_connection, two_connections):
    with pytest.raises(ValueError, match="max_workers"):
        portaldb.Batcher(one_connection, FIXTURE_SQL.batch_probe, wait_timeout=1, send_timeout=1)
    lane = portaldb.Lane(1)
    with pytest.raises(ValueError, match="max_workers"):
        portaldb.Batcher(
            one_connection, FIXTURE_SQL.batch_probe, max_workers=1, wait_timeout=1, send_timeout=1, lane=lane
        )
    portaldb.Batcher(one_connection, FIXTURE_SQL.batch_probe, wait_timeout=1, send_timeout=1, lane=lane)
    with pytest.raises(ValueError, match="one pool"):
        portaldb.Batcher(two_connections, FIXTURE_SQL.batch_probe, wait_timeout=1, send_timeout=1, lane=lane)


async def test_the_app_batches_launches_and_answers_in_one_lane(app):
    launches, answers = app.batcher("create_study_sessions"), app.batcher("create_reviews")
    assert launches._lane is answers._lane
    assert launches._lane.max_workers == min(app_module.BATCHES_IN_FLIGHT, app.pool.get_max_size())


async def test_an_unreachable_database_fails_fast(unused_port):
    dead = await asyncpg.create_pool(
        f"postgresql://postgres@127.0.0.1:{unused_port}/x", min_size=0, timeout=2
    )
    try:
        batcher = portaldb.Batcher(
            dead, FIXTURE_SQL.batch_probe, max_workers=2, wait_timeout=10, send_timeout=5
        )
        started = asyncio.get_running_loop().time()
        with pytest.raises(ConnectionRefusedError):
            await batcher.fetchrow(1)
        assert asyncio.get_running_loop().time() - started < 5  # not the 10 s wait
    finally:
        await dead.close()


async def test_mixed_concurrent_requests_each_get_their_own_answer(
    http_server, http_server_client, db: Db, catalog: Catalog
):
    """Valid and unknown ids mixed in the same batches: each answer matches its own request."""
    rng = random.Random(7)
    group_ids = [catalog.group_id, catalog.other_group_id, 999]
    bodies = [
        {"group_id": rng.choice(group_ids), "study_activity_id": rng.choice([catalog.activity_id, 888])}
        for _ in range(300)
    ]
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=300)
    url = http_server_client.get_url("/api/study_sessions")
    try:
        replies = await asyncio.gather(
            *(
                client.fetch(
                    url,
                    method="POST",
                    body=json.dumps(body),
                    headers={"Content-Type": "application/json"},
                    raise_error=False,
                )
                for body in bodies
            )
        )
    finally:
        client.close()
    created = 0
    for body, reply in zip(bodies, replies, strict=True):
        answer = json.loads(reply.body)
        if body["group_id"] != 999 and body["study_activity_id"] != 888:
            assert reply.code == 201
            session = answer["study_session"]
            assert (session["group_id"], session["study_activity_id"]) == (
                body["group_id"],
                body["study_activity_id"],
            )
            row = await db.fetchrow("study_session_row", session["id"])
            assert (row["group_id"], row["study_activity_id"]) == (
                body["group_id"],
                body["study_activity_id"],
            )
            created += 1
        else:
            assert reply.code == 404
            assert ("group 999 not found" in answer["error"]) == (body["group_id"] == 999)
            assert ("study activity 888 not found" in answer["error"]) == (body["study_activity_id"] == 888)
    assert created > 50
    assert await db.count_sessions() == created


async def test_a_connection_cut_off_mid_statement_fails_fast_and_is_replaced(one_connection, pool):
    """The server ending the connection (as a restart does) fails the batch at once, not after
    the send timeout, and the next call gets a fresh connection."""
    slow = portaldb.Batcher(
        one_connection, FIXTURE_SQL.batch_probe_slow, max_workers=1, wait_timeout=5, send_timeout=10
    )
    started = asyncio.get_running_loop().time()
    call = asyncio.ensure_future(slow.fetchrow(1))
    terminated = await wait_until(
        lambda: pool.fetchval(FIXTURE_SQL.terminate_slow_probes), 5, "the slow probe to be running"
    )
    assert terminated == 1
    with pytest.raises((asyncpg.ConnectionDoesNotExistError, asyncpg.AdminShutdownError)):
        await call
    assert asyncio.get_running_loop().time() - started < 2
    working = portaldb.Batcher(
        one_connection, FIXTURE_SQL.batch_probe, max_workers=1, wait_timeout=5, send_timeout=5
    )
    assert (await working.fetchrow(4))["x"] == 4


async def test_each_call_times_out_at_its_own_deadline_with_one_timer_for_all(one_connection):
    # Calls arrive in deadline order, so one event-loop timer, set for the oldest, bounds them all
    # (portaldb/batch.py): not a timer per call, and each still fails at its own deadline.
    loop = asyncio.get_running_loop()
    batcher = portaldb.Batcher(
        one_connection, FIXTURE_SQL.batch_probe, max_workers=1, wait_timeout=0.4, send_timeout=5
    )
    failed_at: dict[int, float] = {}

    async def call(i: int) -> None:
        with pytest.raises(portaldb.BatchWaitTimeout):
            await batcher.fetchrow(i)
        failed_at[i] = loop.time()

    async with one_connection.acquire():  # no connection free: every call waits, unsent
        scheduled = len(loop._scheduled)  # asyncio's timer heap
        started = loop.time()
        first = [asyncio.ensure_future(call(i)) for i in range(100)]
        await wait_until(lambda: len(batcher._queue) == 100, 5, "the first hundred calls queued")
        # one timer (and the worker's wait for a connection), not 100
        assert len(loop._scheduled) <= scheduled + 2
        await asyncio.sleep(0.2)  # on purpose: the next hundred's deadlines come 0.2 s later
        late_started = loop.time()
        late = [asyncio.ensure_future(call(100 + i)) for i in range(100)]
        await asyncio.gather(*first, *late)
    firsts = [failed_at[i] - started for i in range(100)]
    lates = [failed_at[100 + i] - late_started for i in range(100)]  # each at its own deadline
    assert all(0.4 <= t < 0.55 for t in firsts), (min(firsts), max(firsts))
    assert all(0.4 <= t < 0.55 for t in lates), (min(lates), max(lates))
    assert min(failed_at[100 + i] for i in range(100)) > max(failed_at[i] for i in range(100))
    assert not batcher._queue  # nothing left behind
    assert not batcher._unanswered
    row = await batcher.fetchrow(1)  # and it works again once a connection is free
    assert row["batch_size"] == 1
    assert not batcher._unanswered


async def test_a_sent_call_gets_the_send_timeout_after_its_wait(one_connection):
    # Sent but unanswered at its wait deadline, a call gets send_timeout more, then fails
    # TimeoutError, whatever the driver is doing.
    loop = asyncio.get_running_loop()
    slow = portaldb.Batcher(
        one_connection, FIXTURE_SQL.batch_probe_slow, max_workers=1, wait_timeout=0.2, send_timeout=0.5
    )
    started = loop.time()
    with pytest.raises(TimeoutError) as raised:
        await slow.fetchrow(1)
    assert not isinstance(raised.value, portaldb.BatchWaitTimeout)  # it was sent
    assert 0.5 <= loop.time() - started < 1.2
    await wait_until(lambda: not slow._unanswered and not slow._overdue and slow._timer is None, 5, "idle")


async def test_a_call_right_as_the_last_worker_ends_is_still_sent(pool):
    # A worker ends when it finds its queue empty, but its task is done (and was forgotten by a
    # done callback) only later. A call queued in between must still start a worker, not wait
    # unsent until its wait_timeout: seen as 503s under concurrent launches with one batch in
    # flight. Here the worker's task lingers after its loop, to hold that moment open.
    loop = asyncio.get_running_loop()
    batcher = portaldb.Batcher(pool, FIXTURE_SQL.batch_probe, max_workers=1, wait_timeout=1, send_timeout=5)
    lane = batcher._lane
    work = lane._work

    async def lingering(first: portaldb.Batcher) -> None:
        await work(first)
        await asyncio.sleep(0.5)  # a stand-in for the moment between the loop's end and the task's

    lane._work = lingering
    assert (await batcher.fetchrow(1))["x"] == 1
    await wait_until(lambda: lane._working == 0 and lane._tasks, 5, "the worker's loop ended, its task left")
    started = loop.time()
    assert (await asyncio.wait_for(batcher.fetchrow(2), 3))["x"] == 2
    assert loop.time() - started < 0.3  # sent at once, not after the lingering task or the timeout
    await wait_until(lambda: not lane._tasks, 5, "both lingering tasks to end")  # within the test


class _RefusingConnection:
    """A pooled connection the server ended while it sat idle: the driver refuses the statement
    before sending anything (as asyncpg does, with its InternalClientError)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.terminated = False

    async def fetch(self, statement: str, *columns: list) -> list:
        await asyncio.sleep(self.delay)  # the refusal comes a moment after the call went out
        raise asyncpg.exceptions._base.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        )

    def terminate(self) -> None:
        self.terminated = True


class _SentConnection:
    def __init__(self, sent: list) -> None:
        self.sent = sent

    async def fetch(self, statement: str, *columns: list) -> list:
        self.sent.append(columns)
        return [{"x": x} for x in columns[0]]


class _LostThenFreePool:
    """The first connection lent is a lost one; the next comes once ``free`` is set."""

    def __init__(self, first_delay: float) -> None:
        self.lent = 0
        self.first = _RefusingConnection(first_delay)
        self.free = asyncio.Event()
        self.sent: list = []

    async def acquire(self, timeout: float | None = None):  # noqa: ASYNC109 (asyncpg.Pool's signature)
        self.lent += 1
        if self.lent == 1:
            return self.first
        await asyncio.wait_for(self.free.wait(), timeout)
        return _SentConnection(self.sent)

    async def release(self, connection, timeout: float | None = None) -> None:  # noqa: ASYNC109
        return None


async def test_a_batch_the_driver_refused_goes_out_on_another_connection():
    pool = _LostThenFreePool(first_delay=0)
    batcher = portaldb.Batcher(pool, "statement", wait_timeout=5, send_timeout=5, max_workers=1)
    call = asyncio.ensure_future(batcher.fetchrow(7))
    await wait_until(lambda: pool.lent == 2, 5, "the worker asking for another connection")
    pool.free.set()
    assert (await asyncio.wait_for(call, 5))["x"] == 7
    assert pool.first.terminated  # the lost connection was dropped, never lent again
    assert pool.sent == [([7],)]


async def test_a_refused_call_past_its_wait_fails_unsent_and_is_never_sent_after():
    # The refusal comes after the call's wait ran out (the timer gave it its send time): it is
    # answered as never sent, and it does not go out later on another connection.
    pool = _LostThenFreePool(first_delay=0.15)
    batcher = portaldb.Batcher(pool, "statement", wait_timeout=0.05, send_timeout=5, max_workers=1)
    with pytest.raises(portaldb.BatchWaitTimeout):
        await asyncio.wait_for(batcher.fetchrow(7), 5)
    assert batcher.waiting == 0
    pool.free.set()
    batcher._lane.wake(batcher)
    await wait_until(lambda: not batcher._lane._tasks, 5, "the worker to end")
    assert pool.sent == []
