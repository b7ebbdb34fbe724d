"""The API's HTTP server: Tornado's, with its idle and body timeouts kept by one sweep rather than
by a timer per request.

Tornado enforces ``idle_connection_timeout`` and ``body_timeout`` by wrapping every request's
header read and body read in ``gen.with_timeout``: a timer in the event loop's heap, a future and
callbacks, twice per request, and at 10,000 connections as many timers in the heap. Measured with
py-spy under wrk at 256 connections, the two cost 13.7 µs of the server's CPU per request, a tenth
of all of it (Tornado's own floor in bench/floor.py pays 6.5 µs for the header one alone).

Here each connection carries a deadline that its request's own events move: waiting for a
request's headers (a new or kept-alive connection), ``idle_timeout`` from then; reading its body,
``body_timeout`` from its headers; being answered, none. One periodic sweep closes the connections
past their deadline, as Tornado's timers would have. A deadline is kept to within the sweep's
interval: a quarter of the shorter timeout, at most a second.

A graceful stop drains the connections (:meth:`HTTPServerWithDeadlines.drain`): keep-alive ends,
so every answer from then on says ``Connection: close`` and its connection closes once it is
written; a connection waiting for its next request is closed at once. No request already read is
dropped, and none is read after the stop began: so no request commits without its answer reaching
the client (with keep-alive, the close used to cut off the answer of a request that arrived just
before it).

Nagle's algorithm is off on every connection from the start, and stays off. Tornado turns it off
at the end of each request and back on after the answer is written: two ``setsockopt`` calls per
request (2.4 µs, timed). Every answer of this API leaves in one write (headers and body together),
so Nagle's algorithm never had anything to hold back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import tornado.httpserver
import tornado.ioloop
from tornado import httputil

log = logging.getLogger("portal")


def _nodelay_stays_on(value: bool) -> None:
    """A connection's ``set_nodelay``: TCP_NODELAY was set once, when it was accepted."""


class _Watched(httputil.HTTPMessageDelegate):
    """One request's delegate, wrapped to move its connection's deadline as the request goes."""

    __slots__ = ("body_timeout", "connection", "deadline", "delegate", "dropped", "in_body", "server")

    def __init__(
        self,
        delegate: httputil.HTTPMessageDelegate,
        deadline: float,
        body_timeout: float,
        connection: httputil.HTTPConnection,
        server: HTTPServerWithDeadlines,
    ) -> None:
        self.delegate = delegate
        self.deadline: float | None = deadline  # for the headers; None while the request is answered
        self.body_timeout = body_timeout
        self.in_body = False
        self.connection = connection
        self.server = server
        # Closed by the stop while waiting for its headers: a request whose headers were read in
        # that very instant is not handed on (it is never run, so never stored unanswered).
        self.dropped = False

    @property
    def waiting_for_headers(self) -> bool:
        """No request is being read or answered on this connection: it waits for the next one."""
        return self.deadline is not None and not self.in_body

    def close_after_answer(self) -> None:
        """This request's answer says ``Connection: close`` (if its headers are not out yet), and the
        connection closes once the answer is written."""
        # Tornado's HTTP1Connection decides keep-alive in this attribute, set from the request's
        # headers before headers_received; it has no public setter. tests/processes/
        # test_graceful_stop.py fails should a Tornado release rename it.
        if hasattr(self.connection, "_disconnect_on_finish"):
            self.connection._disconnect_on_finish = True

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Any:
        if self.dropped:
            return None
        self.deadline = time.monotonic() + self.body_timeout
        self.in_body = True
        if self.server.draining:
            self.close_after_answer()
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        if self.dropped:
            return None
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.deadline = None  # the body is in; answering it has no deadline here
        self.in_body = False
        if not self.dropped:
            self.delegate.finish()

    def on_connection_close(self) -> None:
        self.deadline = None
        if not self.dropped:
            self.delegate.on_connection_close()

    def drop(self, stream: Any) -> None:
        """Close the connection of a request not begun: nothing of it reaches the application."""
        self.dropped = True
        stream.close()


class HTTPServerWithDeadlines(tornado.httpserver.HTTPServer):
    """``HTTPServer(app, idle_timeout=..., body_timeout=..., **tornado_options)``: a connection
    that sends no complete request headers for ``idle_timeout`` seconds (idle between requests, or
    sending its headers too slowly), or no complete body within ``body_timeout`` seconds of its
    headers, is closed."""

    def initialize(  # type: ignore[override]
        self, request_callback: Any, *, idle_timeout: float, body_timeout: float, **kwargs: Any
    ) -> None:
        super().initialize(request_callback, **kwargs)
        self.conn_params.header_timeout = None  # no timer per request: the sweep keeps both
        self.conn_params.body_timeout = None
        self.idle_timeout = idle_timeout
        self.body_timeout = body_timeout
        self.sweep_interval = min(1.0, idle_timeout / 4, body_timeout / 4)
        self._watched: dict[Any, _Watched] = {}  # HTTP1ServerConnection -> its current request
        self._sweep: tornado.ioloop.PeriodicCallback | None = None
        self.draining = False
        self._all_closed = asyncio.Event()

    def handle_stream(self, stream: Any, address: tuple[Any, ...]) -> None:
        if self._sweep is None:  # started with the first connection, on the serving loop
            self._sweep = tornado.ioloop.PeriodicCallback(self._close_overdue, self.sweep_interval * 1000)
            self._sweep.start()
        stream.set_nodelay(True)
        stream.set_nodelay = _nodelay_stays_on
        super().handle_stream(stream, address)

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> _Watched:
        watched = _Watched(
            super().start_request(server_conn, request_conn),
            time.monotonic() + self.idle_timeout,
            self.body_timeout,
            request_conn,
            self,
        )
        self._watched[server_conn] = watched
        if self.draining:  # stopping: a kept-alive connection's next request is not read
            watched.drop(server_conn.stream)  # type: ignore[attr-defined]
        return watched

    def on_close(self, server_conn: object) -> None:
        self._watched.pop(server_conn, None)
        super().on_close(server_conn)
        if self.draining and not self._watched:
            self._all_closed.set()

    def drain(self) -> None:
        """Stop keep-alive (call after :meth:`stop`): a connection waiting for its next request is
        closed now; one with a request being read or answered closes after that answer, which says
        ``Connection: close``. From now on no request is read that did not begin before."""
        self.draining = True
        for conn, watched in list(self._watched.items()):
            if watched.waiting_for_headers:
                watched.drop(conn.stream)
            else:
                watched.close_after_answer()
        if not self._watched:
            self._all_closed.set()

    async def drained(self, grace: float) -> bool:
        """Wait up to ``grace`` seconds for every connection to close after :meth:`drain`."""
        try:
            await asyncio.wait_for(self._all_closed.wait(), grace)
        except TimeoutError:
            return False
        return True

    def _close_overdue(self) -> None:
        now = time.monotonic()
        overdue = [
            (conn, watched)
            for conn, watched in self._watched.items()
            if watched.deadline is not None and watched.deadline < now
        ]
        for conn, watched in overdue:
            del self._watched[conn]
            if watched.in_body:
                log.info(
                    "closed a connection from %s: the body did not arrive within %g s of its headers",
                    conn.context.remote_ip,
                    self.body_timeout,
                )
            conn.stream.close()  # its request loop ends, on_close follows

    async def close_all_connections(self) -> None:
        try:
            await super().close_all_connections()
        finally:
            if self._sweep is not None:
                self._sweep.stop()
                self._sweep = None
