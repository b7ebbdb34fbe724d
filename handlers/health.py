"""GET /healthz (liveness: the process answers) and GET /readyz (readiness: the database answers).

Neither is under /api: they are for load balancers and orchestrators, not the frontend.
"""

from __future__ import annotations

from .base import APIHandler


class LivenessHandler(APIHandler):
    async def get(self) -> None:
        self.write_json(200, {"status": "ok"})


class ReadinessHandler(APIHandler):
    async def get(self) -> None:
        await self.fetchrow("ping")  # 503 with Retry-After when the database cannot answer
        self.write_json(200, {"status": "ready"})
