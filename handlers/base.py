"""The one base class of every /api handler: CORS, request ids, JSON bodies, schema checks, errors.

An endpoint handler stays a few lines: read ``self.json_body("schema_name")``, run a named query
with ``self.fetchrow(...)``, and ``self.write_json(...)``. Everything that can go wrong on the way is
raised as an :class:`APIError` and answered here as JSON, with CORS headers, so a browser on another
origin can read every error.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import tornado.web
from tornado import httputil

from ..portaldb import UNAVAILABLE_ERRORS, connection_is_suspect, discard
from .validation import error_details

log = logging.getLogger("portal.api")

MAX_INT32 = 2147483647
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
ALLOWED_REQUEST_HEADERS = "Content-Type, Idempotency-Key, X-Request-ID"
EXPOSED_RESPONSE_HEADERS = "Idempotent-Replayed, Location, Retry-After, X-Request-ID"
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
PREFLIGHT_MAX_AGE = "86400"


@dataclass(frozen=True)
class Answer:
    """A response an endpoint computed: what :meth:`APIHandler.respond` writes, and what an
    idempotency key stores for replay. ``body`` is a JSON-able value, or the bytes of one already
    encoded (a stored answer, replayed byte for byte)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def not_found(*checks: tuple[str, str, bool]) -> Answer | None:
    """A 404 naming every ``(field, "group 42", found)`` check that failed, or None if all passed."""
    details = [{"field": field, "message": f"{what} not found"} for field, what, found in checks if not found]
    if not details:
        return None
    return Answer(404, {"error": "; ".join(d["message"] for d in details), "details": details})


class APIError(tornado.web.HTTPError):
    """An answer other than success: status, a message for the user, optional per-field details."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.message = message
        self.details = details
        self.headers = headers or {}


class _BodyRejected(ValueError):
    """Raised while parsing JSON for what json.loads would otherwise let through."""


def _reject_constant(name: str) -> float:
    raise _BodyRejected(f"{name} is not valid JSON; send a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BodyRejected(f"the number {text[:40]} is too large; send a finite number")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _BodyRejected(f"the field {json.dumps(key)} appears more than once; send it once")
            seen.add(key)
    return result


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8 without a BOM, no NaN or Infinity, no duplicate keys.

    Raises :class:`APIError` 400 saying what is wrong.
    """
    if not body.strip():
        raise APIError(400, "the request body is empty; send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise APIError(400, f"the request body is not valid UTF-8 (bad byte at offset {exc.start})") from None
    if text.startswith("\ufeff"):
        raise APIError(400, "the request body starts with a byte order mark; send plain UTF-8 JSON")
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except _BodyRejected as exc:
        raise APIError(400, f"the request body is not acceptable JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise APIError(
            400,
            f"the request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
        ) from None
    except ValueError:  # an integer of more than 4300 digits
        raise APIError(400, "the request body holds a number with too many digits") from None
    except RecursionError:
        raise APIError(400, "the request body is nested too deeply") from None


@tornado.web.stream_request_body
class APIHandler(tornado.web.RequestHandler):
    """Base of every /api handler. The body is streamed in and kept only up to the API's limit,
    so an oversized body is answered 413 in JSON, not held in memory."""

    _body_chunks: list[bytes]
    _body_size = 0
    _request_id: str | None = None
    _counted = False

    # -- request lifecycle ----------------------------------------------------------------------

    def set_default_headers(self) -> None:
        # Runs at the start and again whenever an error clears the response: every answer,
        # errors included, carries these.
        self.clear_header("Server")
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Request-ID", self.request_id)
        self.set_header("Access-Control-Expose-Headers", EXPOSED_RESPONSE_HEADERS)
        allowed = self.settings.get("cors_origins")
        if allowed is None:
            self.set_header("Access-Control-Allow-Origin", "*")
        else:
            self.set_header("Vary", "Origin")
            origin = self.request.headers.get("Origin")
            if origin in allowed:
                self.set_header("Access-Control-Allow-Origin", origin)

    async def prepare(self) -> None:
        self._body_chunks = []
        self.application.request_started()
        self._counted = True

    def on_finish(self) -> None:
        if self._counted:
            self._counted = False
            self.application.request_finished()

    def data_received(self, chunk: bytes) -> None:
        self._body_size += len(chunk)
        if self._body_size <= self.settings["max_body_bytes"]:
            self._body_chunks.append(chunk)
        else:
            self._body_chunks = []  # over the limit: keep reading, keep nothing

    async def options(self, *args: str) -> None:
        """CORS preflight (and plain OPTIONS): which methods and headers this route takes."""
        methods = ", ".join(self.allowed_methods())
        self.set_header("Allow", methods)
        self.set_header("Access-Control-Allow-Methods", methods)
        self.set_header("Access-Control-Allow-Headers", ALLOWED_REQUEST_HEADERS)
        self.set_header("Access-Control-Max-Age", PREFLIGHT_MAX_AGE)
        self.set_status(204)
        await self.finish()

    @classmethod
    def allowed_methods(cls) -> list[str]:
        own = [
            method
            for method in _METHODS
            if getattr(cls, method.lower()) is not getattr(tornado.web.RequestHandler, method.lower())
        ]
        return [*own, "OPTIONS"]

    # -- helpers for endpoints -------------------------------------------------------------------

    @property
    def request_id(self) -> str:
        if self._request_id is None:
            given = self.request.headers.get("X-Request-ID", "")
            self._request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        return self._request_id

    def json_body(self, schema: str) -> Any:
        """The request body, parsed strictly and valid against ``schemas/<schema>.json``."""
        limit = self.settings["max_body_bytes"]
        if self._body_size > limit:
            raise APIError(413, f"the request body is {self._body_size} bytes; the limit is {limit} bytes")
        media_type, _, params = self.request.headers.get("Content-Type", "").partition(";")
        if media_type.strip().lower() != "application/json":
            raise APIError(
                415,
                "the request body must be JSON: send the header Content-Type: application/json",
            )
        charset = re.search(r"charset\s*=\s*\"?([^\";\s]+)", params, re.IGNORECASE)
        if charset and charset[1].lower() not in ("utf-8", "utf8"):
            raise APIError(415, f"the charset {charset[1]} is not supported; send UTF-8 JSON")
        body = parse_json(b"".join(self._body_chunks))
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
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, for statements that must share one (a transaction).

        A database that cannot be reached, or a pool with no free connection within the
        configured wait, is answered 503 with Retry-After rather than left to hang or fail 500.
        """
        deadline = self.settings["pool_timeout"] + self.settings["statement_timeout"] + 1
        try:
            async with asyncio.timeout(deadline):  # whatever the driver does, no request hangs
                async with self.application.pool.acquire(timeout=self.settings["pool_timeout"]) as conn:
                    try:
                        yield conn
                    except BaseException as exc:
                        if isinstance(exc, asyncio.CancelledError) or connection_is_suspect(exc):
                            discard(conn)  # never back into the pool: a fresh one replaces it
                        raise
        except UNAVAILABLE_ERRORS as exc:
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: BaseException) -> APIError:
        log.warning("request %s: database unavailable: %r", self.request_id, exc)
        return APIError(
            503,
            "the database is unavailable or busy; retry shortly",
            headers={"Retry-After": str(self.settings["retry_after"])},
        )

    async def fetchrow_batched(self, query: str, *args: Any) -> Any:
        """This request's row of a batched statement (see portaldb/batch.py): concurrent requests
        share one round trip. Database trouble is answered 503, as in :meth:`connection`."""
        try:
            return await self.application.batcher(query).run(*args)
        except UNAVAILABLE_ERRORS as exc:
            raise self._unavailable(exc) from None

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """Run one named statement from ``sql/queries``; its first row (or None)."""
        async with self.connection() as conn:
            return await conn.fetchrow(getattr(self.application.queries, query), *args)

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        """Run one named statement from ``sql/queries``; all its rows."""
        async with self.connection() as conn:
            return await conn.fetch(getattr(self.application.queries, query), *args)

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

    # -- idempotency keys ------------------------------------------------------------------------

    def idempotency_key(self) -> str | None:
        """The request's ``Idempotency-Key`` header, or None; 400 when it is malformed."""
        key = self.request.headers.get("Idempotency-Key")
        if key is None:
            return None
        if not _IDEMPOTENCY_KEY.match(key):
            raise APIError(
                400,
                "the Idempotency-Key header must be 1 to 255 visible ASCII characters, "
                "e.g. a UUID; send a new one for each new request",
            )
        return key

    async def once(
        self, key: str, body: Any, work: Callable[[asyncpg.Connection], Awaitable[Answer]]
    ) -> Answer:
        """Do ``work`` once per idempotency key: the first request with ``key`` runs it and stores
        its answer in the same transaction; a retry with the same key and body gets that answer
        back (with ``Idempotent-Replayed: true``), even when both arrive at once; the same key
        with another body is a 422. Answers of 500 and up are not stored (the work rolls back),
        so such a request may be retried with its key.
        """
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        fingerprint = hashlib.sha256(
            f"{self.request.method} {self.request.path}\n{canonical}".encode()
        ).hexdigest()
        queries = self.application.queries
        async with self.connection() as conn, conn.transaction():
            ttl = self.settings["idempotency_ttl"]
            if await conn.fetchval(queries.claim_idempotency_key, key, fingerprint, ttl) is not None:
                answer = await work(conn)
                body = encode_json(answer.body)
                await conn.execute(
                    queries.store_idempotent_answer,
                    key,
                    answer.status,
                    body.decode("utf-8"),
                    json.dumps(answer.headers),
                )
                return Answer(answer.status, body, answer.headers)
            previous = await conn.fetchrow(queries.find_idempotent_answer, key)
        if previous["fingerprint"] != fingerprint:
            raise APIError(
                422,
                "this Idempotency-Key was already used for a different request; "
                "send a new key for a new request",
            )
        headers = {**json.loads(previous["headers"]), "Idempotent-Replayed": "true"}
        return Answer(previous["status"], previous["body"].encode("utf-8"), headers)

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
            payload = {"error": httputil.responses.get(status_code, "request failed").lower()}
        self.finish(encode_json(payload))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, tornado.web.HTTPError):
            return  # an answer we chose; the access line records it
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

        Values are strings on the wire; a string of ASCII digits (optionally after a minus sign)
        becomes an integer first, so the schema can say ``"type": "integer"`` and bound it. A
        parameter given twice, or not valid UTF-8, is a 400.
        """
        params: dict[str, Any] = {}
        for name, values in self.request.query_arguments.items():
            if len(values) > 1:
                raise APIError(400, f"the query parameter {name} appears {len(values)} times; send it once")
            try:
                text = values[0].decode("utf-8")
            except UnicodeDecodeError:
                raise APIError(400, f"the query parameter {name} is not valid UTF-8") from None
            params[name] = _query_value(text)
        validator = self.application.validators[schema]
        details = error_details(validator, params)
        if details:
            raise APIError(400, "; ".join(d["message"] for d in details), details=details)
        for name, spec in validator.schema.get("properties", {}).items():
            if name not in params and "default" in spec:
                params[name] = spec["default"]
        return params


class NotFoundHandler(APIHandler):
    """Any path under /api that no route matches: 404 in JSON, for every method, OPTIONS included."""

    async def prepare(self) -> None:
        await super().prepare()
        raise APIError(404, f"no endpoint at {self.request.path}; see the README for the API")


def encode_json(payload: Any) -> bytes:
    # ensure_ascii=False keeps kanji readable; a lone surrogate (which UTF-8 cannot carry) is
    # written as its JSON escape by backslashreplace, so encoding never fails.
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(
        "utf-8", "backslashreplace"
    )


_DIGITS = re.compile(r"^-?[0-9]{1,1000}$")


def _query_value(text: str) -> Any:
    """A query-string value as JSON Schema should see it: digits become an integer."""
    return int(text) if _DIGITS.match(text) else text
