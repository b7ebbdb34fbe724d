"""The bench's command line: its flags, their checks and their defaults."""

from __future__ import annotations

import argparse
import os
import re
import shlex
from pathlib import Path

PGBENCH_MAX_CLIENTS = 256  # issue 3 caps the ceiling's clients here


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number greater than 0, got {text!r}")
    return value


def _connections(text: str) -> list[int]:
    levels = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise argparse.ArgumentTypeError(
                f"--connections takes comma-separated whole numbers such as 64,256,1000, got {text!r}"
            )
        levels.append(int(part))
    return levels


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"the port must be a number from 0 to 65535, got {text!r}")
    return int(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmark POST /api/study_sessions against the database's own ceiling: for each "
        "concurrency, pgbench -M prepared runs the endpoint's SQL, then wrk posts to server.py "
        "(order alternating per level). Prints req/s against the ceiling, latency, errors, CPU per "
        "request and a lost-writes check, then the targets of issue 3.",
        epilog="WARNING: with --database-url or DATABASE_URL the bench EMPTIES the portal's tables in "
        "that database (groups, study_activities, study_sessions, words, words_groups, "
        "word_review_items; TRUNCATE ... RESTART IDENTITY) and loads its own data set. Point it at a "
        "database of its own, e.g. `createdb bench`, never at one whose data you need. Without a URL "
        "it starts a throwaway embedded PostgreSQL in a temporary folder. Needs wrk (apt-get install "
        "-y wrk) and pgbench. All load goes to 127.0.0.1 only.",
    )
    parser.add_argument(
        "--duration",
        type=_positive_int,
        default=15,
        metavar="SECONDS",
        help="seconds of each pgbench and each wrk run (default 15; the issue asks for 15 or more)",
    )
    parser.add_argument(
        "--connections",
        type=_connections,
        default=[64, 256, 1000],
        metavar="N,N,...",
        help="comma-separated concurrency levels (default 64,256,1000); pgbench uses at most "
        f"{PGBENCH_MAX_CLIENTS} clients",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or None,
        metavar="URL",
        help="PostgreSQL to benchmark on (default: DATABASE_URL; unset: an embedded PostgreSQL in a "
        "temporary folder). Its portal tables are EMPTIED, see below",
    )
    parser.add_argument(
        "--processes",
        type=_positive_int,
        metavar="N",
        default=os.cpu_count() or 1,
        help="passed to server.py as --processes (default: the number of cores, %(default)s)",
    )
    parser.add_argument(
        "--pool-size",
        type=_positive_int,
        metavar="N",
        default=8,
        help="passed to server.py as --pool-size, per process (default: %(default)s)",
    )
    parser.add_argument(
        "--server-args",
        default="",
        metavar="'OPTIONS'",
        help="more options for server.py, as one shell-quoted string, e.g. '--pool-timeout 2'",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=0,
        metavar="PORT",
        help="port for the server on 127.0.0.1 (default 0: a free port)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="seconds of wrk load at 64 connections before measuring, not counted (default 3; 0: none)",
    )
    parser.add_argument(
        "--wrk-timeout",
        type=_positive_float,
        default=10.0,
        metavar="SECONDS",
        help="seconds before wrk counts a request as a timeout, a socket error (default 10: at 10,000 "
        "connections even the floor answers in seconds)",
    )
    parser.add_argument(
        "--metrics-cost",
        type=_positive_int,
        default=None,
        metavar="CONNECTIONS",
        help="also measure what GET /metrics costs (issue 9): at CONNECTIONS (e.g. 256), wrk against "
        "this server (metrics on) and a second one started with --metrics off, in the order on, off, "
        "off, on, on, off; prints on/off req/s and server CPU per request (default: not measured)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="write every figure as JSON to FILE (default: bench/results/<UTC time>.json, beside the "
        "summary's text in the .txt of the same name)",
    )
    args = parser.parse_args(argv)
    if args.database_url and not re.match(r"^postgres(ql)?://", args.database_url):
        parser.error("the database URL must start with postgresql://, e.g. postgresql://user@127.0.0.1/bench")
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more seconds")
    try:
        args.server_args = shlex.split(args.server_args)
    except ValueError as exc:
        parser.error(f"--server-args: {exc}")
    return args
