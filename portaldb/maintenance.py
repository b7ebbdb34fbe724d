"""Upkeep the server runs now and then: folding the stretch counts of the past (migrations 0008 and
0009).

The statements are in ``sql/queries/maintenance.sql``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import asyncpg

from .pool import is_unavailable
from .queries import load

log = logging.getLogger("portaldb.maintenance")

FOLD_SECONDS = 60
# The most seconds of stretches one piece of the fold takes (six hours: what one run of migration
# 0008 took), and the fewest: one second, certain to fit any statement timeout (at most one
# stretch of each level ends in it, with one row a slot each).
LONGEST_PIECE = 21600
SHORTEST_PIECE = 1
# Seconds a run goes on folding piece after piece while the fold is behind, once a piece has fit.
FOLD_BUDGET = 15.0


@dataclass
class FoldSpan:
    """How many seconds of stretches the next piece of the fold takes: halved after a piece that
    the statement timeout cut off or that waited too long for a row, down to ``SHORTEST_PIECE``;
    doubled after a piece that fit, up to ``LONGEST_PIECE``."""

    seconds: int = LONGEST_PIECE

    def shrink(self) -> bool:
        """Halve the span; False when it was the shortest already (nothing smaller to try)."""
        if self.seconds <= SHORTEST_PIECE:
            self.seconds = SHORTEST_PIECE
            return False
        self.seconds = max(SHORTEST_PIECE, self.seconds // 2)
        return True

    def grow(self) -> None:
        """Double the span (a piece fit)."""
        self.seconds = min(LONGEST_PIECE, self.seconds * 2)


# This process's span: each run starts from where the runs before left it.
FOLD_SPAN = FoldSpan()


async def fold_session_stretches(
    pool: asyncpg.Pool, span: FoldSpan | None = None, budget: float | None = None
) -> int | None:
    """Fold the stretch counts of the stretches that ended since the last fold into one row each,
    so that finding a deep page reads one row per stretch whatever the connections that wrote in
    it. Returns the rows removed, or None when nothing was folded: another process was folding, a
    row it needed stayed locked (a second at most) or the database is unavailable (logged; the
    next run catches up: it folds from where the last one ended).

    A run folds up to five minutes ago (the database's clock, read once) in pieces of ``span``
    seconds (this process's :data:`FOLD_SPAN` unless given), each its own statement and
    transaction. A piece the statement timeout cuts off is tried again at once at half the span,
    down to one second, which is certain to fit: a run advances whatever the backlog. A piece that
    meets a held lock halves the span and ends the run (the holder may hold it a while). A piece
    that fits doubles the span. Pieces follow each other until the fold has caught up, or, once
    one has fit, until ``budget`` seconds (:data:`FOLD_BUDGET` unless given) have passed: a
    backlog is caught up, not just advanced, without one run holding a connection for long."""
    span = FOLD_SPAN if span is None else span
    ends = time.monotonic() + (FOLD_BUDGET if budget is None else budget)
    queries = load()
    removed: int | None = None
    pieces = 0
    try:
        settled = await pool.fetchval(queries.fold_target)
        while True:
            tried = span.seconds
            try:
                row = await pool.fetchrow(queries.fold_session_stretches, settled, tried)
            except (asyncpg.QueryCanceledError, TimeoutError) as exc:
                # the server's statement timeout, or the driver's command timeout where no server-side
                # one reaches the connection (a pooler without the role's defaults): too big a piece
                if not span.shrink():
                    # even the shortest piece, which is certain to fit, was cut off: the database
                    # was that slow for a moment, or a lock wait ran into the statement timeout
                    log.warning(
                        "could not fold even %d s of stretch counts within the statement timeout "
                        "(will retry): %s",
                        tried,
                        exc,
                    )
                    return removed
                log.info(
                    "folding %d s of stretch counts took longer than the statement timeout; "
                    "folding %d s at a time now",
                    tried,
                    span.seconds,
                )
                if removed is not None and time.monotonic() >= ends:
                    break  # the budget counts once a piece has fit: each run advances
                continue
            if row is None or row["removed"] is None:
                break  # another process is folding: it goes on from here
            removed = (removed or 0) + row["removed"]
            pieces += 1
            span.grow()
            if row["folded_until"] >= settled or time.monotonic() >= ends:
                break
    except (asyncpg.DeadlockDetectedError, asyncpg.LockNotAvailableError) as exc:
        # a transaction writing old stretches by hand held rows the fold needed: the next run,
        # with a shorter piece (which may end before the rows held)
        span.shrink()
        log.warning("could not fold the stretch counts now (will retry): %s", exc)
        return removed
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log.warning("could not fold the stretch counts (will retry): %r", exc)
        return removed
    log.debug(
        "folded the stretch counts: %s row(s) removed in %d piece(s), %d s a piece next",
        removed,
        pieces,
        span.seconds,
    )
    return removed
