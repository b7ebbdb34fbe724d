"""Groups: a page of groups, one group with its stats, and a group's words and sessions."""

from __future__ import annotations

from typing import Any

from .base import APIError, APIHandler
from .pagination import limit_offset, page_of, session_page_of, session_statement, session_window
from .study_sessions import study_session_summary_json
from .words import word_json


def group_json(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "word_count": row["word_count"]}


class GroupsHandler(APIHandler):
    async def get(self) -> None:
        params = self.query_params("groups_query")
        rows = await self.fetch("list_groups", params["sort_by"], params["order"], *limit_offset(params))
        self.write_json(200, page_of(rows, params, group_json))


class GroupHandler(APIHandler):
    async def get(self, group_id_text: str) -> None:
        group_id = self.path_id(group_id_text, "group")
        row = await self.fetchrow("get_group", group_id)
        if row is None:
            raise APIError(404, f"group {group_id} not found")
        group = {"id": row["id"], "name": row["name"], "stats": {"total_word_count": row["total_word_count"]}}
        self.write_json(200, {"group": group})


class GroupWordsHandler(APIHandler):
    async def get(self, group_id_text: str) -> None:
        group_id = self.path_id(group_id_text, "group")
        params = self.query_params("words_query")
        rows = await self.fetch(
            "list_group_words", group_id, params["sort_by"], params["order"], *limit_offset(params)
        )
        if not rows[0]["found"]:
            raise APIError(404, f"group {group_id} not found")
        self.write_json(200, page_of(rows, params, word_json))


class GroupStudySessionsHandler(APIHandler):
    async def get(self, group_id_text: str) -> None:
        group_id = self.path_id(group_id_text, "group")
        params = self.query_params("session_page_query")
        window = session_window(params, "page" in self.request.query_arguments)
        statement, page = session_statement("list_group_study_sessions", window)
        rows = await self.fetch(statement, group_id, *page)
        if not rows[0]["found"]:
            raise APIError(404, f"group {group_id} not found")
        self.write_json(200, session_page_of(rows, params, study_session_summary_json))
