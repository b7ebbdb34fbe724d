"""Upkeep the server runs now and then: folding the stretch counts of the past (migration 0008).

The statements are in ``sql/queries/maintenance.sql``.
"""

from __future__ import annotations

import logging

import asyncpg

from .pool import is_unavailable
from .queries import load

log = logging.getLogger("portaldb.maintenance")

FOLD_SECONDS = 60


async def fold_session_stretches(pool: asyncpg.Pool) -> int | None:
    """Fold the stretch counts of the stretches that ended since the last fold into one row each,
    so that finding a deep page reads one row per stretch whatever the connections that wrote in
    it. Returns the rows removed, or None when another process was folding, a row it needed stayed
    locked (a second at most) or the database is unavailable (logged; the next run catches up: it
    folds from where the last one ended)."""
    try:
        removed: int | None = await pool.fetchval(load().fold_session_stretches)
    except (asyncpg.DeadlockDetectedError, asyncpg.LockNotAvailableError) as exc:
        # a transaction writing old stretches by hand held rows the fold needed: the next run
        log.warning("could not fold the stretch counts now (will retry): %s", exc)
        return None
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log.warning("could not fold the stretch counts (will retry): %r", exc)
        return None
    log.debug("folded the stretch counts: %s row(s) removed", removed)
    return removed
