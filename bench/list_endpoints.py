"""Latency of the list and statistics endpoints over a large history (1,000,000 reviews).

    python bench/list_endpoints.py                    # embedded PostgreSQL in a temporary folder
    DATABASE_URL=postgresql://... python bench/list_endpoints.py --wipe   # your own database

It loads the demo data, adds --sessions study sessions and --reviews reviews with generate_series
(bench/load.sql), serves the application in-process (server.make_app on a local port), and
requests each endpoint --requests times, one at a time, after a few warm-up requests. It prints
p50/p99/max per endpoint. With DATABASE_URL every row of that database is replaced, hence --wipe.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import tornado.httpclient
import tornado.httpserver
import tornado.netutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langportal import portaldb
from langportal.handlers import make_app
from langportal.portaldb.queries import Queries, parse

LOAD_SQL = Queries(parse((Path(__file__).parent / "load.sql").read_text(encoding="utf-8"), "load.sql"))

ENDPOINTS = [
    "/api/study_sessions",
    "/api/study_sessions?page=50",
    "/api/groups/1/study_sessions",
    "/api/study_activities/1/study_sessions",
    "/api/study_sessions/1",
    "/api/study_sessions/1/words",
    "/api/words",
    "/api/words?sort_by=wrong_count&order=desc",
    "/api/groups/1/words",
    "/api/words/1",
    "/api/groups",
    "/api/dashboard/last_study_session",
    "/api/dashboard/study_progress",
    "/api/dashboard/quick_stats",
]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def load(dsn: str, sessions: int, reviews: int) -> None:
    conn = await asyncpg.connect(dsn)  # no statement timeout: the bulk load takes a while
    try:
        queries = portaldb.load_queries()
        await portaldb.migrate(conn, queries)
        await portaldb.restore_demo(conn, queries)
        started = time.perf_counter()
        await conn.execute(LOAD_SQL.load_sessions, sessions)
        await conn.execute(LOAD_SQL.load_reviews, reviews)
        await conn.execute(LOAD_SQL.analyze)
        print(
            f"loaded {sessions:,} sessions and {reviews:,} reviews in {time.perf_counter() - started:.1f} s"
        )
    finally:
        await conn.close()


async def measure(dsn: str, requests: int, warmup: int) -> None:
    pool = await portaldb.create_pool(dsn, min_size=2, max_size=4, connect_timeout=10, statement_timeout=30)
    app = make_app(pool)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    base = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    try:
        print(f"{'endpoint':48} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  bytes")
        for path in ENDPOINTS:
            samples = []
            for i in range(warmup + requests):
                started = time.perf_counter()
                response = await client.fetch(base + path, raise_error=False)
                elapsed = 1000 * (time.perf_counter() - started)
                if response.code != 200:
                    raise SystemExit(f"{path} answered {response.code}: {response.body[:200]!r}")
                if i >= warmup:
                    samples.append(elapsed)
            print(
                f"{path:48} {statistics.median(samples):8.1f} {percentile(samples, 0.99):8.1f} "
                f"{max(samples):8.1f}  {len(response.body)}"
            )
    finally:
        client.close()
        server.stop()
        await pool.close()


async def run(args: argparse.Namespace) -> None:
    dsn = os.environ.get("DATABASE_URL")
    embedded = folder = None
    if dsn and not args.wipe:
        raise SystemExit("DATABASE_URL is set: this replaces every row of that database; add --wipe to agree")
    if not dsn:
        folder = tempfile.mkdtemp(prefix="langportal-bench-")
        embedded = portaldb.EmbeddedPostgres(folder)
        await asyncio.to_thread(embedded.start)
        dsn = embedded.dsn
    try:
        await load(dsn, args.sessions, args.reviews)
        await measure(dsn, args.requests, args.warmup)
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000, help="study sessions to add (10,000)")
    parser.add_argument("--reviews", type=int, default=1_000_000, help="reviews to add (1,000,000)")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per endpoint (50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests first (5)")
    parser.add_argument("--wipe", action="store_true", help="agree to replace the data of DATABASE_URL")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
