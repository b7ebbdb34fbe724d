"""Nothing lost, nothing leaked: the database stopping under load, and SIGTERM under load.

These start `python server.py` against a PostgreSQL of their own (embedded, in a temporary
folder), drive it with concurrent clients, and then check every answer the clients got against the
rows in the database. They take a few seconds each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import uuid
from dataclasses import dataclass, field

import pytest
import tornado.httpclient

from ..dbload import get, stored_ids
from ..helpers import wait_until
from ..servers import Server


@pytest.fixture
def start_server(own_database, unused_port):
    servers = []

    def start(*extra: str) -> Server:
        server = Server(
            "--database-url", own_database.dsn, "--port", str(unused_port), "--seed-demo",
            "--pool-timeout", "2", "--statement-timeout", "2", *extra,
        )  # fmt: skip
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()


@dataclass
class Load:
    """Clients posting sessions in a loop; every answer recorded."""

    url: str
    workers: int = 16
    created: list[int] = field(default_factory=list)  # ids of 201s
    statuses: dict[int, int] = field(default_factory=dict)
    no_answer: int = 0  # connection refused/reset: the server was gone
    hung: list[str] = field(default_factory=list)  # request ids that got no answer in time
    slowest_503: float = 0.0
    missing_retry_after: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    created_event: asyncio.Event = field(default_factory=asyncio.Event)  # set at each 201

    async def run(self) -> None:
        client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=self.workers)
        try:
            await asyncio.gather(*(self._worker(client) for _ in range(self.workers)))
        finally:
            client.close()

    async def _worker(self, client) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            request_id = uuid.uuid4().hex
            try:
                reply = await client.fetch(
                    self.url,
                    method="POST",
                    body=json.dumps({"group_id": 1, "study_activity_id": 1}),
                    headers={"Content-Type": "application/json", "X-Request-ID": request_id},
                    raise_error=False,
                    request_timeout=10,
                )
            except tornado.httpclient.HTTPClientError:  # a timeout: the server never answered
                self.hung.append(request_id)
                continue
            except OSError:
                self.no_answer += 1
                await asyncio.sleep(0.05)
                continue
            self.statuses[reply.code] = self.statuses.get(reply.code, 0) + 1
            if reply.code == 201:
                self.created.append(json.loads(reply.body)["study_session"]["id"])
                self.created_event.set()
            elif reply.code == 503:
                self.slowest_503 = max(self.slowest_503, time.monotonic() - started)
                self.missing_retry_after += "Retry-After" not in reply.headers
            elif reply.code == 599:  # tornado's code for "no response"
                self.no_answer += 1
                self.statuses.pop(599)
                await asyncio.sleep(0.05)


def test_database_outage_under_load(io_loop, own_database, start_server, unused_port):
    server = start_server()
    server.wait_for("listening on")
    load = Load(f"http://127.0.0.1:{unused_port}/api/study_sessions")
    timeline: dict[str, float] = {}

    async def scenario() -> None:
        running = asyncio.ensure_future(load.run())
        await wait_until(lambda: len(load.created) >= 50, 20, "50 sessions created before the cut")
        before_cut = len(load.created)
        await asyncio.to_thread(own_database.stop)  # the database goes away under load
        timeline["down"] = time.monotonic()
        # every client has met the outage (about one 503 each) before the probes are asked
        await wait_until(lambda: load.statuses.get(503, 0) >= load.workers, 20, "503s during the outage")
        timeline["live_during"] = await get(unused_port, "/healthz")
        timeline["ready_during"] = await get(unused_port, "/readyz")
        await asyncio.to_thread(own_database.start)
        timeline["up"] = time.monotonic()
        load.created_event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(load.created_event.wait(), 15)  # the first 201 after the return
        timeline["recovered"] = time.monotonic() - timeline["up"]
        after_return = len(load.created)
        await wait_until(lambda: len(load.created) >= after_return + 50, 20, "50 sessions after the return")
        load.stop.set()
        await running
        timeline["ready_after"] = await get(unused_port, "/readyz")
        assert before_cut > 0

    io_loop.run_sync(scenario, timeout=60)
    rows = io_loop.run_sync(lambda: stored_ids(own_database.dsn))

    print(
        f"\noutage: statuses {load.statuses}, 201s {len(load.created)}, rows {len(rows)}, "
        f"lost {len(set(load.created) - rows)}, rows without a 201 {len(rows - set(load.created))}, "
        f"slowest 503 {load.slowest_503:.2f}s, "
        f"recovered {timeline['recovered']:.2f}s after the database returned"
    )
    hung = "\n".join(line for line in server.output.splitlines() if any(rid in line for rid in load.hung))
    assert not load.hung, f"{len(load.hung)} requests got no answer; server log about them:\n{hung}"
    failures = server.output.split(" ERROR portal.api: ", 1)[-1][:6000]
    assert set(load.statuses) <= {201, 503}, failures
    assert load.statuses.get(503, 0) > 0  # the outage was seen
    assert load.no_answer == 0  # the server itself never went away
    assert load.missing_retry_after == 0
    # answered within the pool wait (2 s) + the statement timeout (2 s) + 1 s, never a hang
    assert load.slowest_503 < 2 + 2 + 1 + 0.5
    assert set(load.created) <= rows  # every 201 the clients saw has its row
    # a row without a 201 can only come from a request in flight at the cut, answered 503
    assert len(rows - set(load.created)) <= load.statuses[503]
    assert timeline["live_during"] == 200
    assert timeline["ready_during"] == 503
    assert timeline["ready_after"] == 200
    assert timeline["recovered"] < 10
    assert server.process.poll() is None
    server.process.send_signal(signal.SIGTERM)
    code, log = server.finish()
    assert code == 0, log
    assert "Traceback" not in log


@pytest.mark.parametrize("processes", ["1", "2"])
def test_sigterm_under_load(io_loop, own_database, start_server, unused_port, processes):
    server = start_server("--processes", processes, "--shutdown-grace", "5")
    server.wait_for("listening on")
    load = Load(f"http://127.0.0.1:{unused_port}/api/study_sessions")

    async def scenario() -> None:
        running = asyncio.ensure_future(load.run())
        await wait_until(lambda: len(load.created) >= 50, 20, "50 sessions created before the signal")
        server.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.process.wait, 20)
        load.stop.set()
        await running

    io_loop.run_sync(scenario, timeout=60)
    code, log = server.finish()
    rows = io_loop.run_sync(lambda: stored_ids(own_database.dsn))
    print(
        f"\nSIGTERM ({processes} process(es)): statuses {load.statuses}, 201s {len(load.created)}, "
        f"rows {len(rows)}, lost {len(set(load.created) - rows)}, no answer after the stop {load.no_answer}"
    )
    assert code == 0, log
    assert log.count("stopping") == int(processes)
    assert "Traceback" not in log
    assert set(load.statuses) == {201}  # every answer the clients got was a true 201
    assert len(load.created) > 0
    assert set(load.created) <= rows  # and each has its row
    # requests refused after the stop were never started; at most those cut mid-flight lack a 201
    assert len(rows - set(load.created)) <= load.no_answer
