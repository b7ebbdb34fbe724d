"""POST /api/study_sessions/{id}/words/{word_id}/review: record one answer in a session."""

from __future__ import annotations

from .base import APIError, APIHandler


class ReviewHandler(APIHandler):
    async def post(self, session_id: str, word_id: str) -> None:
        sid = self.path_id(session_id, "study session")
        wid = self.path_id(word_id, "word")
        body = self.json_body("review_create")
        row = await self.fetchrow("create_review", sid, wid, body["correct"])
        missing = []
        if not row["session_found"]:
            missing.append({"field": "study_session_id", "message": f"study session {sid} not found"})
        if not row["word_found"]:
            missing.append({"field": "word_id", "message": f"word {wid} not found"})
        if missing:
            raise APIError(404, "; ".join(m["message"] for m in missing), details=missing)
        review = {
            "id": row["id"],
            "word_id": row["word_id"],
            "study_session_id": row["study_session_id"],
            "correct": row["correct"],
            "created_at": row["created_at"].isoformat(),
        }
        self.write_json(201, {"review_item": review})
