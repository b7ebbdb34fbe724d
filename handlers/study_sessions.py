"""Study sessions: start one, read one, list them, and list the words reviewed in one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Answer, APIError, APIHandler, not_found
from .idempotency import idempotency_key, run_once_per_key
from .pagination import limit_offset, page_of, session_page_of, session_statement, session_window
from .words import word_json


def study_session_json(row: Any) -> dict[str, Any]:
    """A session as it is created. Its timestamps stay datetimes: the answer's encoder writes
    them, in isoformat's text (handlers/answers.py)."""
    return {
        "id": row["id"],
        "group_id": row["group_id"],
        "study_activity_id": row["study_activity_id"],
        "created_at": row["created_at"],
    }


def study_session_summary_json(row: Any) -> dict[str, Any]:
    """A session as it is read back: names, start and end time (the last review), review count.
    Its start is its created_at."""
    session = study_session_json(row)
    session.update(
        activity_name=row["activity_name"],
        group_name=row["group_name"],
        start_time=row["created_at"],
        end_time=row["end_time"],
        review_items_count=row["review_items_count"],
    )
    return session


class StudySessionsHandler(APIHandler):
    async def get(self) -> None:
        """A page of sessions, newest first: by page number, or after a cursor."""
        params = self.query_params("session_page_query")
        window = session_window(params, "page" in self.request.query_arguments)
        statement, page = session_statement("list_study_sessions", window, counted_by_stretch=True)
        rows = await self.fetch(statement, *page)
        self.write_json(200, session_page_of(rows, params, study_session_summary_json))

    async def post(self) -> None:
        self.respond(await start_study_session(self, creation_answer))


async def start_study_session(handler: APIHandler, answer: Callable[[Any], Answer]) -> Answer:
    """Start the session the request's body asks for (schemas/study_session_create.json), once per
    Idempotency-Key when it has one; ``answer`` shapes the create_study_sessions row."""
    body = handler.json_body("study_session_create")
    group_id, activity_id = int(body["group_id"]), int(body["study_activity_id"])  # 1.0 -> 1
    key = idempotency_key(handler.request)
    if key is None:
        return answer(await handler.fetchrow_batched("create_study_sessions", group_id, activity_id))

    async def create(conn: Any) -> Answer:
        statement = handler.application.queries.create_study_sessions
        return answer((await conn.fetch(statement, [group_id], [activity_id]))[0])

    return await run_once_per_key(handler, key, body, create)


def creation_answer(row: Any) -> Answer:
    """201 with the new session, or 404 naming what does not exist, from a create_study_sessions row."""
    missing = not_found(
        ("group_id", f"group {row['group_id']}", row["group_found"]),
        ("study_activity_id", f"study activity {row['study_activity_id']}", row["activity_found"]),
    )
    if missing:
        return missing
    return Answer(
        201,
        {"study_session": study_session_json(row)},
        {"Location": f"/api/study_sessions/{row['id']}"},
    )


class StudySessionHandler(APIHandler):
    async def get(self, study_session_id_text: str) -> None:
        study_session_id = self.path_id(study_session_id_text, "study session")
        row = await self.fetchrow("get_study_session", study_session_id)
        if row is None:
            raise APIError(404, f"study session {study_session_id} not found")
        self.write_json(200, {"study_session": study_session_summary_json(row)})


class StudySessionWordsHandler(APIHandler):
    async def get(self, study_session_id_text: str) -> None:
        """The words reviewed in the session, with their right and wrong answers in it."""
        study_session_id = self.path_id(study_session_id_text, "study session")
        params = self.query_params("words_query")
        rows = await self.fetch(
            "list_study_session_words",
            study_session_id,
            params["sort_by"],
            params["order"],
            *limit_offset(params),
        )
        if not rows[0]["found"]:
            raise APIError(404, f"study session {study_session_id} not found")
        self.write_json(200, page_of(rows, params, word_json))
