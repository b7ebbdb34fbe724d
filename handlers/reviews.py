"""POST /api/study_sessions/{id}/words/{word_id}/review: record one answer in a session.

Concurrent answers share one statement and one transaction (group commit, portaldb/batch.py), as
launches do: each answer updates the history's counters (migration 0005), and one increment per
batch keeps those rows from becoming the queue every answer waits in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Answer, APIHandler, not_found
from .idempotency import idempotency_key, run_once_per_key


class ReviewHandler(APIHandler):
    async def post(self, study_session_id_text: str, word_id_text: str) -> None:
        study_session_id = self.path_id(study_session_id_text, "study session")
        word_id = self.path_id(word_id_text, "word")
        body = self.json_body("review_create")
        self.respond(await record_review(self, study_session_id, word_id, body, review_answer))


async def record_review(
    handler: APIHandler,
    study_session_id: int,
    word_id: int,
    body: Any,
    answer: Callable[[Any, int, int], Answer],
) -> Answer:
    """Record the answer ``body["correct"]`` to word ``word_id`` in the session, once per
    Idempotency-Key when the request has one; ``answer`` shapes the create_reviews row."""
    key = idempotency_key(handler.request)
    if key is None:
        row = await handler.fetchrow_batched("create_reviews", study_session_id, word_id, body["correct"])
        return answer(row, study_session_id, word_id)

    async def create(conn: Any) -> Answer:
        statement = handler.application.queries.create_reviews
        row = (await conn.fetch(statement, [study_session_id], [word_id], [body["correct"]]))[0]
        return answer(row, study_session_id, word_id)

    return await run_once_per_key(handler, key, body, create)


def review_answer(row: Any, study_session_id: int, word_id: int) -> Answer:
    """201 with the stored review item, or 404 naming what does not exist, from a create_reviews row."""
    missing = not_found(
        ("study_session_id", f"study session {study_session_id}", row["session_found"]),
        ("word_id", f"word {word_id}", row["word_found"]),
    )
    if missing:
        return missing
    review = {
        "id": row["id"],
        "word_id": row["word_id"],
        "study_session_id": row["study_session_id"],
        "correct": row["correct"],
        "created_at": row["created_at"],  # written by the answer's encoder, in isoformat's text
    }
    return Answer(201, {"review_item": review})
