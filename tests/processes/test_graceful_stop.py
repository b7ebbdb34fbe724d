"""A graceful stop under keep-alive load: every request the server read gets its answer, every answer
after the stop began says ``Connection: close``, and the rows stored are exactly the 201s the
clients received (a kept-alive connection closed at the stop used to lose the answer of the
request that had just arrived on it: committed, never answered).

The clients are raw HTTP/1.1 connections, each sending POSTs one after another on one socket as a
browser or wrk does (Tornado's own client opens a connection per request, which hides this)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from dataclasses import dataclass, field

import pytest

from ..dbload import stored_ids
from ..helpers import wait_until
from ..servers import Server

BODY = json.dumps({"group_id": 1, "study_activity_id": 1}).encode()
REQUEST = (
    b"POST /api/study_sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
)


@dataclass
class KeepAliveLoad:
    port: int
    connections: int = 32
    created: list[int] = field(default_factory=list)  # ids of the 201s received
    statuses: dict[int, int] = field(default_factory=dict)
    closing_answers: int = 0  # answers that said Connection: close
    answers_after_a_close: int = 0  # answers read on a connection after one said Connection: close
    cut_off: int = 0  # requests sent whose connection closed before any answer
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, deadline: float) -> None:
        await asyncio.gather(*(self._connection(deadline) for _ in range(self.connections)))

    async def _connection(self, deadline: float) -> None:
        while not self.stop.is_set() and time.monotonic() < deadline:  # bounded in time
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:  # the server no longer accepts: this client is done
                return
            try:
                await self._requests(reader, writer, deadline)
            finally:
                writer.close()

    async def _requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
    ) -> None:
        while time.monotonic() < deadline:
            try:
                writer.write(REQUEST)
                await writer.drain()
                status, headers, body = await asyncio.wait_for(read_answer(reader), 15)
            except (OSError, asyncio.IncompleteReadError):
                self.cut_off += 1
                return
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 201:
                self.created.append(json.loads(body)["study_session"]["id"])
            if headers.get("connection", "").lower() == "close":
                self.closing_answers += 1
                if await reader.read(1):  # the server must close right after this answer
                    self.answers_after_a_close += 1
                return


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_stop_under_keep_alive_load_answers_every_request_it_read(
    io_loop, own_database, unused_port, processes
):
    server = Server(
        *("--database-url", own_database.dsn, "--port", str(unused_port), "--seed-demo"),
        *("--processes", processes, "--shutdown-grace", "10"),
    )
    try:
        server.wait_for("listening on", timeout=60)
        load = KeepAliveLoad(unused_port)

        async def scenario() -> None:
            running = asyncio.ensure_future(load.run(time.monotonic() + 30))
            await wait_until(lambda: len(load.created) >= 300, 20, "300 sessions created before the signal")
            server.process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(server.process.wait, 30)
            load.stop.set()
            await running

        io_loop.run_sync(scenario, timeout=60)
        code, log = server.finish()
    finally:
        server.kill()
    rows = io_loop.run_sync(lambda: stored_ids(own_database.dsn))
    print(
        f"\nkeep-alive stop ({processes} process(es)): statuses {load.statuses}, rows {len(rows)}, "
        f"closing answers {load.closing_answers}, cut off unanswered {load.cut_off}"
    )
    assert code == 0, log
    assert "Traceback" not in log
    assert set(load.statuses) == {201}
    assert sorted(load.created) == sorted(rows)  # every row stored was answered, and only those
    assert load.closing_answers > 0  # the answers after the stop said Connection: close
    assert load.answers_after_a_close == 0
