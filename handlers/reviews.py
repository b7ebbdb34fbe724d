"""POST /api/study_sessions/{id}/words/{word_id}/review: record one answer in a session.

Concurrent answers share one statement and one transaction (group commit, portaldb/batch.py), as
launches do: each answer updates the history's counters (migration 0005), and one increment per
batch keeps those rows from becoming the queue every answer waits in.
"""

from __future__ import annotations

from typing import Any

from .base import Answer, APIHandler, not_found


class ReviewHandler(APIHandler):
    async def post(self, session_id: str, word_id: str) -> None:
        sid = self.path_id(session_id, "study session")
        wid = self.path_id(word_id, "word")
        body = self.json_body("review_create")
        key = self.idempotency_key()
        if key is None:
            row = await self.fetchrow_batched("create_reviews", sid, wid, body["correct"])
            self.respond(review_answer(row, sid, wid))
            return

        async def create(conn: Any) -> Answer:
            statement = self.application.queries.create_reviews
            return review_answer((await conn.fetch(statement, [sid], [wid], [body["correct"]]))[0], sid, wid)

        self.respond(await self.once(key, body, create))


def review_answer(row: Any, session_id: int, word_id: int) -> Answer:
    """201 with the stored review item, or 404 naming what does not exist, from a create_reviews row."""
    missing = not_found(
        ("study_session_id", f"study session {session_id}", row["session_found"]),
        ("word_id", f"word {word_id}", row["word_found"]),
    )
    if missing:
        return missing
    review = {
        "id": row["id"],
        "word_id": row["word_id"],
        "study_session_id": row["study_session_id"],
        "correct": row["correct"],
        "created_at": row["created_at"].isoformat(),
    }
    return Answer(201, {"review_item": review})
