"""The fold of the stretch counts advances whatever the backlog (migration 0009): a run folds in
pieces sized to fit the statement timeout, halving a piece the timeout cut off and doubling one
that fit, piece after piece while behind. A run of migration 0008 folded six hours at once; once
six hours of rows took longer than the statement timeout it retried the very same six hours run
after run, and the unfolded rows piled up."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
import tornado.ioloop

from langportal import portaldb
from langportal.portaldb import maintenance

from ..helpers import FIXTURE_SQL, Db

# A statement timeout some six-hour windows of stretch counts cannot be folded within at once
# (BACKLOG_WRITERS connections writing every second: about 130,000 rows, 0.6 s to fold on an idle
# machine), while a piece of a few minutes folds in a few milliseconds.
SHORT_TIMEOUT = 0.05
BACKLOG_WRITERS = 6
SIX_HOURS = 6 * 3600


@pytest.fixture
def short_timeout_pool(io_loop: tornado.ioloop.IOLoop, direct_database_url: str) -> Iterator[asyncpg.Pool]:
    """The server's pool with a statement timeout of SHORT_TIMEOUT (directly: through a transaction
    pooler the timeout would be the role's)."""
    pool = io_loop.run_sync(
        lambda: portaldb.create_pool(
            direct_database_url,
            min_size=1,
            max_size=2,
            connect_timeout=5,
            statement_timeout=SHORT_TIMEOUT,
            pooler="none",
        )
    )
    yield pool
    io_loop.run_sync(pool.close)


async def a_backlog_of_six_hours(db: Db, direct_database_url: str) -> tuple[int, int]:
    """Every second of the six hours before the last five minutes written through BACKLOG_WRITERS
    connections (a row a connection and second at level 0), never folded: the first and the last
    second the fold has to go through (its marker, and five minutes ago)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    since = now - dt.timedelta(seconds=300 + SIX_HOURS + 60)
    await db.pool.execute(FIXTURE_SQL.set_stretches_folded_until, since)
    writers = [await asyncpg.connect(direct_database_url) for _ in range(BACKLOG_WRITERS)]
    try:
        await asyncio.gather(
            *(
                writer.execute(FIXTURE_SQL.insert_study_sessions_series, 1, 2, SIX_HOURS, since)
                for writer in writers
            )
        )
    finally:
        for writer in writers:
            await writer.close()
    first = await db.fetchval("epoch_second_of", since)
    settled = await db.fetchval("epoch_second_of", now) - 300
    return first, settled


async def assert_folded_and_exact(db: Db, first: int, settled: int) -> None:
    """Every stretch that ended between ``first`` and ``settled`` has one row (none if empty), and
    the stretch counts summed over the slots are a recount of the sessions."""
    assert await db.pool.fetch(FIXTURE_SQL.unfolded_stretches, first, settled) == []
    stretches = [tuple(r) for r in await db.pool.fetch(FIXTURE_SQL.session_stretch_counts)]
    assert stretches == [tuple(r) for r in await db.pool.fetch(FIXTURE_SQL.exact_session_stretch_counts)]


async def test_a_backlog_too_big_for_the_statement_timeout_is_folded_run_after_run(
    db: Db, demo, direct_database_url, short_timeout_pool
):
    """Six hours of rows that cannot be folded at once within the statement timeout: every run of
    the server's fold still advances the fold, and a few catch it up, with the counts exact."""
    first, settled = await a_backlog_of_six_hours(db, direct_database_url)
    assert len(await db.pool.fetch(FIXTURE_SQL.unfolded_stretches, first, settled)) > SIX_HOURS
    with pytest.raises(asyncpg.QueryCanceledError):  # six hours at once: cut off
        await short_timeout_pool.fetchval(FIXTURE_SQL.fold_until, settled)

    reached = [await db.fetchval("stretches_folded_until")]
    for _ in range(5):
        removed = await portaldb.fold_session_stretches(short_timeout_pool)
        reached.append(await db.fetchval("stretches_folded_until"))
        assert reached[-1] > reached[-2], (
            f"run {len(reached) - 1} of the fold did not advance it (returned {removed!r}): "
            f"folded until {reached}, {settled - reached[-1]} s short of the second {settled}"
        )
        if reached[-1] >= settled:
            break
    assert reached[-1] >= settled, f"5 runs folded until {reached}, not to the second {settled}"
    await assert_folded_and_exact(db, first, settled)


async def test_each_run_folds_a_piece_that_fits(db: Db, demo, direct_database_url, short_timeout_pool):
    """With no time for more than one piece a run, every run still folds one (after halving the
    pieces the timeout cut off), and the pieces grow back after the ones that fit; writers of the
    present go on meanwhile."""
    first, settled = await a_backlog_of_six_hours(db, direct_database_url)
    span = maintenance.FoldSpan()
    spans = [span.seconds]
    reached = [await db.fetchval("stretches_folded_until")]
    writer = await asyncpg.connect(direct_database_url)
    try:
        for run in range(1, 200):
            now = [dt.datetime.now(dt.UTC)] * 20  # the present, not folded: written as the fold goes
            removed, _ = await asyncio.gather(
                portaldb.fold_session_stretches(short_timeout_pool, span, budget=0),
                writer.execute(FIXTURE_SQL.insert_study_sessions_at, now, [1] * 20, [2] * 20),
            )
            reached.append(await db.fetchval("stretches_folded_until"))
            spans.append(span.seconds)
            assert removed is not None, f"run {run} folded nothing: {reached}, {spans}"
            assert reached[-1] > reached[-2], f"run {run} did not advance the fold: {reached}, {spans}"
            # one piece a run: no further than the piece that fit (the span before it was doubled)
            assert reached[-1] - reached[-2] <= spans[-1] // 2 or reached[-1] >= settled, (reached, spans)
            if reached[-1] >= settled:
                break
    finally:
        await writer.close()
    assert reached[-1] >= settled
    assert len(reached) > 3, f"one piece a run, each shorter than six hours: {reached}, {spans}"
    await assert_folded_and_exact(db, first, settled)


# -- the span of the pieces, without a database ---------------------------------------------------


def test_the_span_halves_down_to_one_second_and_doubles_up_to_six_hours():
    span = maintenance.FoldSpan()
    assert span.seconds == maintenance.LONGEST_PIECE == SIX_HOURS
    halves = []
    while span.shrink():
        halves.append(span.seconds)
    assert halves == [10800, 5400, 2700, 1350, 675, 337, 168, 84, 42, 21, 10, 5, 2, 1]
    assert span.seconds == maintenance.SHORTEST_PIECE == 1
    assert not span.shrink()
    assert span.seconds == 1
    doubles = []
    for _ in range(16):
        span.grow()
        doubles.append(span.seconds)
    assert doubles[:3] == [2, 4, 8]
    assert doubles[-2:] == [SIX_HOURS, SIX_HOURS]  # never past six hours


class Backlog:
    """A stand-in for the pool: the fold's statements against a marker, where a piece of more than
    ``fits`` seconds is cut off by the statement timeout (or meets a held lock: ``error``)."""

    def __init__(
        self, since: int, settled: int, fits: int, error: type[Exception] = asyncpg.QueryCanceledError
    ):
        self.since, self.settled, self.fits, self.error = since, settled, fits, error
        self.tried: list[int] = []

    async def fetchval(self, statement: str) -> int:
        assert statement == portaldb.load_queries().fold_target
        return self.settled

    async def fetchrow(self, statement: str, settled: int, span: int) -> dict[str, Any]:
        assert statement == portaldb.load_queries().fold_session_stretches
        self.tried.append(span)
        if span > self.fits:
            raise self.error(f"a piece of {span} s: cut off")
        before, self.since = self.since, max(self.since, min(settled, self.since + span))
        return {"removed": self.since - before, "folded_until": self.since}


async def test_a_run_halves_the_pieces_cut_off_and_doubles_the_ones_that_fit():
    backlog = Backlog(since=0, settled=5000, fits=1000)
    span = maintenance.FoldSpan()
    assert await portaldb.fold_session_stretches(backlog, span) == 5000
    # cut off at 21600, 10800, 5400, 2700, 1350; 675 fits, then 1350 does not, 675 fits, ...
    assert backlog.tried[:8] == [21600, 10800, 5400, 2700, 1350, 675, 1350, 675]
    assert backlog.since == 5000  # caught up: the run went on until then, and stopped there
    assert backlog.tried[-1] == 675
    assert span.seconds == 1350
    # the next run starts from the span this one left, not from six hours
    backlog.settled = 5600
    assert await portaldb.fold_session_stretches(backlog, span) == 600
    assert backlog.tried[-2:] == [1350, 675]


async def test_a_run_that_fits_nothing_but_the_shortest_piece_still_advances():
    backlog = Backlog(since=100, settled=200, fits=1)
    span = maintenance.FoldSpan()
    assert await portaldb.fold_session_stretches(backlog, span, budget=0) == 1
    assert backlog.since == 101
    assert span.seconds == 2


async def test_a_held_lock_halves_the_span_and_leaves_the_rest_to_the_next_run(caplog):
    backlog = Backlog(since=0, settled=50000, fits=0, error=asyncpg.LockNotAvailableError)
    span = maintenance.FoldSpan()
    assert await portaldb.fold_session_stretches(backlog, span) is None
    assert backlog.tried == [SIX_HOURS]
    assert span.seconds == SIX_HOURS // 2
    assert "could not fold the stretch counts now (will retry)" in caplog.text


async def test_a_run_whose_shortest_piece_is_cut_off_ends_there(caplog):
    """One second is certain to fit, unless the database stalls (or a lock wait meets the timeout):
    then the run ends, and the next one starts from the shortest piece."""
    backlog = Backlog(since=0, settled=50000, fits=0)
    span = maintenance.FoldSpan()
    assert await portaldb.fold_session_stretches(backlog, span) is None
    assert backlog.tried == [21600, 10800, 5400, 2700, 1350, 675, 337, 168, 84, 42, 21, 10, 5, 2, 1]
    assert span.seconds == 1
    assert "could not fold even 1 s of stretch counts within the statement timeout" in caplog.text
