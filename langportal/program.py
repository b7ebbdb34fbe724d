"""The language portal's API server: settings, start, graceful stop.

    python server.py                      # embedded PostgreSQL in ./data, http://127.0.0.1:5000
    python server.py --database-url URL   # your own PostgreSQL
    python server.py --help               # every setting

Other code (a test suite, say) builds the same application with :func:`make_app` and drives it
in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import re
import signal
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web
import uvloop

from langportal import portaldb
from langportal.handlers import make_app, make_http_server

log = logging.getLogger("portal")
access_log = logging.getLogger("portal.access")

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_DIR / "data"
_ORIGIN = re.compile(r"^https?://[^/\s?#]+$")


class ConfigError(Exception):
    """A setting is wrong, or a resource it names cannot be used; the message says how to fix it."""


# -- settings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    host: str
    port: int
    database_url: str | None
    data_dir: Path
    cors_origins: tuple[str, ...] | None
    pool_size: int
    pool_timeout: float
    statement_timeout: float
    shutdown_grace: float
    seed_demo: bool
    log_level: str
    processes: int = 1
    enable_reset: bool = False
    idempotency_hours: float = 24
    page_api_origins: tuple[str, ...] = ()


def _positive(kind: type, name: str) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{name} must be greater than 0, got {text!r}")
        return value

    return parse


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"the port must be a number from 1 to 65535, got {text!r}")
    return int(text)


def parse_cors_origins(text: str) -> tuple[str, ...] | None:
    """``*`` (any origin) or a comma-separated allowlist of origins such as https://app.example."""
    text = text.strip()
    if text == "*":
        return None
    origins = parse_origins(text)
    if not origins:
        raise argparse.ArgumentTypeError("CORS origins must be * or a comma-separated list of origins")
    return origins


def parse_origins(text: str) -> tuple[str, ...]:
    """A comma-separated list of origins such as https://app.example,http://localhost:3000."""
    origins = tuple(part.strip().rstrip("/") for part in text.split(",") if part.strip())
    for origin in origins:
        if not _ORIGIN.match(origin):
            raise argparse.ArgumentTypeError(
                f"{origin!r} is not an origin; write scheme://host[:port] with no path, "
                "e.g. https://portal.example.com,http://localhost:3000"
            )
    return origins


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


class _OneLineErrors(argparse.ArgumentParser):
    """A wrong flag is one line saying what to fix (not argparse's usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_args(argv: Sequence[str] | None = None) -> Config:
    parser = _OneLineErrors(
        prog="server.py",
        description="Serve the language portal's API (POST /api/study_sessions and friends).",
    )
    parser.add_argument(
        "--host",
        default=_env("HOST", "127.0.0.1"),
        help="address to listen on (HOST; default 127.0.0.1: this machine only)",
    )
    parser.add_argument(
        "--port", type=_port, default=_env("PORT", "5000"), help="port to listen on (PORT; default 5000)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or None,
        help="PostgreSQL to use, e.g. postgresql://user:pass@host:5432/db (DATABASE_URL); "
        "unset: an embedded PostgreSQL keeping its data in --data-dir",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(_env("DATA_DIR", str(DEFAULT_DATA_DIR))),
        help="folder of the embedded database (DATA_DIR; default ./data)",
    )
    parser.add_argument(
        "--cors-origins",
        type=parse_cors_origins,
        default=_env("CORS_ORIGINS", "*"),
        help="origins whose pages may call the API: * (default) or a comma-separated allowlist "
        "(CORS_ORIGINS)",
    )
    parser.add_argument(
        "--page-api-origins",
        type=parse_origins,
        default=_env("PAGE_API_ORIGINS", ""),
        help="other API origins the launch page at / may call when opened as /?api=ORIGIN, "
        "comma-separated (PAGE_API_ORIGINS; default none: only this server)",
    )
    parser.add_argument(
        "--pool-size",
        type=_positive(int, "the pool size"),
        default=_env("POOL_SIZE", "10"),
        help="most database connections each server process opens (POOL_SIZE; default 10)",
    )
    parser.add_argument(
        "--pool-timeout",
        type=_positive(float, "the pool timeout"),
        default=_env("POOL_TIMEOUT", "5"),
        help="seconds a request waits for a free database connection before it is answered 503 "
        "(POOL_TIMEOUT; default 5)",
    )
    parser.add_argument(
        "--statement-timeout",
        type=_positive(float, "the statement timeout"),
        default=_env("STATEMENT_TIMEOUT", "5"),
        help="seconds before a statement is cancelled (STATEMENT_TIMEOUT; default 5)",
    )
    parser.add_argument(
        "--shutdown-grace",
        type=_positive(float, "the shutdown grace"),
        default=_env("SHUTDOWN_GRACE", "10"),
        help="seconds in-flight requests get to finish on SIGTERM (default 10)",
    )
    parser.add_argument(
        "--processes",
        type=_positive(int, "the number of processes"),
        default=_env("PROCESSES", "1"),
        help="server processes sharing the port, each with its own pool of --pool-size connections; "
        "use the number of cores to use them all (PROCESSES; default 1)",
    )
    parser.add_argument(
        "--seed-demo",
        action="store_true",
        help="load the demo data into an empty database given by --database-url "
        "(the embedded one always gets it)",
    )
    parser.add_argument(
        "--idempotency-hours",
        type=_positive(float, "the idempotency key lifetime"),
        default=_env("IDEMPOTENCY_HOURS", "24"),
        help="hours an Idempotency-Key and its answer are kept for retries (IDEMPOTENCY_HOURS; default 24)",
    )
    parser.add_argument(
        "--enable-reset",
        action="store_true",
        help="allow POST /api/reset_history and POST /api/full_reset, which delete data "
        "(off by default: they answer 403)",
    )
    parser.add_argument(
        "--log-level",
        default=_env("LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="INFO logs one line per request (LOG_LEVEL)",
    )
    args = parser.parse_args(argv)
    if args.database_url and not re.match(r"^postgres(ql)?://", args.database_url):
        parser.error(
            "the database URL must start with postgresql:// (e.g. postgresql://user@localhost:5432/db)"
        )
    return Config(
        host=args.host,
        port=args.port,
        database_url=args.database_url,
        data_dir=args.data_dir,
        cors_origins=args.cors_origins,
        pool_size=args.pool_size,
        pool_timeout=args.pool_timeout,
        statement_timeout=args.statement_timeout,
        shutdown_grace=args.shutdown_grace,
        seed_demo=args.seed_demo,
        log_level=args.log_level,
        processes=args.processes,
        enable_reset=args.enable_reset,
        idempotency_hours=args.idempotency_hours,
        page_api_origins=args.page_api_origins,
    )


# -- start and stop -----------------------------------------------------------------------------


def _connect_error(dsn: str, exc: BaseException) -> ConfigError:
    return ConfigError(
        f"cannot connect to the database at {portaldb.redact(dsn)}: {exc or type(exc).__name__}. "
        "Check --database-url / DATABASE_URL, or unset it to use the embedded database"
    )


_CONNECT_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError)


async def prepare_database(dsn: str, config: Config, *, seed_demo: bool) -> None:
    """Once, before serving: migrate, optionally seed, and check the connection budget."""
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except _CONNECT_ERRORS as exc:
        raise _connect_error(dsn, exc) from None
    queries = portaldb.load_queries()
    try:
        applied = await portaldb.migrate(conn, queries, seed_demo=seed_demo)
        allowed = await conn.fetchval(queries.max_connections)
    except portaldb.MigrationError as exc:
        raise ConfigError(str(exc)) from None
    except asyncpg.PostgresError as exc:
        raise ConfigError(f"cannot bring the database at {portaldb.redact(dsn)} up to date: {exc}") from None
    finally:
        await conn.close()
    if applied:
        log.info("database migrated: %s", ", ".join(applied))
    wanted = config.processes * config.pool_size
    if wanted > allowed - 5:
        raise ConfigError(
            f"--processes {config.processes} x --pool-size {config.pool_size} = {wanted} database "
            f"connections, but the database allows {allowed} (max_connections, a few kept for "
            "admins); lower --pool-size or --processes"
        )


def bind(config: Config) -> list[Any]:
    try:
        return tornado.netutil.bind_sockets(config.port, config.host, backlog=4096)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            advice = "stop the program using that port or choose another with --port"
        elif exc.errno == errno.EACCES:
            advice = "ports below 1024 need privileges; choose another with --port"
        else:
            advice = "--host must be an address of this machine, e.g. 127.0.0.1 or 0.0.0.0"
        raise ConfigError(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}; {advice}"
        ) from None


async def serve(config: Config, dsn: str, sockets: list[Any]) -> None:
    """One server process: its own pool, the HTTP server on ``sockets``, until SIGTERM/SIGINT."""
    try:
        pool = await portaldb.create_pool(
            dsn,
            min_size=min(2, config.pool_size),
            max_size=config.pool_size,
            connect_timeout=10,
            statement_timeout=config.statement_timeout,
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
        )
        server = make_http_server(app)
        server.add_sockets(sockets)
        purge = tornado.ioloop.PeriodicCallback(lambda: purge_idempotency_keys(pool), 15 * 60 * 1000)
        purge.start()
        await _wait_for_stop_signal()
        purge.stop()
        log.info("process %d stopping: %d request(s) in flight", os.getpid(), app.in_flight)
        server.stop()
        if not await app.wait_idle(config.shutdown_grace):
            log.warning("%d request(s) still running after the grace period; closing them", app.in_flight)
        await asyncio.wait_for(server.close_all_connections(), timeout=5)
    finally:
        try:
            await asyncio.wait_for(pool.close(), timeout=5)
        except TimeoutError:
            pool.terminate()


async def purge_idempotency_keys(pool: asyncpg.Pool) -> None:
    """Delete expired idempotency keys (an expired key is also taken over when used again)."""
    try:
        status = await pool.execute(portaldb.load_queries().purge_expired_idempotency_keys)
    except portaldb.UNAVAILABLE_ERRORS as exc:
        log.warning("could not purge expired idempotency keys (will retry): %r", exc)
    else:
        log.debug("purged expired idempotency keys: %s", status)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def _wait_for_stop_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # one that came early is handled now
    try:
        await stop.wait()
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a server on uvloop: measured in bench/, about a third more requests per CPU second than
    asyncio's own loop, mostly in asyncpg and socket handling."""
    uvloop.run(main)


def run(config: Config) -> None:
    """Start the database (embedded or given), bind, serve in one or more processes, stop."""
    embedded = None if config.database_url else portaldb.EmbeddedPostgres(config.data_dir)
    try:
        if embedded is not None:
            embedded.start()
            portaldb.watch(embedded)  # issue 13: restarts it after a crash; embedded.stop() ends it
            dsn = embedded.dsn
        else:
            dsn = config.database_url
        asyncio.run(prepare_database(dsn, config, seed_demo=config.seed_demo or embedded is not None))
        sockets = bind(config)
        where = f"embedded PostgreSQL, data in {embedded.data_dir}" if embedded else portaldb.redact(dsn)
        processes = f", {config.processes} processes" if config.processes > 1 else ""
        ready = f"listening on http://{config.host}:{config.port} (database: {where}{processes})"
        if config.processes == 1:
            log.info("%s", ready)
            run_loop(serve(config, dsn, sockets))
        else:
            supervise(config, dsn, sockets, ready)
    finally:
        if embedded is not None:
            embedded.stop()
    log.info("stopped")


def supervise(config: Config, dsn: str, sockets: list[Any], ready: str) -> None:
    """Fork ``config.processes`` servers sharing the listening sockets; on SIGTERM/SIGINT pass
    SIGTERM on and wait for each to finish its requests. A server that dies is replaced."""
    children: dict[int, int] = {}  # pid -> slot
    stopping = False

    def start(slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # the child serves, and never returns into the parent's code
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            # A stop signal that comes while the child is still starting waits (blocked) until
            # serve() can handle it gracefully, instead of killing the child half-started.
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            code = 0
            try:
                run_loop(serve(config, dsn, sockets))
            except ConfigError as exc:
                print(f"server.py: error: {exc}", file=sys.stderr)
                code = 2
            except BaseException:
                log.exception("server process %d failed", os.getpid())
                code = 1
            finally:
                logging.shutdown()
                os._exit(code)
        children[pid] = slot

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        for slot in range(config.processes):
            start(slot)
        log.info("%s", ready)
        failures = 0
        while children:
            pid, status = os.wait()
            slot = children.pop(pid, None)
            if slot is None or stopping:
                continue
            code = os.waitstatus_to_exitcode(status)
            if code == 2:
                stop(signal.SIGTERM, None)
                raise ConfigError("a server process could not start; see the message above")
            failures += 1
            log.error("server process %d ended unexpectedly (exit %d); starting another", pid, code)
            if failures > 10:
                stop(signal.SIGTERM, None)
                raise ConfigError("server processes keep failing; see the log above")
            start(slot)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sock in sockets:
            sock.close()


class _OneLine(logging.Filter):
    """While the database is down, asyncpg logs a traceback every time it retries opening pool
    connections; the exception's one line says all an operator needs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}: {record.exc_info[1]!r}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    logging.basicConfig(
        level=config.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("asyncpg.pool").addFilter(_OneLine())
    try:
        run(config)
    except (ConfigError, portaldb.EmbeddedPostgresError) as exc:
        print(f"server.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
