"""The dashboard: the last session, study progress and quick statistics, one query each."""

from __future__ import annotations

from .base import APIHandler
from .study_sessions import study_session_summary_json


class LastStudySessionHandler(APIHandler):
    async def get(self) -> None:
        row = await self.fetchrow("last_study_session")
        session = study_session_summary_json(row) if row is not None else None
        self.write_json(200, {"last_study_session": session})


class StudyProgressHandler(APIHandler):
    async def get(self) -> None:
        row = await self.fetchrow("study_progress")
        self.write_json(200, dict(row))


class QuickStatsHandler(APIHandler):
    async def get(self) -> None:
        row = await self.fetchrow("quick_stats")
        self.write_json(200, dict(row))
