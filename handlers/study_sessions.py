"""POST /api/study_sessions (start a session) and GET /api/study_sessions/{id} (read one)."""

from __future__ import annotations

from typing import Any

from .base import APIError, APIHandler


def study_session_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "group_id": row["group_id"],
        "study_activity_id": row["study_activity_id"],
        "created_at": row["created_at"].isoformat(),
    }


class StudySessionsHandler(APIHandler):
    async def post(self) -> None:
        body = self.json_body("study_session_create")
        group_id, activity_id = int(body["group_id"]), int(body["study_activity_id"])  # 1.0 -> 1
        row = await self.fetchrow("create_study_session", group_id, activity_id)
        missing = []
        if not row["group_found"]:
            missing.append({"field": "group_id", "message": f"group {group_id} not found"})
        if not row["activity_found"]:
            missing.append(
                {"field": "study_activity_id", "message": f"study activity {activity_id} not found"}
            )
        if missing:
            raise APIError(404, "; ".join(m["message"] for m in missing), details=missing)
        self.set_header("Location", f"/api/study_sessions/{row['id']}")
        self.write_json(201, {"study_session": study_session_json(row)})


class StudySessionHandler(APIHandler):
    async def get(self, session_id: str) -> None:
        study_session_id = self.path_id(session_id, "study session")
        row = await self.fetchrow("get_study_session", study_session_id)
        if row is None:
            raise APIError(404, f"study session {study_session_id} not found")
        self.write_json(200, {"study_session": study_session_json(row)})
