"""GET /healthz (liveness: the process answers) and GET /readyz (readiness: the database answers
and can store data).

Neither is under /api: they are for load balancers and orchestrators, not the frontend.
"""

from __future__ import annotations

from .base import APIHandler


class LivenessHandler(APIHandler):
    async def get(self) -> None:
        self.write_json(200, {"status": "ok"})


class ReadinessHandler(APIHandler):
    async def get(self) -> None:
        """200 when a write would succeed now; else 503 with Retry-After saying what is wrong
        (the database is down or restarting, its disk is full, ...).

        A database that answers reads but cannot write (a full disk) is not ready: the probe is a
        write, rolled back. Its success also ends an episode of database faults in the log.
        """
        async with self.connection() as conn:
            probe = conn.transaction()
            await probe.start()
            try:
                await conn.execute(self.application.queries.readiness_write_probe)
            finally:
                await probe.rollback()
        self.application.health.succeeded(write=True)
        self.write_json(200, {"status": "ready"})
