"""What HTTP clients won't send: truncated and lying bodies, chunked bodies, huge bodies and headers,
slow senders. The server answers or closes cleanly, stores nothing it shouldn't, and keeps serving."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time

import pytest
import tornado.netutil
import tornado.web

from langportal.handlers import make_app, make_http_server
from langportal.handlers.deadlines import HTTPServerWithDeadlines

from ..helpers import Catalog, Db, wait_until

VALID = b'{"group_id": 1, "study_activity_id": 1}'


@pytest.fixture
def port(io_loop, pool, db):
    """The app behind the production HTTP server settings, with short timeouts for the test."""
    [sock] = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = make_http_server(make_app(pool), idle_timeout=1, body_timeout=1)
    server.add_sockets([sock])
    yield sock.getsockname()[1]
    server.stop()
    io_loop.run_sync(server.close_all_connections)


async def exchange(port: int, data: bytes, *, close_write: bool = False) -> bytes:
    """Send raw bytes, then read until the server closes the connection (5 s at most)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if close_write:
            writer.write_eof()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def request(body: bytes, *, headers: str = "", length: int | None = None) -> bytes:
    length = len(body) if length is None else length
    head = (
        "POST /api/study_sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n{headers}\r\n"
    )
    return head.encode() + body


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def json_of(response: bytes) -> dict:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


async def still_serving(port: int) -> None:
    started = time.monotonic()
    response = await exchange(port, request(VALID))
    assert status_of(response) == 201
    assert time.monotonic() - started < 1


async def test_a_plain_request(port, db: Db, catalog: Catalog):
    response = await exchange(port, request(VALID))
    assert status_of(response) == 201
    assert await db.count_sessions() == 1


async def test_truncated_body(port, db: Db, catalog: Catalog):
    response = await exchange(port, request(VALID[:10], length=len(VALID)), close_write=True)
    assert response == b""  # the client gave up; nothing to answer
    assert await db.count_sessions() == 0
    await still_serving(port)


async def test_content_length_longer_than_the_body_times_out(port, db: Db, catalog: Catalog):
    started = time.monotonic()
    response = await exchange(port, request(VALID, length=len(VALID) + 50))
    assert response == b""
    assert time.monotonic() - started < 4  # closed by body_timeout, not held open
    assert await db.count_sessions() == 0
    await still_serving(port)


@pytest.mark.parametrize(
    "data",
    [
        request(VALID[:10], length=len(VALID)),  # the client leaves in the middle of its body
        request(b"x" * 1000, length=10 * 1024 * 1024 * 1024),  # refused unread by the HTTP layer
    ],
)
async def test_a_request_whose_body_never_came_stops_counting(io_loop, pool, db: Db, catalog: Catalog, data):
    # in flight until answered: a graceful stop waits for the requests in flight, so one that
    # would never end held every stop for its whole grace period (and /metrics counted it)
    app = make_app(pool)
    [sock] = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = make_http_server(app, idle_timeout=1, body_timeout=1)
    server.add_sockets([sock])
    try:
        await exchange(sock.getsockname()[1], data, close_write=True)
        await wait_until(lambda: app.in_flight == 0, 3, "the request to stop counting")
        await still_serving(sock.getsockname()[1])
        assert app.in_flight == 0
    finally:
        server.stop()
        await server.close_all_connections()


async def test_content_length_shorter_than_the_body(port, db: Db, catalog: Catalog):
    response = await exchange(port, request(VALID, length=5))
    assert status_of(response) == 400
    assert "not valid JSON" in json_of(response)["error"]
    assert await db.count_sessions() == 0


async def test_chunked_body(port, db: Db, catalog: Catalog):
    chunks = (
        b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (VALID[:7], VALID[7:20], VALID[20:]))
        + b"0\r\n\r\n"
    )
    head = (
        b"POST /api/study_sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    response = await exchange(port, head + chunks)
    assert status_of(response) == 201
    assert await db.count_sessions() == 1


@pytest.mark.parametrize(
    "data",
    [
        # a chunk size that is not hexadecimal
        b"POST /api/study_sessions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n{}\r\n0\r\n\r\n",
        # both Content-Length and Transfer-Encoding: a request-smuggling shape
        b"POST /api/study_sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        # not HTTP at all
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
        b"GARBAGE\r\n\r\n",
    ],
)
async def test_malformed_http_is_refused_and_closed(port, db: Db, catalog: Catalog, data):
    response = await exchange(port, data)
    assert response in (b"",) or status_of(response) == 400
    assert await db.count_sessions() == 0
    await still_serving(port)


async def test_body_over_the_api_limit_is_413_json(port, db: Db, catalog: Catalog):
    body = b'{"group_id": 1, "study_activity_id": 1, "pad": "' + b"x" * 1_000_000 + b'"}'
    response = await exchange(port, request(body))
    assert status_of(response) == 413
    assert b"Access-Control-Allow-Origin: *" in response
    assert "the limit is 65536 bytes" in json_of(response)["error"]
    assert await db.count_sessions() == 0


async def test_body_far_over_the_limit_is_refused_unread(port, db: Db, catalog: Catalog):
    started = time.monotonic()
    response = await exchange(port, request(b"x" * 1000, length=10 * 1024 * 1024 * 1024))
    assert status_of(response) == 400  # refused at the HTTP layer, connection closed, nothing read
    assert time.monotonic() - started < 2
    await still_serving(port)


async def test_headers_over_the_limit(port, db: Db, catalog: Catalog):
    response = await exchange(port, request(VALID, headers=f"X-Big: {'a' * 40_000}\r\n"))
    assert response == b"" or status_of(response) in (400, 431)
    assert await db.count_sessions() == 0
    await still_serving(port)


async def test_slow_senders_are_cut_off_while_others_are_served(port, db: Db, catalog: Catalog):
    connected = 0

    async def slowloris() -> bytes:
        nonlocal connected
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        connected += 1
        try:
            for byte in request(VALID):
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)  # on purpose: a byte every 0.2 s, slower than the 1 s limit allows
                if reader.at_eof():
                    break
            return await asyncio.wait_for(reader.read(), 5)
        except ConnectionError:
            return b""
        finally:
            writer.close()

    started = time.monotonic()
    slow = [asyncio.ensure_future(slowloris()) for _ in range(20)]
    await wait_until(lambda: connected == 20, 5, "20 slow senders connected")
    for _ in range(5):
        await still_serving(port)
    results = await asyncio.gather(*slow)
    assert all(result == b"" for result in results)
    assert time.monotonic() - started < 5  # each was closed after the 1 s header timeout
    assert await db.count_sessions() == 5


async def test_an_idle_kept_alive_connection_is_closed_after_the_idle_timeout(port, db: Db, catalog: Catalog):
    # handlers/deadlines.py: after an answer, the wait for the next request's headers has the
    # idle timeout (1 s here), kept by the sweep rather than a timer per request
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = (
            f"POST /api/study_sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(VALID)}\r\n\r\n"
        )
        for _ in range(2):  # the connection is kept alive between requests
            writer.write(head.encode() + VALID)
            status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert status.startswith(b"HTTP/1.1 201")
            length = int(re.search(rb"Content-Length: (\d+)", status, re.IGNORECASE).group(1))
            await reader.readexactly(length)
        idle_from = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # then closed by the server
        assert 0.9 < time.monotonic() - idle_from < 2.5
    finally:
        writer.close()
    assert await db.count_sessions() == 2


async def test_a_request_being_answered_has_no_deadline(io_loop):
    # The timeouts bound reading a request, not answering it: a handler that takes longer than
    # both still answers (as with Tornado's own timers).
    class Slow(tornado.web.RequestHandler):
        async def post(self) -> None:
            await asyncio.sleep(1.6)  # on purpose: over three times either timeout (0.5 s)
            self.finish({"answered": len(self.request.body)})

    [sock] = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = HTTPServerWithDeadlines(
        tornado.web.Application([(r"/slow", Slow)]), idle_timeout=0.5, body_timeout=0.5
    )
    server.add_sockets([sock])
    try:
        head = f"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: {len(VALID)}\r\nConnection: close\r\n\r\n"
        response = await exchange(sock.getsockname()[1], head.encode() + VALID)
        assert status_of(response) == 200
        assert json_of(response) == {"answered": len(VALID)}
        assert server.sweep_interval == 0.125
    finally:
        server.stop()
        await server.close_all_connections()


async def test_nagle_is_off_for_the_whole_connection(io_loop):
    # handlers/deadlines.py: TCP_NODELAY is set once, when the connection is accepted, and stays
    # set, instead of Tornado's two setsockopt calls per request (on at its end, off after the
    # answer is written). Each answer reports the flag as its handler saw it, two requests on one
    # kept-alive connection; with Tornado's toggling both would see 0.
    class Flag(tornado.web.RequestHandler):
        def get(self) -> None:
            sock = self.request.connection.stream.socket
            self.finish({"nodelay": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)})

    [sock] = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = HTTPServerWithDeadlines(
        tornado.web.Application([(r"/flag", Flag)]), idle_timeout=5, body_timeout=5
    )
    server.add_sockets([sock])
    reader, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
    try:
        seen = []
        for _ in range(2):
            writer.write(b"GET /flag HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(re.search(rb"Content-Length: (\d+)", head, re.IGNORECASE).group(1))
            seen.append(json.loads(await reader.readexactly(length))["nodelay"])
        assert all(seen), seen
    finally:
        writer.close()
        server.stop()
        await server.close_all_connections()
