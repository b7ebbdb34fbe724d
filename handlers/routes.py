"""The URL map: every route of the API under /api, then the launch page at / and /static/; and
``make_app``, the application serving it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from .app import MAX_BODY_BYTES, AppConfig, PortalApplication
from .base import APIHandler, NotFoundHandler
from .course import (
    ApiRawGroupWordsHandler,
    CourseGroupHandler,
    CourseGroupSessionsHandler,
    CourseGroupsHandler,
    CourseGroupWordsHandler,
    CourseSessionHandler,
    CourseSessionsHandler,
    CourseWordHandler,
    CourseWordsHandler,
    RawGroupWordsHandler,
    RecentSessionHandler,
    StatsHandler,
)
from .course_activities import (
    CourseActivitiesHandler,
    CourseActivityHandler,
    CourseActivitySessionsHandler,
    CourseLaunchHandler,
)
from .course_writes import CourseResetHandler, CourseReviewHandler, CourseStartSessionHandler
from .dashboard import LastStudySessionHandler, QuickStatsHandler, StudyProgressHandler
from .forwarded import Network
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
    """The API under /api, the course frontend's routes (course.py), then the launch page at / and
    /static/ (see page.py), which may call the API at ``page_api_origins`` besides its own origin."""
    return [*api_routes(), *course_routes(), *page_routes(api_origins=page_api_origins)]


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


def course_routes() -> list[tuple[str, type[APIHandler]]]:
    """The paths of the course's frontend and Typing Tutor (course.py), in the shapes they read."""
    return [
        (r"/dashboard/recent-session", RecentSessionHandler),
        (r"/dashboard/stats", StatsHandler),
        (r"/groups", CourseGroupsHandler),
        (rf"/groups/{_ID}", CourseGroupHandler),
        (rf"/groups/{_ID}/words", CourseGroupWordsHandler),
        (rf"/groups/{_ID}/words/raw", RawGroupWordsHandler),
        (rf"/api/groups/{_ID}/words/raw", ApiRawGroupWordsHandler),
        (rf"/groups/{_ID}/study_sessions", CourseGroupSessionsHandler),
        (r"/words", CourseWordsHandler),
        (rf"/words/{_ID}", CourseWordHandler),
        (r"/study_sessions", CourseStartSessionHandler),
        (rf"/study_sessions/{_ID}/review", CourseReviewHandler),
        (r"/api/study-sessions", CourseSessionsHandler),
        (r"/api/study-sessions/reset", CourseResetHandler),
        (rf"/api/study-sessions/{_ID}", CourseSessionHandler),
        (r"/api/study-activities", CourseActivitiesHandler),
        (rf"/api/study-activities/{_ID}", CourseActivityHandler),
        (rf"/api/study-activities/{_ID}/sessions", CourseActivitySessionsHandler),
        (rf"/api/study-activities/{_ID}/launch", CourseLaunchHandler),
    ]


def make_app(
    pool: asyncpg.Pool,
    *,
    cors_origins: Sequence[str] | None = None,
    pool_timeout: float = 5.0,
    statement_timeout: float = 5.0,
    retry_after: int = 1,
    max_body_bytes: int = MAX_BODY_BYTES,
    allow_reset: bool = False,
    idempotency_ttl: float = 24 * 3600,
    page_api_origins: Sequence[str] = (),
    metrics: bool = True,
    metrics_route: bool = True,
    trusted_proxies: Sequence[Network] = (),
) -> PortalApplication:
    """The API as a Tornado application around an asyncpg ``pool`` whose schema is migrated.

    The keywords are the fields of :class:`AppConfig` (see there); ``cors_origins`` and
    ``page_api_origins`` may be any sequences.
    """
    config = AppConfig(
        cors_origins=None if cors_origins is None else frozenset(cors_origins),
        pool_timeout=pool_timeout,
        statement_timeout=statement_timeout,
        retry_after=retry_after,
        max_body_bytes=max_body_bytes,
        allow_reset=allow_reset,
        idempotency_ttl=idempotency_ttl,
        page_api_origins=tuple(page_api_origins),
        metrics=metrics,
        metrics_route=metrics_route,
        trusted_proxies=tuple(trusted_proxies),
    )
    return PortalApplication(
        pool, config, routes(page_api_origins=config.page_api_origins), default_handler_class=NotFoundHandler
    )
