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
                "server with --enable-reset to allow POST /api/reset_history, POST /api/full_reset and "
                "POST /api/study-sessions/reset",
            )


class ResetHistoryHandler(_ResetHandler):
    async def post(self) -> None:
        """Delete every study session and review; the vocabulary and activities stay (see
        portaldb.reset_history: one transaction, never in a deadlock with a request, the counters
        exact after, ids going on from where they were)."""
        self.require_reset_enabled()
        async with self.connection() as conn:
            deleted = await portaldb.reset_history(conn, self.application.queries)
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
