"""``GET /metrics``: the server's numbers in the Prometheus text format (prometheus_client).

What is counted (every name starts with ``portal_``):

- ``portal_requests_total{route, method, status, scheme}``: answered requests, by route *template*
  (``/api/groups/{id}/words``, never the raw path, so the number of series stays bounded; a path no
  route matches is ``unmatched``); ``scheme`` is http or https (from X-Forwarded-Proto when the
  peer is a trusted proxy);
- ``portal_request_duration_seconds{route}``: a latency histogram;
- ``portal_requests_in_flight``, ``portal_pool_size``, ``portal_pool_idle``,
  ``portal_pool_waiting`` (requests waiting for a database connection: in ``acquire`` or queued
  for a group-commit batch): gauges, sampled every second in each process and at each scrape;
- ``portal_batch_size``: a histogram of the group-commit batch sizes;
- ``portal_unavailable_total{reason}``: 503 answers and why (``pool_timeout``: no free connection
  within --pool-timeout; ``statement_timeout``: the database cancelled a statement;
  ``timeout``: no answer in time; ``database_unavailable``: the database cannot be reached);
- ``portal_idempotent_replays_total``: stored answers replayed to a retried Idempotency-Key;
- ``portal_database_errors_total{error}``: errors from the database (connection faults and the
  statement errors that became a 500), by exception class.

With ``--processes N`` the numbers are the whole server's: :func:`enable_multiprocess` puts
prometheus_client in its multiprocess mode (every process writes its values to files in one
private folder, which the scraping process reads and adds up); the program creates that folder at
start and removes it at stop, and the supervisor calls :func:`process_ended` for each process that
exits (its live gauges are dropped; its counts stay in the totals).

The per-request cost is kept tiny: a request adds to plain dicts, which are flushed into the
metrics at each scrape, every second (each process, with several) and at stop; the gauges are read
from plain integers the application already keeps. So with ``--processes N`` a scrape shows the
other processes' requests up to a second late, and a process killed outright loses at most its
last second of counts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from bisect import bisect_left
from typing import Any, Protocol

import asyncpg
import prometheus_client
import tornado.web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, values

from .. import portaldb

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"
SAMPLE_SECONDS = 1.0
# The classic text format every Prometheus (2.x and 3.x) and agent reads; generate_latest writes
# it (names are plain ASCII here, so nothing needs the 1.0.0 format's escaping).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 500)

_multiprocess_dir: str | None = None

# Every label taken from a request is one of a fixed few values, whatever the client sends, so no
# client can add series to /metrics: a made-up method (answered 405) is counted as "other"; the
# route is a template of the URL map or "unmatched"; the scheme is http or https (forwarded.py
# believes no other); the status is the one the server chose.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


class Sampled(Protocol):
    """What the gauges read of the application (app.py's PortalApplication is one)."""

    pool: asyncpg.Pool
    metrics: Metrics | None
    in_flight: int
    waiting_for_connection: int

    def batchers(self) -> list[portaldb.Batcher]: ...


# -- multiprocess mode (the program floor calls these) ------------------------------------------


def enable_multiprocess() -> str:
    """Create a fresh private folder for the values of every server process and switch
    prometheus_client to its multiprocess mode; returns the folder (remove it with
    :func:`disable_multiprocess`). Call before the first metric is made (before forking)."""
    global _multiprocess_dir
    folder = tempfile.mkdtemp(prefix="langportal-metrics-")  # 0700, a new name every start
    os.environ[MULTIPROC_ENV] = folder
    # prometheus_client picks its value class when it is first imported, from the environment;
    # it was imported before the folder existed, so pick the multiprocess one now.
    values.ValueClass = values.MultiProcessValue()
    _multiprocess_dir = folder
    return folder


def disable_multiprocess() -> None:
    """Back to one-process values; the folder and everything in it is removed."""
    global _multiprocess_dir
    folder, _multiprocess_dir = _multiprocess_dir, None
    os.environ.pop(MULTIPROC_ENV, None)
    values.ValueClass = values.MutexValue
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def process_ended(pid: int) -> None:
    """A server process exited: drop its live gauges (its counts stay in the totals)."""
    if _multiprocess_dir:
        multiprocess.mark_process_dead(pid, _multiprocess_dir)


# -- the metrics ----------------------------------------------------------------------------------


class Metrics:
    """The metrics of one application (one registry each, so several apps can live in one test)."""

    def __init__(self) -> None:
        self.multiprocess_dir = _multiprocess_dir
        registry = self.registry = CollectorRegistry(auto_describe=False)
        self._requests = Counter(
            "portal_requests",
            "Answered requests by route template, method, status and scheme.",
            ["route", "method", "status", "scheme"],
            registry=registry,
        )
        self._duration = Histogram(
            "portal_request_duration_seconds",
            "Time from the request's arrival to its answer, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        live: Any = {"multiprocess_mode": "livesum"}  # the live processes' values added up
        self._in_flight = Gauge(
            "portal_requests_in_flight", "API requests being handled now.", registry=registry, **live
        )
        self._pool_size = Gauge("portal_pool_size", "Open database connections.", registry=registry, **live)
        self._pool_idle = Gauge(
            "portal_pool_idle", "Open database connections not in use.", registry=registry, **live
        )
        self._pool_waiting = Gauge(
            "portal_pool_waiting",
            "Requests waiting for a database connection (in acquire or queued for a batch).",
            registry=registry,
            **live,
        )
        self._batch_size = Histogram(
            "portal_batch_size",
            "Requests per group-commit batch (one round trip and one transaction each).",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self._unavailable = Counter(
            "portal_unavailable", "Requests answered 503, by reason.", ["reason"], registry=registry
        )
        self._replays = Counter(
            "portal_idempotent_replays",
            "Stored answers replayed for a retried Idempotency-Key.",
            registry=registry,
        )
        self._database_errors = Counter(
            "portal_database_errors",
            "Errors from the database, by exception class.",
            ["error"],
            registry=registry,
        )
        # The hot path only adds to these plain dicts; flush() hands them to prometheus_client
        # (at each scrape, every second with several processes, and at stop).
        self._pending_requests: dict[tuple[str, str, int, str], int] = {}
        self._pending_latency: dict[str, list[float]] = {}  # route -> [sum, count per bucket...]
        self.batch_size = self._batch_size.observe

    # -- the hot path ---------------------------------------------------------------------------

    def request(self, route: str, method: str, status: int, scheme: str, seconds: float) -> None:
        """Count one answered request (called from the access log hook of every request).

        Only plain dict and list arithmetic here: a prometheus_client ``inc``/``observe`` costs
        several microseconds each (a lock, and in multiprocess mode a write to its mmapped file),
        which measured 7% of the server's CPU per request at 256 connections; :meth:`flush` adds
        the pending counts in one call per series.
        """
        key = (route, method if method in _METHODS else OTHER_METHOD, status, scheme)
        pending = self._pending_requests
        pending[key] = pending.get(key, 0) + 1
        latency = self._pending_latency.get(route)
        if latency is None:
            latency = self._pending_latency[route] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        latency[0] += seconds
        latency[1 + bisect_left(LATENCY_BUCKETS, seconds)] += 1  # the first bucket with seconds <= le

    def flush(self) -> None:
        """Add the requests counted since the last flush to the metrics (in multiprocess mode,
        to this process's files, where the scraping process reads them)."""
        requests, self._pending_requests = self._pending_requests, {}
        for (route, method, status, scheme), count in requests.items():
            self._requests.labels(route, method, str(status), scheme).inc(count)
        latencies, self._pending_latency = self._pending_latency, {}
        for route, latency in latencies.items():
            child = self._duration.labels(route)
            # Histogram.observe() adds to _sum and to one of _buckets (one per upper bound, +Inf
            # last); adding a batch of observations is the same two additions with their counts.
            # tests/test_metrics.py checks the result against observe() itself.
            child._sum.inc(latency[0])
            for bucket, observed in zip(child._buckets, latency[1:], strict=True):
                if observed:
                    bucket.inc(observed)

    # -- rarer events ---------------------------------------------------------------------------

    def unavailable(self, reason: str) -> None:
        self._unavailable.labels(reason).inc()

    def replayed(self) -> None:
        self._replays.inc()

    def database_error(self, exc: BaseException) -> None:
        self._database_errors.labels(type(exc).__name__).inc()

    # -- gauges and exposition ------------------------------------------------------------------

    def sample(self, app: Sampled) -> None:
        """Copy the application's live numbers into the gauges, and flush the pending counts."""
        self.flush()
        pool = app.pool
        self._in_flight.set(app.in_flight)
        self._pool_size.set(pool.get_size())
        self._pool_idle.set(pool.get_idle_size())
        self._pool_waiting.set(app.waiting_for_connection + sum(b.waiting for b in app.batchers()))

    def exposition(self) -> bytes:
        """Every metric in the text format: the whole server's in multiprocess mode (the other
        processes' counts as of their last flush, at most a second old)."""
        self.flush()
        if self.multiprocess_dir is None:
            return prometheus_client.generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, self.multiprocess_dir)
        return prometheus_client.generate_latest(registry)


class MetricsHandler(tornado.web.RequestHandler):
    """GET /metrics (on the API port, or on --metrics-port): no CORS, not counted as an API request."""

    def initialize(self, portal: Sampled) -> None:
        self.portal = portal

    def set_default_headers(self) -> None:
        self.clear_header("Server")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    def get(self) -> None:
        metrics = self.portal.metrics
        assert metrics is not None  # the route exists only with metrics on
        metrics.sample(self.portal)
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(metrics.exposition())

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        if status_code == 405:
            self.set_header("Allow", "GET, HEAD")
            message = f"{self.request.method} is not allowed on /metrics; use GET"
        else:
            message = "the metrics could not be read"
        self.finish({"error": message})

    def head(self) -> None:
        self.get()


def metrics_application(portal: Sampled) -> tornado.web.Application:
    """The application of --metrics-port: GET /metrics and nothing else (JSON 404 elsewhere)."""
    return tornado.web.Application(
        [(r"/metrics", MetricsHandler, {"portal": portal})],
        default_handler_class=_NotHere,
        log_function=lambda handler: None,
    )


class _NotHere(tornado.web.RequestHandler):
    set_default_headers = MetricsHandler.set_default_headers  # no Server banner, nosniff

    def prepare(self) -> None:
        self.set_status(404)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish({"error": f"no endpoint at {self.request.path}; this port serves /metrics only"})
