"""POST /api/reset_history and POST /api/full_reset: destructive, so off unless enabled.

They answer 403 unless the server was started with ``--enable-reset`` (``make_app(...,
allow_reset=True)``).
"""

from __future__ import annotations

from .. import portaldb
from .base import APIError, APIHandler


class _ResetHandler(APIHandler):
    def require_reset_enabled(self) -> None:
        """403 unless enabled. Checked in POST only: a CORS preflight still succeeds, so a
        browser can read the 403's message."""
        if not self.application.config.allow_reset:
            raise APIError(
                403,
                f"{self.request.path} deletes data and is disabled on this server; restart the "
                "server with --enable-reset to allow POST /api/reset_history and POST /api/full_reset",
            )


class ResetHistoryHandler(_ResetHandler):
    async def post(self) -> None:
        """Delete every study session and review; the vocabulary and activities stay.

        By TRUNCATE, in one transaction that first holds off the fold of the stretch counts, then
        takes the history's tables as the full reset takes every table (never in a deadlock): a
        DELETE had its triggers count every row (seconds per million reviews, past the statement
        timeout on a real history). Launches and answers sent meanwhile wait for the commit, then
        find no old session (404) or start a new one (201); ids go on from where they were
        (sql/queries/reset.sql, truncate_history, says why, and why no read sees half a reset).
        """
        self.require_reset_enabled()
        queries = self.application.queries
        async with self.connection() as conn, conn.transaction():
            await conn.execute(queries.hold_off_the_fold)
            await conn.execute(queries.only_the_history)
            await conn.execute(queries.take_every_table)  # never a deadlock with a request
            deleted = await conn.fetchrow(queries.history_size)  # one row: the counts
            assert deleted is not None
            await conn.execute(queries.truncate_history)
        self.write_json(
            200,
            {
                "message": f"deleted {deleted['study_sessions']} study session(s) and "
                f"{deleted['word_review_items']} review item(s)",
                "deleted": dict(deleted),
            },
        )


class FullResetHandler(_ResetHandler):
    async def post(self) -> None:
        """Delete everything and load the demo data again, in one transaction."""
        self.require_reset_enabled()
        queries = self.application.queries
        async with self.connection() as conn:
            await portaldb.restore_demo(conn, queries)
            restored = await conn.fetchrow(queries.catalogue_counts)  # one row: the counts
            assert restored is not None
        self.write_json(
            200,
            {
                "message": "deleted every row and loaded the demo data again: "
                f"{restored['groups']} groups, {restored['words']} words, "
                f"{restored['study_activities']} study activities",
                "restored": dict(restored),
            },
        )
