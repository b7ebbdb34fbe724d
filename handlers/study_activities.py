"""Study activities: the apps a session is launched in, and each activity's sessions."""

from __future__ import annotations

from typing import Any

from .base import APIError, APIHandler
from .pagination import limit_offset, page_of, session_page_of, session_statement, session_window
from .study_sessions import study_session_summary_json


def study_activity_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "url": row["url"],
        "thumbnail_url": row["thumbnail_url"],
        "description": row["description"],
    }


class StudyActivitiesHandler(APIHandler):
    async def get(self) -> None:
        params = self.query_params("page_query")
        rows = await self.fetch("list_study_activities", *limit_offset(params))
        self.write_json(200, page_of(rows, params, study_activity_json))


class StudyActivityHandler(APIHandler):
    async def get(self, study_activity_id_text: str) -> None:
        study_activity_id = self.path_id(study_activity_id_text, "study activity")
        row = await self.fetchrow("get_study_activity", study_activity_id)
        if row is None:
            raise APIError(404, f"study activity {study_activity_id} not found")
        self.write_json(200, {"study_activity": study_activity_json(row)})


class StudyActivitySessionsHandler(APIHandler):
    async def get(self, study_activity_id_text: str) -> None:
        study_activity_id = self.path_id(study_activity_id_text, "study activity")
        params = self.query_params("session_page_query")
        window = session_window(params, "page" in self.request.query_arguments)
        statement, page = session_statement("list_activity_study_sessions", window)
        rows = await self.fetch(statement, study_activity_id, *page)
        if not rows[0]["found"]:
            raise APIError(404, f"study activity {study_activity_id} not found")
        self.write_json(200, session_page_of(rows, params, study_session_summary_json))
