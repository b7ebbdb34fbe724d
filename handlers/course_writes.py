"""The course frontend's and Typing Tutor's writes (see course.py): start a session
(``POST /study_sessions``), record an answer (``POST /study_sessions/{id}/review``) and clear the
history (``POST /api/study-sessions/reset``). Each is the /api endpoint's own work, Idempotency-Key
included, answered in the shape the course's pages read.
"""

from __future__ import annotations

from typing import Any

from .base import Answer, APIHandler
from .reset import ResetHistoryHandler
from .reviews import record_review, review_answer
from .study_sessions import creation_answer, start_study_session


def course_creation_answer(row: Any) -> Answer:
    """As POST /api/study_sessions answers, with ``session_id`` (what the launch page reads) beside
    ``study_session``."""
    answer = creation_answer(row)
    if answer.status != 201:
        return answer
    return Answer(answer.status, {"session_id": row["id"], **answer.body}, answer.headers)


def course_review_answer(row: Any, study_session_id: int, word_id: int) -> Answer:
    """As POST /api/study_sessions/{id}/words/{word_id}/review answers, with a ``message``."""
    answer = review_answer(row, study_session_id, word_id)
    if answer.status != 201:
        return answer
    verdict = "right" if row["correct"] else "wrong"
    message = f"recorded a {verdict} answer to word {word_id} in study session {study_session_id}"
    return Answer(answer.status, {"message": message, **answer.body}, answer.headers)


class CourseStartSessionHandler(APIHandler):
    async def post(self) -> None:
        self.respond(await start_study_session(self, course_creation_answer))


class CourseReviewHandler(APIHandler):
    async def post(self, study_session_id_text: str) -> None:
        study_session_id = self.path_id(study_session_id_text, "study session")
        body = self.json_body("course_review_create")
        word_id = int(body["word_id"])  # 7.0 -> 7
        self.respond(await record_review(self, study_session_id, word_id, body, course_review_answer))


class CourseResetHandler(ResetHistoryHandler):
    """POST /api/study-sessions/reset: POST /api/reset_history under the course's path, behind the
    same switch (--enable-reset)."""
