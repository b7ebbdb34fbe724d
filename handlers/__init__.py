"""HTTP handlers: the middle floor. ``routes()`` is the whole URL map of the API."""

from __future__ import annotations

from typing import Any

from .base import APIError, APIHandler, NotFoundHandler
from .study_sessions import StudySessionHandler, StudySessionsHandler
from .validation import load_validators


def routes() -> list[tuple[str, type[APIHandler]] | tuple[str, type[APIHandler], dict[str, Any]]]:
    return [
        (r"/api/study_sessions", StudySessionsHandler),
        (r"/api/study_sessions/([^/]+)", StudySessionHandler),
    ]


__all__ = ["APIError", "APIHandler", "NotFoundHandler", "load_validators", "routes"]
