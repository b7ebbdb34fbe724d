"""The Tornado application: it owns the pool, the named SQL, the schema validators, the group-commit
runners and its settings (:class:`AppConfig`); ``make_http_server`` serves it with this service's
limits, and ``log_request`` writes the access line of each request. ``routes.make_app`` builds it
with the URL map; the handlers import this module for the application's type."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import tornado.web

from .. import portaldb
from .deadlines import HTTPServerWithDeadlines
from .forwarded import Forwarded, Network
from .metrics import UNMATCHED, Metrics, MetricsHandler
from .validation import load_validators

log = logging.getLogger("portal")
access_log = logging.getLogger("portal.access")

MAX_BODY_BYTES = 64 * 1024  # the API's limit: larger bodies are answered 413 in JSON
HTTP_MAX_BODY_BYTES = 4 * 1024 * 1024  # past this the HTTP layer drops the connection unread
HTTP_MAX_HEADER_BYTES = 32 * 1024
# Batches in flight at once per process, of all batched statements together: launches and answers
# share one lane (portaldb.Lane), so while one statement's batch is out the other's calls gather.
# Fewer, larger batches cost the database less per request (each batch pays the statement and its
# counter triggers once). The price: the calls that queue behind a batch wait for it, whichever
# statement they are for, so one batch stuck on a broken connection holds them all until its send
# timeout (--statement-timeout + 1 s) drops that connection, and the calls that waited longer than
# --pool-timeout get a 503 though the pool may have free connections. Measured in the
# frontend-like mix at 1M+ sessions (wrk at 256 connections, 2 processes, alternating runs): one
# batch per statement in flight, 1, 2 and 10 (the pool size) gave 0.70-0.72, 0.64-0.75 and
# 0.56-0.70 of POST-only throughput, p99 69, 85 and 98-119 ms; then one lane for both statements
# against one batch of each in flight: batches of 44 against 29 calls on average, mix x1.10
# req/s, p99 48-55 against 64-82 ms; a lane of 2 against 1: 7.9-8.1k against 8.3k req/s.
BATCHES_IN_FLIGHT = 1


@dataclass(frozen=True)
class AppConfig:
    """The application's settings; handlers read them as ``self.application.config``.

    ``cors_origins``: None lets any origin read responses (``*``); a set is an allowlist.
    ``pool_timeout``: seconds a request waits for a free connection before a 503.
    ``statement_timeout``: the pool's statement timeout; a request's database work is cut off
    (503) a little after it, whatever the driver does, so no request hangs.
    ``retry_after``: the Retry-After seconds of a 503.
    ``max_body_bytes``: the API's body limit; a larger body is answered 413.
    ``allow_reset``: whether POST /api/reset_history and /api/full_reset may delete data (else 403).
    ``idempotency_ttl``: seconds an Idempotency-Key and its stored answer are kept.
    ``page_api_origins``: API origins other than its own that the launch page at ``/`` may call
    (its Content-Security-Policy ``connect-src``), for ``/?api=https://api.example``.
    """

    cors_origins: frozenset[str] | None = None
    pool_timeout: float = 5.0
    statement_timeout: float = 5.0
    retry_after: int = 1
    max_body_bytes: int = MAX_BODY_BYTES
    allow_reset: bool = False
    idempotency_ttl: float = 24 * 3600
    page_api_origins: tuple[str, ...] = ()
    # metrics (issue 9): ``metrics`` counts requests (GET /metrics); ``metrics_route`` serves
    # /metrics on this application (False when --metrics-port serves it on another port).
    # ``trusted_proxies``: the peers whose X-Forwarded-For/-Proto name the client (forwarded.py).
    metrics: bool = True
    metrics_route: bool = True
    trusted_proxies: tuple[Network, ...] = ()


class PortalApplication(tornado.web.Application):
    """The Tornado application; it owns the database pool, the named SQL, the schema validators and
    its :class:`AppConfig`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        config: AppConfig,
        handlers: Sequence[Any],
        default_handler_class: type[tornado.web.RequestHandler],
    ) -> None:
        # metrics (issue 9): the registry, and /metrics on this port unless served on another
        self.metrics = Metrics() if config.metrics else None
        extra = (
            [(r"/metrics", MetricsHandler, {"portal": self})] if self.metrics and config.metrics_route else []
        )
        super().__init__(
            [*handlers, *extra],
            default_handler_class=default_handler_class,
            log_function=log_request,
            compress_response=False,
        )
        self.pool = pool
        self.config = config
        self.queries = portaldb.load_queries()
        self.validators = load_validators()
        self.in_flight = 0  # requests being handled now; shutdown waits for them
        self._idle = asyncio.Event()
        self._idle.set()
        self._batchers: dict[str, portaldb.Batcher] = {}
        # every batched statement's batches in flight, shared (portaldb.Lane; see BATCHES_IN_FLIGHT)
        self._batch_lane = portaldb.Lane(min(BATCHES_IN_FLIGHT, pool.get_max_size()))
        self.shared_reads = portaldb.SharedReads()  # GETs: identical reads not yet sent share one
        self.health = portaldb.DatabaseHealth()  # episodes of database faults, for the log
        self.waiting_for_connection = 0  # requests in pool.acquire now (metrics: pool waiting)
        self.forwarded = Forwarded(config.trusted_proxies)
        self._route_of = _route_templates(self.wildcard_router.rules)

    def get_handler_delegate(
        self,
        request: Any,
        target_class: Any,
        target_kwargs: Any = None,
        path_args: Any = None,
        path_kwargs: Any = None,
    ) -> Any:
        # metrics (issue 9): remember the matched route's template for the access line's hook
        request.route = self._route_of.get((target_class, id(target_kwargs)), UNMATCHED)
        return super().get_handler_delegate(request, target_class, target_kwargs, path_args, path_kwargs)

    def batchers(self) -> list[portaldb.Batcher]:
        return list(self._batchers.values())

    def batcher(self, query: str) -> portaldb.Batcher:
        """The group-commit runner of one batched statement from ``sql/queries``, made on first use."""
        if query not in self._batchers:
            self._batchers[query] = portaldb.Batcher(
                self.pool,
                getattr(self.queries, query),
                wait_timeout=self.config.pool_timeout,
                send_timeout=self.config.statement_timeout + 1,
                on_batch=self.metrics.batch_size if self.metrics else None,
                lane=self._batch_lane,
            )
        return self._batchers[query]

    def request_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def request_finished(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            self._idle.set()

    async def wait_idle(self, grace: float) -> bool:
        """Wait up to ``grace`` seconds for the requests in flight to finish; True if they did."""
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            return False
        return True


def make_http_server(
    app: PortalApplication, *, idle_timeout: float = 60, body_timeout: float = 30
) -> HTTPServerWithDeadlines:
    """The HTTP server with this service's limits: headers up to 32 KiB; bodies up to 4 MiB read
    (over the API's 64 KiB they are answered 413 in JSON), larger ones refused with the connection
    closed; a connection idle (or sending its headers) for ``idle_timeout`` seconds, or sending a
    body for ``body_timeout``, is closed, so slow clients cannot hold the server (deadlines.py
    keeps both timeouts without a timer per request)."""
    return HTTPServerWithDeadlines(
        app,
        max_body_size=HTTP_MAX_BODY_BYTES,
        max_header_size=HTTP_MAX_HEADER_BYTES,
        idle_timeout=idle_timeout,
        body_timeout=body_timeout,
    )


def _route_templates(rules: Sequence[Any]) -> dict[tuple[Any, int], str]:
    """(handler class, id of its rule's keyword arguments) -> the route's template, e.g.
    ``/api/groups/{id}/words``: the label of the metrics (a raw path would make a series per id)."""
    templates: dict[tuple[Any, int], str] = {}
    for rule in rules:
        pattern = rule.matcher.regex.pattern.rstrip("$")
        template = pattern.replace("([^/]+)", "{id}", 1).replace("([^/]+)", "{word_id}", 1)
        template = template.replace("(.+)", "{path}").replace("()", "")
        kwargs = id(rule.target_kwargs) if rule.target_kwargs else id(None)
        if (rule.target, kwargs) in templates:
            raise ValueError(
                f"{rule.target.__name__} serves both {templates[(rule.target, kwargs)]} and {template}: "
                "give each route a handler class of its own, or the metrics cannot tell them apart"
            )
        templates[(rule.target, kwargs)] = template or "/"
    return templates


def log_request(handler: tornado.web.RequestHandler) -> None:
    """One access line per request, louder only for failures; and the request's metrics.

    The line: ``CLIENT METHOD PATH STATUS BYTES DURATION rid=REQUEST_ID``, e.g.
    ``203.0.113.7 POST /api/study_sessions 201 88 3.1ms rid=5f0c...``: the client is the peer, or
    with --trusted-proxies the address a trusted proxy forwarded (see forwarded.py); BYTES is the
    response body's size in bytes, its Content-Length (``-`` when it has none, or for HEAD, whose
    Content-Length is the GET's and whose body is not sent).
    """
    status = handler.get_status()
    request = handler.request
    app = handler.application
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    logged = access_log.isEnabledFor(level)
    # /metrics itself is not an API request: scrapes are not counted (nor on --metrics-port)
    metrics = None if isinstance(handler, MetricsHandler) else getattr(app, "metrics", None)
    if not logged and metrics is None:
        return
    forwarded = getattr(app, "forwarded", None)
    client, scheme = forwarded.client(request) if forwarded else (request.remote_ip, request.protocol)
    seconds = request.request_time()
    if metrics is not None:  # metrics (issue 9)
        metrics.request(getattr(request, "route", UNMATCHED), request.method, status, scheme, seconds)
    if logged:
        access_log.log(
            level,
            "%s %s %s %d %s %.1fms rid=%s",
            client,
            request.method,
            request.path,
            status,
            # tornado sets it from the body in finish()
            "-" if request.method == "HEAD" else handler._headers.get("Content-Length", "-"),
            1000 * seconds,
            getattr(handler, "request_id", "-"),
        )
