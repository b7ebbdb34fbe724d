"""The program's settings: one typed field each, read from flags and the environment by parse_args."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from .handlers.forwarded import Network, parse_networks

_ORIGIN = re.compile(r"^https?://[^/\s?#]+$")


class ConfigError(Exception):
    """A setting is wrong, or a resource it names cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class Config:
    host: str
    port: int
    database_url: str | None
    data_dir: Path | None  # None only with a database URL on a machine with no home folder
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
    # issue 10: a transaction pooler (PgBouncer) between the server and the database, and how many
    # instances of this program share the database (for the connection-budget check).
    database_pooler: str = "none"
    instances: int = 1
    # Where the data folder came from when --data-dir / DATA_DIR was not given (for the log line):
    # "the checkout's" or "the per-user"; empty when it was given.
    data_dir_default: str = ""
    # issue 9: GET /metrics on (on the API port, or on metrics_port), and the proxies trusted to
    # name the client in X-Forwarded-For / X-Forwarded-Proto
    metrics: bool = True
    metrics_port: int | None = None
    trusted_proxies: tuple[Network, ...] = ()


# -- the default data folder --------------------------------------------------------------------

PER_USER_DATA_DIR_HELP = "$XDG_DATA_HOME/langportal, or ~/.local/share/langportal"


def default_data_dir(checkout: Path | None, environ: Mapping[str, str]) -> tuple[Path | None, str]:
    """The embedded database's folder when none is given, and which kind of default it is.

    ``checkout`` is the folder of the ``server.py`` that started the program, passed by that file
    only: ``python server.py`` in a clone keeps its data beside the code in ``./data`` (ignored by
    git), as it always has. Every other way in (the installed ``langportal`` command, ``python -m
    langportal``) is an installed program, whose code may sit in a read-only site-packages shared
    by several users, so its data goes to the per-user data folder of the XDG base directory spec.
    The entry point says which case it is, rather than guessing from where the package's files
    happen to lie (an editable install, a venv inside the clone, a zipapp all blur that).

    None when there is no home folder to put it in (then --data-dir is required).
    """
    if checkout is not None:
        return checkout / "data", "the checkout's"
    xdg = environ.get("XDG_DATA_HOME", "")
    if os.path.isabs(xdg):  # the spec: a relative path is invalid and is ignored
        return Path(xdg) / "langportal", "the per-user"
    home = environ.get("HOME") or _home_from_passwd()
    if not home:
        return None, "the per-user"
    return Path(home) / ".local" / "share" / "langportal", "the per-user"


def _home_from_passwd() -> str | None:
    try:
        return str(Path.home())
    except (RuntimeError, KeyError):
        return None


# -- parsing one value --------------------------------------------------------------------------


def _positive(kind: type, name: str, most: float) -> Any:
    """A number greater than 0 and at most ``most`` (which also keeps out inf, and values the
    database or the clock cannot hold: a statement timeout past PostgreSQL's 24 days, say)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{name} must be greater than 0, got {text!r}")
        if not value <= most:
            raise argparse.ArgumentTypeError(f"{name} must be at most {most:,g}, got {text!r}")
        return value

    return parse


def _not_empty(what: str, hint: str) -> Any:
    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{what} must not be empty; {hint}")
        return text

    return parse


def _data_folder(text: str) -> Path:
    if not text.strip():  # Path("") is the current folder, which the database would take over
        raise argparse.ArgumentTypeError("the data folder must not be empty; name a folder, e.g. ./data")
    return Path(text)


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


def _on_off(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"write on or off, got {text!r}")
    return value == "on"


def _networks(text: str) -> tuple[Network, ...]:
    try:
        return parse_networks(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--trusted-proxies: {exc}") from None


class OneLineErrorParser(argparse.ArgumentParser):
    """A wrong flag is one line saying what to fix (not argparse's usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# -- the flags ----------------------------------------------------------------------------------


def parse_args(
    argv: Sequence[str] | None = None,
    *,
    prog: str = "langportal",
    checkout: Path | None = None,
    environ: Mapping[str, str] | None = None,
    epilog: str | None = None,
) -> Config:
    """Flags first, then the environment variable named in each flag's help, then the default."""
    env = os.environ if environ is None else environ

    def setting(name: str, default: str) -> str:
        return env.get(name) or default

    data_default, data_kind = default_data_dir(checkout, env)
    if checkout is not None:
        data_help = f"default {data_default}: ./data in this checkout"
    else:
        data_help = f"default {PER_USER_DATA_DIR_HELP}, here {data_default or '(no home folder: required)'}"

    parser = OneLineErrorParser(
        prog=prog,
        description="Serve the language portal's API (POST /api/study_sessions and friends).\n"
        "Every setting is a flag; the environment variable named in its help is used when the\n"
        "flag is not given.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        type=_not_empty("the host", "give an address, e.g. 127.0.0.1, or 0.0.0.0 for every address"),
        default=setting("HOST", "127.0.0.1"),
        help="address to listen on (HOST; default 127.0.0.1: this machine only)",
    )
    parser.add_argument(
        "--port", type=_port, default=setting("PORT", "5000"), help="port to listen on (PORT; default 5000)"
    )
    parser.add_argument(
        "--database-url",
        default=env.get("DATABASE_URL") or None,
        help="PostgreSQL to use, e.g. postgresql://user:pass@host:5432/db (DATABASE_URL; default "
        "unset: an embedded PostgreSQL keeping its data in --data-dir)",
    )
    parser.add_argument(
        "--data-dir",
        type=_data_folder,
        default=env.get("DATA_DIR") or None,
        help=f"folder of the embedded database, created if missing (DATA_DIR; {data_help})",
    )
    parser.add_argument(
        "--cors-origins",
        type=parse_cors_origins,
        default=setting("CORS_ORIGINS", "*"),
        help="origins whose pages may call the API: * or a comma-separated allowlist "
        "(CORS_ORIGINS; default *)",
    )
    parser.add_argument(
        "--page-api-origins",
        type=parse_origins,
        default=setting("PAGE_API_ORIGINS", ""),
        help="other API origins the launch page at / may call when opened as /?api=ORIGIN, "
        "comma-separated (PAGE_API_ORIGINS; default none: only this server)",
    )
    parser.add_argument(
        "--pool-size",
        type=_positive(int, "the pool size", 10_000),
        default=setting("POOL_SIZE", "10"),
        help="most database connections each server process opens (POOL_SIZE; default 10)",
    )
    parser.add_argument(
        "--pool-timeout",
        type=_positive(float, "the pool timeout", 3600),
        default=setting("POOL_TIMEOUT", "5"),
        help="seconds a request waits for a free database connection before it is answered 503 "
        "(POOL_TIMEOUT; default 5)",
    )
    parser.add_argument(
        "--statement-timeout",
        type=_positive(float, "the statement timeout", 86_400),
        default=setting("STATEMENT_TIMEOUT", "5"),
        help="seconds before a statement is cancelled (STATEMENT_TIMEOUT; default 5)",
    )
    parser.add_argument(
        "--shutdown-grace",
        type=_positive(float, "the shutdown grace", 86_400),
        default=setting("SHUTDOWN_GRACE", "10"),
        help="seconds in-flight requests get to finish on SIGTERM/SIGINT (SHUTDOWN_GRACE; default 10)",
    )
    parser.add_argument(
        "--processes",
        type=_positive(int, "the number of processes", 1024),
        default=setting("PROCESSES", "1"),
        help="server processes sharing the port, each with its own pool of --pool-size connections; "
        "use the number of cores to use them all (PROCESSES; default 1)",
    )
    parser.add_argument(
        "--database-pooler",
        choices=["none", "transaction"],
        default=setting("DATABASE_POOLER", "none"),
        help="what is between this server and the database: none (connected directly; statements "
        "are prepared once per connection) or transaction (a transaction-pooling PgBouncer: no "
        "prepared statements or session state kept between transactions, the timeouts set as "
        "the role's defaults in the database) (DATABASE_POOLER; default none)",
    )
    parser.add_argument(
        "--instances",
        type=_positive(int, "the number of instances", 100_000),
        default=setting("INSTANCES", "1"),
        help="instances of this program (on other machines, say) sharing the database directly, "
        "for the start-up check that instances x --processes x --pool-size connections fit the "
        "database's max_connections; not checked with --database-pooler transaction "
        "(INSTANCES; default 1)",
    )
    parser.add_argument(
        "--seed-demo",
        action="store_true",
        help="load the demo data into an empty database given by --database-url "
        "(no environment variable; default off; the embedded database always gets it)",
    )
    parser.add_argument(
        "--idempotency-hours",
        type=_positive(float, "the idempotency key lifetime", 87_600),
        default=setting("IDEMPOTENCY_HOURS", "24"),
        help="hours an Idempotency-Key and its answer are kept for retries (IDEMPOTENCY_HOURS; default 24)",
    )
    parser.add_argument(
        "--enable-reset",
        action="store_true",
        help="allow POST /api/reset_history, POST /api/full_reset and the course frontend's "
        "POST /api/study-sessions/reset, which delete data (no environment variable; default off: "
        "they answer 403)",
    )
    parser.add_argument(
        "--log-level",
        default=setting("LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="INFO logs one line per request, WARNING only failures (LOG_LEVEL; default INFO)",
    )
    parser.add_argument(
        "--metrics",
        type=_on_off,
        metavar="{on,off}",
        default=setting("METRICS", "on"),
        help="GET /metrics in the Prometheus text format: on or off (METRICS; default on)",
    )
    parser.add_argument(
        "--metrics-port",
        type=_port,
        default=setting("METRICS_PORT", "") or None,
        help="serve /metrics on this port of --host instead of the API port (METRICS_PORT; "
        "default unset: on the API port)",
    )
    parser.add_argument(
        "--trusted-proxies",
        type=_networks,
        default=setting("TRUSTED_PROXIES", ""),
        help="addresses or networks of your proxies, comma-separated (e.g. 10.0.0.5,192.168.0.0/16): "
        "only from those are X-Forwarded-For and X-Forwarded-Proto believed, for the client "
        "address in the log and the metrics (TRUSTED_PROXIES; default none: never believed)",
    )
    args = parser.parse_args(argv)
    if args.database_url and not re.match(r"^postgres(ql)?://", args.database_url):
        parser.error(
            "the database URL must start with postgresql:// (e.g. postgresql://user@localhost:5432/db)"
        )
    if args.database_pooler != "none" and not args.database_url:
        parser.error(
            f"--database-pooler {args.database_pooler} needs --database-url (the pooler's address); "
            "the embedded database is always reached directly"
        )
    if args.metrics_port is not None and args.metrics_port == args.port:
        parser.error(
            "--metrics-port must differ from --port (leave it unset to serve /metrics on the API port)"
        )
    if args.metrics_port is not None and not args.metrics:
        parser.error("--metrics-port needs --metrics on")
    data_dir = args.data_dir or data_default
    if data_dir is None and not args.database_url:
        parser.error("there is no home folder for the default data folder; pass --data-dir or set DATA_DIR")
    return Config(
        host=args.host,
        port=args.port,
        database_url=args.database_url,
        data_dir=data_dir,
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
        database_pooler=args.database_pooler,
        instances=args.instances,
        data_dir_default="" if args.data_dir is not None else data_kind,
        metrics=args.metrics,
        metrics_port=args.metrics_port,
        trusted_proxies=args.trusted_proxies,
    )
