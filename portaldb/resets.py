"""The reset of the history: every session, review and idempotency key gone in one transaction, the
catalogue kept, the counters exact after.

The full reset, back to the demo data, is ``migrations.restore_demo``: it shares the seed file with
the migrations.
"""

from __future__ import annotations

import asyncpg

from .pool import Connection
from .queries import Queries


async def reset_history(conn: Connection, queries: Queries) -> asyncpg.Record:
    """Empty the history in one transaction; how many sessions and reviews went (a row of
    ``study_sessions`` and ``word_review_items``).

    A fold of the stretch counts in progress ends first and the next ones skip until the end; the
    history's tables are taken as the full reset takes every table (never in a deadlock with a
    request), their sizes read from the exact counters, then truncated: the truncation's triggers
    empty the counters. A row-by-row DELETE had the counting triggers visit every row (seconds per
    million reviews, past the statement timeout on a real history). Ids go on from where they were;
    sql/queries/reset.sql (truncate_history) says why, and why no read sees half a reset.
    """
    async with conn.transaction():
        await conn.execute(queries.hold_off_the_fold)
        await conn.execute(queries.only_the_history)
        await conn.execute(queries.take_every_table)  # never a deadlock with a request
        deleted = await conn.fetchrow(queries.history_size)  # one row: the counts
        assert deleted is not None
        await conn.execute(queries.truncate_history)
    return deleted
