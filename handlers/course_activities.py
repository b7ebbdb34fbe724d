"""The course frontend's study activity routes (see course.py): the activities, one activity, its
sessions, and what its launch page needs. ``launch_url`` and ``preview_url`` are absolute: the
launch page calls ``new URL(launch_url)``, and its ``<img>`` is on another origin, so the bundled
Typing Tutor's relative addresses are resolved against this server's origin as the client reached
it (the Host header, and the scheme a trusted proxy forwarded: ``--trusted-proxies``).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

from .base import APIError
from .course import CourseHandler

# A Host header: a name or IPv4 address, or an IPv6 address in brackets; then an optional port.
_HOST = re.compile(
    r"^(?:[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*\.?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?\Z"
)


class ActivityHandler(CourseHandler):
    def origin(self) -> str:
        """This server's origin as the client reached it: the scheme (X-Forwarded-Proto from a
        trusted proxy) and the Host header; 400 for a Host that is no host name."""
        _, scheme = self.application.forwarded.client(self.request)
        host = self.request.host
        if not _HOST.match(host):
            shown = json.dumps(host[:40])
            raise APIError(
                400,
                f"the Host header {shown} is not a host name with an optional port; send the "
                "address this server was reached at, e.g. Host: localhost:5000",
            )
        return f"{scheme}://{host}"

    def activity_json(self, row: Any, *, description: bool = False) -> dict[str, Any]:
        """A study activity as the launch pages read it: ``launch_url`` and ``preview_url``
        absolute, resolved against this server's origin (the bundled Typing Tutor's are relative)."""
        origin = self.origin() + "/"
        thumbnail = row["thumbnail_url"]
        activity = {
            "id": row["id"],
            "title": row["name"],
            "launch_url": urllib.parse.urljoin(origin, row["url"]),
            "preview_url": urllib.parse.urljoin(origin, thumbnail) if thumbnail is not None else None,
        }
        if description:
            activity["description"] = row["description"]
        return activity


class CourseActivitiesHandler(ActivityHandler):
    async def get(self) -> None:
        rows = await self.fetch("course_study_activities")
        self.write_json(200, [self.activity_json(row) for row in rows])


class CourseActivityHandler(ActivityHandler):
    async def get(self, study_activity_id_text: str) -> None:
        activity_id = self.path_id(study_activity_id_text, "study activity")
        row = await self.fetchrow("get_study_activity", activity_id)
        if row is None:
            raise APIError(404, f"study activity {activity_id} not found")
        self.write_json(200, self.activity_json(row, description=True))


class CourseActivitySessionsHandler(CourseHandler):
    async def get(self, study_activity_id_text: str) -> None:
        activity_id = self.path_id(study_activity_id_text, "study activity")
        page, rows = await self.session_list("list_activity_study_sessions", activity_id)
        if not rows[0]["found"]:
            raise APIError(404, f"study activity {activity_id} not found")
        self.write_session_page(page, rows)


class CourseLaunchHandler(ActivityHandler):
    """What the launch page needs: the activity, and the groups to pick from."""

    async def get(self, study_activity_id_text: str) -> None:
        activity_id = self.path_id(study_activity_id_text, "study activity")
        row = await self.fetchrow("get_study_activity", activity_id)
        if row is None:
            raise APIError(404, f"study activity {activity_id} not found")
        groups = await self.fetch("course_launch_groups")
        choices = [{"id": group["id"], "name": group["name"]} for group in groups]
        self.write_json(200, {"activity": self.activity_json(row), "groups": choices})
