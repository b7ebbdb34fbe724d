"""A bounded client load for the database-fault tests (test_db_crash.py, test_disk_full.py):
clients posting sessions in a loop, every request's times and answer kept."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import asyncpg
import tornado.httpclient

from .helpers import FIXTURE_SQL


@dataclass
class Request:
    started: float
    ended: float
    status: int  # 0: no answer (connection refused or reset)
    session_id: int | None = None


@dataclass
class Load:
    """Clients posting sessions in a loop until ``stop``; every request's times and answer kept."""

    url: str
    workers: int = 16
    requests: list[Request] = field(default_factory=list)
    missing_retry_after: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, deadline: float) -> None:
        client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=self.workers)
        try:
            await asyncio.gather(*(self._worker(client, deadline) for _ in range(self.workers)))
        finally:
            client.close()

    async def _worker(self, client, deadline: float) -> None:
        body = json.dumps({"group_id": 1, "study_activity_id": 1})
        while not self.stop.is_set() and time.monotonic() < deadline:  # bounded in time
            started = time.monotonic()
            try:
                reply = await client.fetch(
                    self.url,
                    method="POST",
                    body=body,
                    headers={"Content-Type": "application/json"},
                    raise_error=False,
                    request_timeout=10,
                )
            except (OSError, tornado.httpclient.HTTPClientError):
                self.requests.append(Request(started, time.monotonic(), 0))
                await asyncio.sleep(0.05)
                continue
            status = 0 if reply.code == 599 else reply.code
            request = Request(started, time.monotonic(), status)
            if status == 201:
                request.session_id = json.loads(reply.body)["study_session"]["id"]
            elif status == 503:
                self.missing_retry_after += "Retry-After" not in reply.headers
            self.requests.append(request)
            if status != 201:
                await asyncio.sleep(0.02)

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for request in self.requests:
            counts[request.status] = counts.get(request.status, 0) + 1
        return counts

    def created(self) -> set[int]:
        return {r.session_id for r in self.requests if r.session_id is not None}


async def stored_ids(dsn: str) -> set[int]:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return set(await conn.fetchval(FIXTURE_SQL.all_study_session_ids_set) or [])
    finally:
        await conn.close()


async def get(port: int, path: str) -> int:
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    try:
        reply = await client.fetch(f"http://127.0.0.1:{port}{path}", raise_error=False, request_timeout=10)
        return reply.code
    finally:
        client.close()
