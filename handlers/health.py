"""GET /healthz (liveness: the process answers) and GET /readyz (readiness: the database answers
and can store data).

Neither is under /api: they are for load balancers and orchestrators, not the frontend.
"""

from __future__ import annotations

import contextlib

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
            except Exception:
                # The probe's own error says what is wrong. A rollback that fails too (the
                # connection is gone, or still busy with the failed statement) must not replace
                # it: that was a 500 with a traceback instead of a 503 when the database was
                # killed mid-probe. connection() drops this connection either way.
                with contextlib.suppress(Exception):
                    await probe.rollback()
                raise
            await probe.rollback()
        self.application.health.succeeded(write=True)
        self.write_json(200, {"status": "ready"})
