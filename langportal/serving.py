"""One server process: prepare the database, bind the port, serve until a stop signal, stop gracefully."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import resource
import time
from collections.abc import Coroutine
from typing import Any

import asyncpg
import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import uvloop

from . import portaldb
from .handlers import make_app, make_http_server
from .handlers.deadlines import HTTPServerWithDeadlines
from .handlers.metrics import SAMPLE_SECONDS, metrics_application
from .settings import Config, ConfigError
from .stopping import stop_flag

log = logging.getLogger("portal")

# Seconds that closing the open connections, then the pool, may each take once the requests in
# flight have had their --shutdown-grace.
CLOSE_TIMEOUT = 5.0

_CONNECT_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    ValueError,
    asyncpg.exceptions.TargetServerAttributeNotMatched,  # several hosts, none a primary
)


def _connect_error(dsn: str, exc: BaseException) -> ConfigError:
    return ConfigError(
        f"cannot connect to the database at {portaldb.redact(dsn)}: {exc or type(exc).__name__}. "
        "Check --database-url / DATABASE_URL, or unset it to use the embedded database"
    )


def check_connection_budget(config: Config, allowed: int) -> None:
    """``instances x processes x pool size`` connections must fit ``max_connections``, a few kept
    for admins. Through a transaction pooler the pools connect to the pooler, not to PostgreSQL,
    and the pooler bounds the server connections: nothing to check here, which the log says."""
    per_instance = config.processes * config.pool_size
    if config.database_pooler != "none":
        log.info(
            "through a %s pooler: up to %d client connection(s) from this instance (--processes %d "
            "x --pool-size %d) to the pooler; its max_client_conn must allow that times the number of "
            "instances, and its pool size bounds the database connections (max_connections %d is "
            "not checked against the pools)",
            config.database_pooler,
            per_instance,
            config.processes,
            config.pool_size,
            allowed,
        )
        return
    wanted = config.instances * per_instance
    if wanted > allowed - 5:
        instances = f"--instances {config.instances} x " if config.instances > 1 else ""
        raise ConfigError(
            f"{instances}--processes {config.processes} x --pool-size {config.pool_size} = {wanted} "
            f"database connections, but the database allows {allowed} (max_connections, a few kept "
            "for admins); lower --pool-size or --processes, or put a transaction pooler in front "
            "(--database-pooler transaction). This assumes "
            f"{config.instances} instance(s) of this program connect directly (--instances)"
        )


async def connect(dsn: str, config: Config) -> asyncpg.Connection:
    """One connection for the start-up work, fit for ``config.database_pooler``."""
    try:
        # several hosts: the first usable one, without waiting on a hung one (portaldb.hosts.HostChooser)
        options = portaldb.connect_options(config.database_pooler)
        return await portaldb.hosts.connect(dsn, timeout=10, **options)
    except _CONNECT_ERRORS as exc:
        raise _connect_error(dsn, exc) from None


async def migrate_database(dsn: str, config: Config, *, seed_demo: bool) -> int:
    """Bring the schema up to date (what ``langportal migrate`` does); the database's
    max_connections."""
    conn = await connect(dsn, config)
    queries = portaldb.load_queries()
    role_timeouts = (
        portaldb.statement_timeouts(config.statement_timeout) if config.database_pooler != "none" else None
    )
    try:
        applied = await portaldb.migrate(conn, queries, seed_demo=seed_demo, role_timeouts=role_timeouts)
        allowed: int = await conn.fetchval(queries.max_connections)
    except portaldb.MigrationError as exc:
        raise ConfigError(str(exc)) from None
    except asyncpg.PostgresError as exc:
        raise ConfigError(f"cannot bring the database at {portaldb.redact(dsn)} up to date: {exc}") from None
    finally:
        await conn.close()
    if applied:
        log.info("database migrated: %s", ", ".join(applied))
    else:
        log.info("database schema up to date")
    return allowed


async def prepare_database(dsn: str, config: Config, *, seed_demo: bool) -> None:
    """Once, before serving: migrate, optionally seed, and check the connection budget."""
    check_connection_budget(config, await migrate_database(dsn, config, seed_demo=seed_demo))


# Open files a server process wants: every client connection is one, so 10,000 connections need
# more than the 1,024 that many systems give a process by default.
WANTED_OPEN_FILES = 65536


def raise_open_files_limit(wanted: int = WANTED_OPEN_FILES) -> tuple[int, int] | None:
    """Raise this process's soft open-files limit towards ``wanted`` (at most the hard limit), so
    many concurrent connections do not fail with "too many open files"; the server processes
    inherit it. Logged when raised; (before, after) then, else None."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:  # pragma: no cover - a hard limit lowered meanwhile
        log.warning("cannot raise the open-files limit from %d to %d: %s", soft, target, exc)
        return None
    note = "" if target >= wanted else " (the hard limit; raise it with ulimit -Hn for more connections)"
    log.info("raised the open-files limit from %d to %d for client connections%s", soft, target, note)
    return soft, target


# The cyclic garbage collector: a young-generation collection after this many more container
# objects than were freed (Python's default is 700). Requests leave little cyclic garbage, but at
# 700 the collector ran every few requests and, with thousands of connections open, walked all
# their live objects again and again: measured here, 13% of a server process's CPU at 256
# connections and about 30% at 10,000. At 50,000 it runs once per some thousands of requests; the
# garbage it waits for is a few MB at most.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> None:
    """Once the application is built: what exists now (modules, the app, its validators...) lives
    as long as the process, so it is moved out of the collector's sight (``gc.freeze``), and the
    collector runs less often (``GC_THRESHOLDS``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def bind(config: Config) -> list[Any]:
    """The listening sockets, bound before anything else is created (a busy port leaves nothing),
    after raising the open-files limit for many client connections."""
    raise_open_files_limit()
    sockets: list[Any] = []
    try:
        for port in (config.port, config.metrics_port):
            if port is not None:  # metrics (issue 9): --metrics-port gets its sockets here too
                sockets += tornado.netutil.bind_sockets(port, config.host, backlog=4096)
        return sockets
    except OSError as exc:
        for sock in sockets:
            sock.close()
        port = config.port if not sockets else config.metrics_port
        if exc.errno == errno.EADDRINUSE:
            advice = "stop the program using that port or choose another with --port"
        elif exc.errno == errno.EACCES:
            advice = "ports below 1024 need privileges; choose another with --port"
        else:
            advice = "--host must be an address of this machine, e.g. 127.0.0.1 or 0.0.0.0"
        flag = "--port" if port == config.port else "--metrics-port"
        raise ConfigError(
            f"cannot listen on {config.host}:{port}: {exc.strerror or exc}; {advice.replace('--port', flag)}"
        ) from None


async def serve(config: Config, dsn: str, sockets: list[Any]) -> None:
    """One server process: its own pool, the HTTP server on ``sockets``, until SIGTERM/SIGINT."""
    if stop_flag.requested:  # told to stop while starting: nothing to serve, nothing to drain
        return
    try:
        pool = await portaldb.create_pool(
            dsn,
            min_size=min(2, config.pool_size),
            max_size=config.pool_size,
            connect_timeout=10,
            statement_timeout=config.statement_timeout,
            pooler=config.database_pooler,
        )
    except _CONNECT_ERRORS as exc:
        raise _connect_error(dsn, exc) from None
    try:
        app = make_app(
            pool,
            cors_origins=config.cors_origins,
            pool_timeout=config.pool_timeout,
            statement_timeout=config.statement_timeout,
            allow_reset=config.enable_reset,
            idempotency_ttl=config.idempotency_hours * 3600,
            page_api_origins=config.page_api_origins,
            metrics=config.metrics,
            metrics_route=config.metrics_port is None,
            trusted_proxies=config.trusted_proxies,
        )
        server = make_http_server(app)
        tune_garbage_collector()
        api_sockets, metrics_sockets = split_sockets(sockets, config.metrics_port)
        server.add_sockets(api_sockets)
        metrics_server = metrics_http_server(app, metrics_sockets)
        upkeep = start_upkeep(pool)
        sample = start_sampling(app)
        try:
            await stop_flag.wait()
        finally:
            for callback in upkeep:
                callback.stop()
            if sample is not None:
                sample.stop()
        log.info("process %d stopping: %d request(s) in flight", os.getpid(), app.in_flight)
        if metrics_server is not None:
            metrics_server.stop()
        await stop_serving(server, app, config.shutdown_grace)
        if app.metrics is not None:
            app.metrics.flush()  # the last requests' counts, for the totals of the other processes
    finally:
        try:
            await asyncio.wait_for(pool.close(), timeout=CLOSE_TIMEOUT)
        except TimeoutError:
            log.warning("the database pool did not close in %g s; dropping its connections", CLOSE_TIMEOUT)
            pool.terminate()
        except Exception as exc:  # the database died under it (a broken pipe): a stop all the same
            log.warning("the database pool could not close cleanly (%r); dropping its connections", exc)
            pool.terminate()


# -- metrics (issue 9) ------------------------------------------------------------------------


def split_sockets(sockets: list[Any], metrics_port: int | None) -> tuple[list[Any], list[Any]]:
    """The API's sockets and those of --metrics-port (bound together by :func:`bind`)."""
    if metrics_port is None:
        return sockets, []
    theirs = [sock for sock in sockets if sock.getsockname()[1] == metrics_port]
    return [sock for sock in sockets if sock not in theirs], theirs


def metrics_http_server(app: Any, sockets: list[Any]) -> tornado.httpserver.HTTPServer | None:
    """GET /metrics alone on the sockets of --metrics-port (None without them)."""
    if not sockets or app.metrics is None:
        return None
    server = tornado.httpserver.HTTPServer(
        metrics_application(app), max_body_size=1024, idle_connection_timeout=60, body_timeout=10
    )
    server.add_sockets(sockets)
    return server


def start_upkeep(
    pool: asyncpg.Pool, fold_seconds: float = portaldb.FOLD_SECONDS
) -> list[tornado.ioloop.PeriodicCallback]:
    """The database's upkeep, run by every serving process: expired idempotency keys purged every
    15 minutes, the stretch counts of the past folded every ``fold_seconds`` (migration 0008; one
    process at a time folds, the others skip). Stop the callbacks returned when stopping."""
    purge = tornado.ioloop.PeriodicCallback(lambda: portaldb.purge_idempotency_keys(pool), 15 * 60 * 1000)
    fold = tornado.ioloop.PeriodicCallback(
        lambda: portaldb.fold_session_stretches(pool), fold_seconds * 1000, jitter=0.2
    )
    for callback in (purge, fold):
        callback.start()
    return [purge, fold]


def start_sampling(app: Any) -> tornado.ioloop.PeriodicCallback | None:
    """With several processes, each copies its gauges (pool, in flight) and its pending request
    counts every second into the shared files the scraping process reads; one process samples its
    own at each scrape."""
    if app.metrics is None or app.metrics.multiprocess_dir is None:
        return None
    sample = tornado.ioloop.PeriodicCallback(lambda: app.metrics.sample(app), SAMPLE_SECONDS * 1000)
    sample.start()
    return sample


async def stop_serving(
    server: HTTPServerWithDeadlines, app: Any, grace: float, close_timeout: float = CLOSE_TIMEOUT
) -> None:
    """Stop accepting and drain (no keep-alive: each connection closes after its answer), give
    the requests in flight and their answers ``grace`` seconds, then close every connection left
    (one that will not close in ``close_timeout`` is left to the process's exit)."""
    server.stop()
    server.drain()
    started = time.monotonic()
    if not await app.wait_idle(grace):
        log.warning("%d request(s) still running after the grace period; closing them", app.in_flight)
    elif not await server.drained(max(0.0, grace - (time.monotonic() - started))):
        log.warning("connections still open after the grace period (answers not yet written); closing them")
    try:
        await asyncio.wait_for(server.close_all_connections(), timeout=close_timeout)
    except TimeoutError:
        log.warning(
            "client connections did not close within %g s of the grace period; they end with the process",
            close_timeout,
        )


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a server on uvloop: measured in bench/, about a third more requests per CPU second than
    asyncio's own loop, mostly in asyncpg and socket handling."""
    uvloop.run(main)
