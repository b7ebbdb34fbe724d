"""The URL map: every route of the API under /api, then the launch page at / and /static/."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import APIHandler
from .dashboard import LastStudySessionHandler, QuickStatsHandler, StudyProgressHandler
from .groups import GroupHandler, GroupsHandler, GroupStudySessionsHandler, GroupWordsHandler
from .health import LivenessHandler, ReadinessHandler
from .openapi import OpenAPIHandler, build_document
from .page import page_routes
from .reset import FullResetHandler, ResetHistoryHandler
from .reviews import ReviewHandler
from .study_activities import StudyActivitiesHandler, StudyActivityHandler, StudyActivitySessionsHandler
from .study_sessions import StudySessionHandler, StudySessionsHandler, StudySessionWordsHandler
from .words import WordHandler, WordsHandler

_ID = r"([^/]+)"  # any path segment: handlers answer 400 for one that is not a valid id


def routes(
    *, page_api_origins: Sequence[str] = ()
) -> list[tuple[str, type[Any]] | tuple[str, type[Any], dict[str, Any]]]:
    """The API under /api, then the launch page at / and /static/ (see page.py), which may call the
    API at ``page_api_origins`` besides its own origin."""
    return [*api_routes(), *page_routes(api_origins=page_api_origins)]


def api_routes() -> list[tuple[str, type[APIHandler]] | tuple[str, type[APIHandler], dict[str, Any]]]:
    return [
        (r"/api/study_activities", StudyActivitiesHandler),
        (rf"/api/study_activities/{_ID}", StudyActivityHandler),
        (rf"/api/study_activities/{_ID}/study_sessions", StudyActivitySessionsHandler),
        (r"/api/groups", GroupsHandler),
        (rf"/api/groups/{_ID}", GroupHandler),
        (rf"/api/groups/{_ID}/words", GroupWordsHandler),
        (rf"/api/groups/{_ID}/study_sessions", GroupStudySessionsHandler),
        (r"/api/words", WordsHandler),
        (rf"/api/words/{_ID}", WordHandler),
        (r"/api/study_sessions", StudySessionsHandler),
        (rf"/api/study_sessions/{_ID}", StudySessionHandler),
        (rf"/api/study_sessions/{_ID}/words", StudySessionWordsHandler),
        (rf"/api/study_sessions/{_ID}/words/{_ID}/review", ReviewHandler),
        (r"/api/dashboard/last_study_session", LastStudySessionHandler),
        (r"/api/dashboard/study_progress", StudyProgressHandler),
        (r"/api/dashboard/quick_stats", QuickStatsHandler),
        (r"/api/reset_history", ResetHistoryHandler),
        (r"/api/full_reset", FullResetHandler),
        (r"/api/openapi.json", OpenAPIHandler, {"document": build_document()}),
        (r"/healthz", LivenessHandler),
        (r"/readyz", ReadinessHandler),
    ]
