"""The routes of the course's own frontend and Typing Tutor (the public course repository
ExamProCo/free-genai-bootcamp-2025: ``lang-portal/frontend-react`` and ``typing-tutor``), with the
paths and shapes of the course's Flask template, beside the /api contract and served by the same
statements where their meaning is the same. Bodies are as strict as under /api (json_body.py);
query strings are lenient, as the template's are (course_query.py). Words (W) and sessions (S)
have the template's shapes: :func:`course_word_json`, :func:`course_session_json`.

Reads here, but the study activities' (course_activities.py); the two POSTs that write (a session,
an answer) and the reset are in course_writes.py.
"""

from __future__ import annotations

import json
from typing import Any

from .base import APIError, APIHandler
from .course_query import CoursePage, course_page
from .pagination import NO_CURSOR, session_statement
from .words import WordHandler, finite_float

WORD_SORTS = {name: name for name in ("kanji", "romaji", "english", "correct_count", "wrong_count")}
GROUP_SORTS = {"name": "name", "word_count": "word_count", "words_count": "word_count"}
# The session table's sort keys (camelCase from the template, snake_case from the table's columns)
# -> the statement of sql/queries/course.sql that reads that order.
SESSION_SORTS = {
    "created_at": "start",
    "start_time": "start",
    "startTime": "start",
    "group_name": "start",  # one group: every session has its name, so the start decides
    "groupName": "start",
    "id": "id",
    "activity_name": "activity",
    "activityName": "activity",
    "end_time": "end",
    "endTime": "end",
    "review_items_count": "review_count",
    "reviewItemsCount": "review_count",
}
# Page sizes of the template: 10 everywhere but the words (50).
PAGE_SIZE = 10
WORDS_PAGE_SIZE = 50


def course_word_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kanji": row["kanji"],
        "romaji": row["romaji"],
        "english": row["english"],
        "correct_count": row["correct_count"],
        "wrong_count": row["wrong_count"],
    }


def group_json(row: Any, *, word_count: str = "word_count") -> dict[str, Any]:
    return {"id": row["id"], "group_name": row["name"], "word_count": row[word_count]}


def course_session_json(row: Any) -> dict[str, Any]:
    """A session as the template shows it: its end is its last review's time, or its start."""
    return {
        "id": row["id"],
        "group_id": row["group_id"],
        "group_name": row["group_name"],
        "activity_id": row["study_activity_id"],
        "activity_name": row["activity_name"],
        "start_time": row["created_at"],
        "end_time": row["end_time"] if row["end_time"] is not None else row["created_at"],
        "review_items_count": row["review_items_count"],
    }


def listed(rows: list[Any]) -> list[Any]:
    """The item rows of a list statement (its first row may carry only the totals)."""
    return [row for row in rows if row["id"] is not None]


def total_of(rows: list[Any]) -> int:
    return int(rows[0]["total_items"]) if rows else 0


def numbered_page(name: str, items: list[Any], page: CoursePage, rows: list[Any]) -> dict[str, Any]:
    """The template's page of ``items`` under ``name``, with total_pages and current_page."""
    return {name: items, "total_pages": page.total_pages(total_of(rows)), "current_page": page.page}


class CourseHandler(APIHandler):
    """A course route: the helpers its handlers share."""

    async def session_list(
        self, query: str, *args: Any, counted_by_stretch: bool = False
    ) -> tuple[CoursePage, list[Any]]:
        """A page (``?page=&per_page=``) of one of the /api session lists, newest first (see
        pagination.session_statement)."""
        page = course_page(self.request, per_page=PAGE_SIZE, per_page_param=True)
        window = (page.per_page, page.offset, *NO_CURSOR)
        statement, page_args = session_statement(query, window, counted_by_stretch=counted_by_stretch)
        rows = await self.fetch(statement, *args, *page_args)
        return page, rows

    def write_session_page(self, page: CoursePage, rows: list[Any]) -> None:
        total = total_of(rows)
        self.write_json(
            200,
            {
                "items": [course_session_json(row) for row in listed(rows)[: page.per_page]],
                "total": total,
                "page": page.page,
                "per_page": page.per_page,
                "total_pages": page.total_pages(total),
            },
        )


# -- the dashboard ------------------------------------------------------------------------------


class RecentSessionHandler(CourseHandler):
    async def get(self) -> None:
        row = await self.fetchrow("course_recent_session")
        self.write_json(200, dict(row) if row is not None else None)


class StatsHandler(CourseHandler):
    async def get(self) -> None:
        self.write_json(200, dict(await self.fetchrow("course_stats")))


# -- groups and words ---------------------------------------------------------------------------


class CourseGroupsHandler(CourseHandler):
    async def get(self) -> None:
        page = course_page(self.request, per_page=PAGE_SIZE, sorts=GROUP_SORTS, default_sort="name")
        order = "desc" if page.descending else "asc"
        rows = await self.fetch("list_groups", page.sort_by, order, page.per_page, page.offset)
        groups = [group_json(row) for row in listed(rows)]
        self.write_json(200, numbered_page("groups", groups, page, rows))


class CourseGroupHandler(CourseHandler):
    async def get(self, group_id_text: str) -> None:
        group_id = self.path_id(group_id_text, "group")
        row = await self.fetchrow("get_group", group_id)
        if row is None:
            raise APIError(404, f"group {group_id} not found")
        self.write_json(200, group_json(row, word_count="total_word_count"))


class CourseGroupWordsHandler(CourseHandler):
    async def get(self, group_id_text: str) -> None:
        group_id = self.path_id(group_id_text, "group")
        page = course_page(self.request, per_page=PAGE_SIZE, sorts=WORD_SORTS, default_sort="kanji")
        order = "desc" if page.descending else "asc"
        rows = await self.fetch("list_group_words", group_id, page.sort_by, order, page.per_page, page.offset)
        if not rows[0]["found"]:
            raise APIError(404, f"group {group_id} not found")
        words = [course_word_json(row) for row in listed(rows)]
        self.write_json(200, numbered_page("words", words, page, rows))


class CourseGroupSessionsHandler(CourseHandler):
    async def get(self, group_id_text: str) -> None:
        group_id = self.path_id(group_id_text, "group")
        page = course_page(
            self.request, per_page=PAGE_SIZE, sorts=SESSION_SORTS, default_sort="start", descending=True
        )
        statement = f"course_group_sessions_by_{page.sort_by}"
        rows = await self.fetch(statement, group_id, page.descending, page.per_page, page.offset)
        if not rows[0]["found"]:
            raise APIError(404, f"group {group_id} not found")
        sessions = [course_session_json(row) for row in listed(rows)]
        self.write_json(200, numbered_page("study_sessions", sessions, page, rows))


class RawGroupWordsHandler(CourseHandler):
    """Every word of a group, with its parts, for the Typing Tutor."""

    async def get(self, group_id_text: str) -> None:
        group_id = self.path_id(group_id_text, "group")
        rows = await self.fetch("course_group_words_raw", group_id)
        if not rows:
            raise APIError(404, f"group {group_id} not found")
        words = [
            {
                "id": row["id"],
                "kanji": row["kanji"],
                "romaji": row["romaji"],
                "english": row["english"],
                "parts": json.loads(row["parts"], parse_float=finite_float),
            }
            for row in listed(rows)
        ]
        group = rows[0]
        self.write_json(
            200, {"group_id": group["group_id"], "group_name": group["group_name"], "words": words}
        )


class ApiRawGroupWordsHandler(RawGroupWordsHandler):
    """The same, under /api (where the course's Typing Tutor may look for it)."""


class CourseWordHandler(WordHandler):
    """GET /words/{id}: GET /api/words/{id} under the course's path."""


class CourseWordsHandler(CourseHandler):
    async def get(self) -> None:
        page = course_page(self.request, per_page=WORDS_PAGE_SIZE, sorts=WORD_SORTS, default_sort="kanji")
        order = "desc" if page.descending else "asc"
        rows = await self.fetch("list_words", page.sort_by, order, page.per_page, page.offset)
        total = total_of(rows)
        self.write_json(
            200,
            {
                "words": [course_word_json(row) for row in listed(rows)],
                "total_pages": page.total_pages(total),
                "current_page": page.page,
                "total_words": total,
            },
        )


# -- study sessions -----------------------------------------------------------------------------


class CourseSessionsHandler(CourseHandler):
    async def get(self) -> None:
        self.write_session_page(*await self.session_list("list_study_sessions", counted_by_stretch=True))


class CourseSessionHandler(CourseHandler):
    """A session, and a page of the words reviewed in it with their answers in it, by kanji."""

    async def get(self, study_session_id_text: str) -> None:
        session_id = self.path_id(study_session_id_text, "study session")
        page = course_page(self.request, per_page=PAGE_SIZE, per_page_param=True)
        session = await self.fetchrow("get_study_session", session_id)
        if session is None:
            raise APIError(404, f"study session {session_id} not found")
        rows = await self.fetch(
            "list_study_session_words", session_id, "kanji", "asc", page.per_page, page.offset
        )
        total = total_of(rows)
        self.write_json(
            200,
            {
                "session": course_session_json(session),
                "words": [course_word_json(row) for row in listed(rows)],
                "total": total,
                "page": page.page,
                "per_page": page.per_page,
                "total_pages": page.total_pages(total),
            },
        )
