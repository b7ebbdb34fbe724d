"""The base handler of every /api route: CORS, request ids, errors as JSON, database access (503
when the database is unavailable), and the query-string and pagination helpers of list endpoints.

An endpoint handler stays a few lines: read ``self.json_body("schema_name")``, run a named query
with ``self.fetchrow(...)``, and ``self.write_json(...)``. Everything that can go wrong on the way is
raised as an :class:`APIError` and answered here as JSON, with CORS headers, so a browser on another
origin can read every error. Bodies are read by json_body.py, Idempotency-Key by idempotency.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from http.client import responses
from typing import Any

import asyncpg
import tornado.web
from tornado import httputil

from ..portaldb import Connection, Fault, classify, connection_is_suspect, discard, reason_of
from .answers import Answer, APIError, encode_json, not_found
from .app import PortalApplication
from .headers import fixed_headers, http_date, request_ids
from .json_body import BodyBuffer
from .validation import error_details

__all__ = ["MAX_INT32", "APIError", "APIHandler", "Answer", "NotFoundHandler", "encode_json", "not_found"]

log = logging.getLogger("portal.api")

MAX_INT32 = 2147483647
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
_SAFE_METHODS = frozenset({"GET", "HEAD"})
ALLOWED_REQUEST_HEADERS = "Content-Type, Idempotency-Key, X-Request-ID"
PREFLIGHT_MAX_AGE = "86400"


@tornado.web.stream_request_body
class APIHandler(tornado.web.RequestHandler):
    """Base of every /api handler. The body is streamed in and kept only up to the API's limit,
    so an oversized body is answered 413 in JSON, not held in memory."""

    application: PortalApplication  # set by tornado; typed here for the config, pool and queries
    _body: BodyBuffer
    _request_id: str | None = None
    _counted = False
    # Set by a request whose method writes but that only read this time (a keyed replay): its
    # success says nothing of whether the database can store data, so it ends no full-disk episode.
    only_read = False

    # -- request lifecycle ----------------------------------------------------------------------

    def clear(self) -> None:
        # tornado's clear() (it runs at the start and again whenever an error clears the
        # response), with the headers every answer carries prepared once rather than checked and
        # formatted per request: no Server header, the Date formatted once per second.
        headers = httputil.HTTPHeaders()
        for name, value in fixed_headers(self.application.config.cors_origins):
            headers[name] = value
        headers["Date"] = http_date()
        self._headers = headers
        self.set_default_headers()
        self._write_buffer: list[bytes] = []
        self._status_code = 200
        self._reason = "OK"

    def set_default_headers(self) -> None:
        # The headers of every answer, errors included, that depend on the request (clear()
        # sets the others).
        self._headers["X-Request-ID"] = self.request_id  # a checked or generated id
        allowed = self.application.config.cors_origins
        if allowed is not None:
            origin = self.request.headers.get("Origin")
            if origin in allowed:
                self.set_header("Access-Control-Allow-Origin", origin)

    async def prepare(self) -> None:
        self._body = BodyBuffer(self.application.config.max_body_bytes)
        self.application.request_started()
        self._counted = True

    def on_finish(self) -> None:
        if self._counted:
            self._counted = False
            self.application.request_finished()

    def on_connection_close(self) -> None:
        waiting_for_body = not self.request._body_future.done()  # as Tornado's own method reads it
        super().on_connection_close()
        if waiting_for_body:
            # the client left before its body was in (or the HTTP layer refused the body): Tornado
            # then runs neither the method nor finish(), so the request stops counting here, or
            # every graceful stop would wait its whole grace period for it
            self.on_finish()

    def data_received(self, chunk: bytes) -> None:
        self._body.add(chunk)

    async def options(self, *args: str) -> None:
        """CORS preflight (and plain OPTIONS): which methods and headers this route takes."""
        methods = ", ".join(self.allowed_methods())
        self.set_header("Allow", methods)
        self.set_header("Access-Control-Allow-Methods", methods)
        self.set_header("Access-Control-Allow-Headers", ALLOWED_REQUEST_HEADERS)
        self.set_header("Access-Control-Max-Age", PREFLIGHT_MAX_AGE)
        self.set_status(204)
        await self.finish()

    async def head(self, *args: str) -> None:
        """HEAD: this route's GET, answered without its body (Tornado sends the status and the
        headers, Content-Length included); a route without a GET answers 405."""
        answered = self.get(*args)
        if answered is not None:  # Tornado's get may be a plain method; ours are coroutines
            await answered

    @classmethod
    def allowed_methods(cls) -> list[str]:
        """The methods of this route, for Allow and the CORS preflight: those its class defines,
        HEAD where it defines GET (see head), and OPTIONS."""

        def defines(method: str) -> bool:
            return getattr(cls, method.lower()) is not getattr(tornado.web.RequestHandler, method.lower())

        return [*(method for method in _METHODS if defines("GET" if method == "HEAD" else method)), "OPTIONS"]

    # -- helpers for endpoints -------------------------------------------------------------------

    @property
    def request_id(self) -> str:
        if self._request_id is None:
            given = self.request.headers.get("X-Request-ID", "")
            self._request_id = given if given and _REQUEST_ID.match(given) else request_ids.next()
        return self._request_id

    def json_body(self, schema: str) -> Any:
        """The request body, parsed strictly (json_body.py) and valid against ``schemas/<schema>.json``."""
        body = self._body.read_json(self.request.headers.get("Content-Type", ""))
        validator = self.application.validators[schema]
        details = error_details(validator, body)
        if details:
            raise APIError(400, "; ".join(d["message"] for d in details), details=details)
        return body

    def path_id(self, value: str, what: str) -> int:
        """A positive 32-bit id from the URL path, or 400 saying what was wrong."""
        if value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_INT32:
            return int(value)
        shown = json.dumps(value if len(value) <= 40 else value[:37] + "...")
        raise APIError(400, f"{what} id must be an integer from 1 to {MAX_INT32}, got {shown}")

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection, for statements that must share one (a transaction).

        A database that cannot be reached, or a pool with no free connection within the
        configured wait, is answered 503 with Retry-After rather than left to hang or fail 500.
        """
        app = self.application
        config = app.config
        deadline = config.pool_timeout + config.statement_timeout + 1
        waiting = True  # metrics (issue 9): counted in pool waiting until a connection is had
        app.waiting_for_connection += 1
        try:
            async with asyncio.timeout(deadline):  # whatever the driver does, no request hangs
                async with app.pool.acquire(timeout=config.pool_timeout) as conn:
                    waiting = False
                    app.waiting_for_connection -= 1
                    try:
                        yield conn
                    except BaseException as exc:
                        if isinstance(exc, asyncio.CancelledError) or connection_is_suspect(exc):
                            discard(conn)  # never back into the pool: a fresh one replaces it
                        raise
        except Exception as exc:  # a database fault (portaldb/faults.py) is a 503; a bug a 500
            if (fault := classify(exc)) is None:
                raise
            raise self._unavailable(exc, fault, waiting_for_connection=waiting) from None
        finally:
            if waiting:
                app.waiting_for_connection -= 1
        app.health.succeeded(write=self.request.method not in ("GET", "HEAD") and not self.only_read)

    def _unavailable(self, exc: Exception, fault: Fault, *, waiting_for_connection: bool = False) -> APIError:
        """A database fault is a 503 saying what is wrong, with Retry-After, logged once per
        episode (portaldb/faults.py), not once per request, and counted by reason (metrics)."""
        started = time.monotonic() - self.request.request_time()
        self.application.health.refused(fault, exc, started=started)
        reason = reason_of(exc, waiting_for_connection=waiting_for_connection)
        if (metrics := self.application.metrics) is not None:
            metrics.unavailable(reason)
            metrics.database_error(exc)
        retry_after = str(self.application.config.retry_after)
        error = APIError(503, fault.message, headers={"Retry-After": retry_after})
        error.unavailable_reason = reason
        return error

    async def fetchrow_batched(self, query: str, *args: Any) -> Any:
        """This request's row of a batched statement (see portaldb/batch.py): concurrent requests
        share one round trip. Database trouble is answered 503, as in :meth:`connection`."""
        try:
            row = await self.application.batcher(query).fetchrow(*args)
        except Exception as exc:  # a database fault (portaldb/faults.py) is a 503; a bug a 500
            if (fault := classify(exc)) is None:
                raise
            raise self._unavailable(exc, fault) from None
        self.application.health.succeeded(write=True)  # batched statements write
        return row

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """Run one named statement from ``sql/queries``; its first row (or None). See :meth:`fetch`."""
        return await self._run("fetchrow", query, args)

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        """Run one named statement from ``sql/queries``; all its rows.

        In a GET or HEAD request (safe methods: they only read), identical statements share round
        trips (portaldb/shared.py): one in flight at a time, the next shared by every reader that
        arrived meanwhile, so each still sees every write committed before it asked. Other methods
        always run their own.
        """
        rows: list[Any] = await self._run("fetch", query, args)
        return rows

    async def _run(self, how: str, query: str, args: tuple[Any, ...]) -> Any:
        statement = getattr(self.application.queries, query)
        key = (how, query, args)
        if self.request.method not in _SAFE_METHODS or not _hashable(key):
            async with self.connection() as conn:
                return await getattr(conn, how)(statement, *args)
        shared = self.application.shared_reads
        joined = shared.join(key)
        if joined is not None:
            return await self._joined(joined)
        future = shared.lead(key)
        try:
            await shared.wait_turn(key)
            async with self.connection() as conn:
                shared.sent(key, future)  # from now on, new readers wait for the next one
                try:
                    result = await getattr(conn, how)(statement, *args)
                except BaseException as exc:
                    shared.fail(key, future, exc)  # the fault itself: each joined reader classifies it
                    raise
        except BaseException as exc:
            shared.fail(key, future, exc)  # e.g. no connection in time: the 503 itself
            raise
        shared.settle(key, future, result)
        return result

    async def _joined(self, joined: asyncio.Future[Any]) -> Any:
        """The result of the identical read this one joined, its database trouble answered as
        this request's own (503, counted by reason)."""
        try:
            return await asyncio.shield(joined)
        except APIError as exc:
            if exc.unavailable_reason and (metrics := self.application.metrics) is not None:
                metrics.unavailable(exc.unavailable_reason)  # the read it joined got no connection in time
            raise
        except Exception as exc:
            if (fault := classify(exc)) is None:
                raise
            raise self._unavailable(exc, fault) from None

    def compute_etag(self) -> None:
        return None  # answers are no-store; hashing every body would be wasted work

    def respond(self, answer: Answer) -> None:
        for name, value in answer.headers.items():
            self.set_header(name, value)
        if isinstance(answer.body, bytes):
            self.set_status(answer.status)
            self.finish(answer.body)
        else:
            self.write_json(answer.status, answer.body)

    def write_json(self, status: int, payload: Any) -> None:
        self.set_status(status)
        self.finish(encode_json(payload))

    # -- errors ----------------------------------------------------------------------------------

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        payload: dict[str, Any]
        if isinstance(exc, APIError):
            payload = {"error": exc.message}
            if exc.details:
                payload["details"] = exc.details
            for name, value in exc.headers.items():
                self.set_header(name, value)
        elif status_code >= 500:
            payload = {"error": "internal server error", "request_id": self.request_id}
        elif status_code == 405:
            allowed = ", ".join(self.allowed_methods())
            self.set_header("Allow", allowed)
            payload = {"error": f"{self.request.method} is not allowed on {self.request.path}; use {allowed}"}
        elif status_code == 404:
            payload = {"error": f"no endpoint at {self.request.path}"}
        else:
            payload = {"error": responses.get(status_code, "request failed").lower()}
        self.finish(encode_json(payload))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, tornado.web.HTTPError):
            return  # an answer we chose; the access line records it
        metrics = getattr(self.application, "metrics", None)
        if metrics is not None and isinstance(value, asyncpg.PostgresError | asyncpg.InterfaceError):
            metrics.database_error(value)  # metrics (issue 9): a statement error answered 500
        log.error(
            "request %s failed: %s %s",
            self.request_id,
            self.request.method,
            self.request.path,
            exc_info=(typ, value, tb),
        )

    # -- query strings (pagination: pagination.py) --------------------------------------------

    def query_params(self, schema: str) -> dict[str, Any]:
        """The query string as a dict valid against ``schemas/<schema>.json``, defaults filled in.

        Values are strings on the wire; for a parameter the schema types ``"integer"``, a string
        of ASCII digits (optionally after a minus sign) becomes an integer first, so the schema can
        bound it; every other parameter stays the string it was (``?cursor=0`` is the string "0").
        A parameter given twice, or not valid UTF-8, is a 400.
        """
        validator = self.application.validators[schema]
        properties = validator.schema.get("properties", {})
        params: dict[str, Any] = {}
        for name, values in self.request.query_arguments.items():
            if len(values) > 1:
                raise APIError(400, f"the query parameter {name} appears {len(values)} times; send it once")
            try:
                text = values[0].decode("utf-8")
            except UnicodeDecodeError:
                raise APIError(400, f"the query parameter {name} is not valid UTF-8") from None
            if _CONTROL.search(text):  # no parameter holds one; and a schema's "$" lets a final "\n" by
                raise APIError(
                    400,
                    f"the query parameter {name} holds a control character (a newline, say); send it without",
                )
            integer = properties.get(name, {}).get("type") == "integer"
            params[name] = int(text) if integer and _DIGITS.match(text) else text
        details = error_details(validator, params)
        if details:
            raise APIError(400, "; ".join(d["message"] for d in details), details=details)
        for name, spec in properties.items():
            if name not in params and "default" in spec:
                params[name] = spec["default"]
        return params


class NotFoundHandler(APIHandler):
    """Any path under /api that no route matches: 404 in JSON, for every method, OPTIONS included."""

    async def prepare(self) -> None:
        await super().prepare()
        raise APIError(404, f"no endpoint at {self.request.path}; the API is listed at GET /api/openapi.json")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DIGITS = re.compile(r"-?[0-9]{1,1000}\Z")  # \Z: "$" would let "1\n" through (re.match anchors the start)


def _hashable(key: tuple[Any, ...]) -> bool:
    """Whether a read's parameters can key shared reads (a list parameter cannot: it runs alone)."""
    try:
        hash(key)
    except TypeError:
        return False
    return True
