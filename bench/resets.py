"""Both resets over a large history (1M sessions, 10M reviews), timed, with writes sent meanwhile.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/reset_bench python bench/resets.py --wipe
    DATABASE_URL=... python bench/resets.py --wipe --reuse        # keep the history built there
    DATABASE_URL=... python bench/resets.py --wipe --before /tmp/reset-before   # and older code
    python bench/resets.py --small     # embedded PostgreSQL, 100,000 sessions, 1,000,000 reviews

It builds the history in DATABASE_URL's database as bench/list_endpoints.py does (its own loading
code: the demo data, then --sessions and --reviews with generate_series, through the real tables so
the counting triggers count them), checks the counters against a recount once, and keeps that
database as the template of the runs: each run gets a fresh copy of it (CREATE DATABASE ... TEMPLATE,
seconds instead of the minutes a load takes), named after it with ``_reset_copy``, dropped at the end.

A run: ``python server.py --enable-reset`` of a checkout (this one; with --before, also the one
given, run by this Python) on the copy, with its default settings (a 5 s statement timeout);
--clients clients send launches and answers (on the loaded sessions) back to back; after
--warmup seconds one reset, POST /api/reset_history or POST /api/full_reset; the writes go on for
--after seconds more, then stop; the server is stopped (SIGTERM) and every counter table of the
history compared with a recount (tests/sql/fixtures.sql, counters_off_a_recount). Per run it
prints the reset's status and time, whether the counters are exact, and the writes that were in
flight while the reset ran: how many, their statuses, the longest of their waits, and how long
after the reset's answer the last of them was answered. Then the ratios of the resets' times,
before over after. Everything is bounded: each request 60 s at most, each run a few seconds of
writes; all traffic goes to 127.0.0.1.

With DATABASE_URL the database named there is replaced (hence --wipe) and a second one created
and dropped beside it: the role needs CREATEDB. Without it, an embedded PostgreSQL in a temporary
folder, removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import tornado.httpclient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.list_endpoints import load  # noqa: E402
from bench.processes import HOST, free_port, log_tail, wait_http  # noqa: E402
from langportal import portaldb  # noqa: E402
from langportal.portaldb.queries import Queries, parse  # noqa: E402

# The recount of the counters (and the statements below): the tests' own, read from the checkout.
FIXTURE_SQL = Queries(
    parse((ROOT / "tests" / "sql" / "fixtures.sql").read_text(encoding="utf-8"), "fixtures.sql")
)
RESETS = ("/api/reset_history", "/api/full_reset")
REQUEST_TIMEOUT = 60.0  # seconds: any one request, the reset included


@dataclass
class Run:
    code: str  # "after" (this checkout) or "before" (--before)
    reset: str
    status: int = 0
    seconds: float = 0.0
    message: str = ""
    counters: list[str] = field(default_factory=list)  # the counter tables off a recount
    writes: int = 0  # all the writes of the run
    statuses: Counter[int] = field(default_factory=Counter)  # of the writes in flight during the reset
    during: int = 0
    longest_wait: float = 0.0  # of those, the longest from sent to answered
    past_the_reset: float = 0.0  # the last of them answered this long after the reset's answer
    usual_wait: float = 0.0  # median of the writes answered before the reset was sent
    errors_5xx: int = 0  # of all the writes: a 5xx, or no answer (599: the client's own timeout)


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


async def maintenance(dsn: str) -> asyncpg.Connection:
    """A connection to the server's postgres database, for CREATE and DROP DATABASE."""
    return await asyncpg.connect(dsn, database="postgres")


async def copy_database(dsn: str, copy: str) -> float:
    """A fresh copy of DSN's database named ``copy``; the seconds it took."""
    started = time.perf_counter()
    conn = await maintenance(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{copy}"')
        try:  # PostgreSQL 15: a file copy, not the whole database through the WAL
            await conn.execute(
                f'CREATE DATABASE "{copy}" TEMPLATE "{database_name(dsn)}" STRATEGY = FILE_COPY'
            )
        except asyncpg.PostgresSyntaxError:
            await conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{database_name(dsn)}"')
    finally:
        await conn.close()
    return time.perf_counter() - started


async def drop_database(dsn: str, name: str) -> None:
    conn = await maintenance(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


async def counters_off(dsn: str) -> list[str]:
    """The history's counter tables that differ from a recount (none: every counter exact)."""
    conn = await asyncpg.connect(dsn)  # no statement timeout: at 10M reviews a recount takes seconds
    try:
        return [row["counters"] for row in await conn.fetch(FIXTURE_SQL.counters_off_a_recount)]
    finally:
        await conn.close()


@contextlib.contextmanager
def server(checkout: Path, python: str, dsn: str, processes: int) -> Iterator[int]:
    """``python server.py --enable-reset`` of ``checkout`` on ``dsn``, its defaults otherwise; its
    port once it answers. Stopped with SIGTERM (its process group killed if it hangs)."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="langportal-resets-", suffix=".log")[1])
    command = [
        python, str(checkout / "server.py"), "--host", HOST, "--port", str(port), "--database-url", dsn,
        "--enable-reset", "--processes", str(processes), "--log-level", "WARNING",
    ]  # fmt: skip
    with log.open("w") as output:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, cwd=checkout,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_http(process, port, log.read_text)
        yield port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process.returncode not in (0, -signal.SIGTERM):
            print(f"  the server exited with {process.returncode}:\n{log_tail(log.read_text())}")
        log.unlink(missing_ok=True)


async def measure(
    port: int, ids: dict[str, int], run: Run, clients: int, warmup: float, after: float
) -> None:
    """Writes back to back from ``clients`` clients; one reset after ``warmup`` s; ``after`` s more."""
    base = f"http://{HOST}:{port}"
    http = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=clients + 2)
    done: list[tuple[int, float, float]] = []  # status, sent, answered
    stop = asyncio.Event()

    async def post(path: str, body: bytes) -> int:
        reply = await http.fetch(
            base + path, method="POST", body=body, headers={"Content-Type": "application/json"},
            raise_error=False, request_timeout=REQUEST_TIMEOUT,
        )  # fmt: skip
        return reply.code

    async def write(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            sent = time.monotonic()
            if rng.random() < 0.5:
                group, activity = rng.randint(1, ids["groups"]), rng.randint(1, ids["activities"])
                status = await post(
                    "/api/study_sessions",
                    f'{{"group_id": {group}, "study_activity_id": {activity}}}'.encode(),
                )
            else:
                session = rng.randint(ids["first_session"], ids["last_session"])
                word = rng.randint(1, ids["words"])
                correct = "true" if rng.random() < 0.7 else "false"
                status = await post(
                    f"/api/study_sessions/{session}/words/{word}/review", f'{{"correct": {correct}}}'.encode()
                )
            done.append((status, sent, time.monotonic()))

    writers = [asyncio.ensure_future(write(seed)) for seed in range(clients)]
    try:
        await asyncio.sleep(warmup)
        sent = time.monotonic()
        reply = await http.fetch(
            base + run.reset, method="POST", body=b"", raise_error=False, request_timeout=REQUEST_TIMEOUT
        )
        answered = time.monotonic()
        await asyncio.sleep(after)
    finally:
        stop.set()
        await asyncio.gather(*writers, return_exceptions=True)
        http.close()
    run.status, run.seconds = reply.code, answered - sent
    run.message = (reply.body or b"").decode("utf-8", "replace")[:120]
    overlapping = [(s, a, status) for status, s, a in done if s < answered and a > sent]
    before = [a - s for _, s, a in done if a < sent]
    run.writes = len(done)
    run.during = len(overlapping)
    run.statuses = Counter(status for _, _, status in overlapping)
    run.longest_wait = max((a - s for s, a, _ in overlapping), default=0.0)
    run.past_the_reset = max((a - answered for _, a, _ in overlapping), default=0.0)
    run.usual_wait = statistics.median(before) if before else 0.0
    run.errors_5xx = sum(1 for status, _, _ in done if status >= 500 or status == 599)


def print_table(runs: list[Run]) -> None:
    print(
        f"\n{'code':7} {'reset':20} {'status':>6} {'seconds':>8}  {'counters':9} {'writes':>6} "
        f"{'during':>6} {'longest wait s':>14} {'after the reset s':>17} {'usual s':>8} {'5xx':>4}  "
        "statuses during"
    )
    for r in runs:
        counters = "exact" if not r.counters else "OFF: " + ",".join(r.counters)
        statuses = " ".join(f"{k}:{v}" for k, v in sorted(r.statuses.items()))
        print(
            f"{r.code:7} {r.reset:20} {r.status:6} {r.seconds:8.3f}  {counters:9} {r.writes:6} {r.during:6} "
            f"{r.longest_wait:14.3f} {r.past_the_reset:17.3f} {r.usual_wait:8.3f} {r.errors_5xx:4}  "
            + statuses
        )
    for reset in RESETS:
        times = {r.code: r for r in runs if r.reset == reset}
        if {"before", "after"} <= set(times):
            before, after = times["before"], times["after"]
            tail = "" if before.status == 200 else f" (before: {before.status}, it did not finish)"
            print(
                f"{reset}: before {before.seconds:.3f} s / after {after.seconds:.3f} s = "
                f"{before.seconds / after.seconds:.0f}x{tail}"
            )


async def run(args: argparse.Namespace) -> None:
    dsn = os.environ.get("DATABASE_URL")
    embedded = folder = None
    if dsn and not args.wipe:
        raise SystemExit("DATABASE_URL is set: this replaces every row of that database; add --wipe to agree")
    if dsn and database_name(dsn) in ("", "postgres", "template0", "template1"):
        raise SystemExit(
            "DATABASE_URL must name a database of its own (it is copied, and its copies dropped)"
        )
    if not dsn:
        folder = tempfile.mkdtemp(prefix="langportal-resets-")
        embedded = portaldb.EmbeddedPostgres(folder)
        await asyncio.to_thread(embedded.start)
        conn = await asyncpg.connect(embedded.dsn)
        await conn.execute("CREATE DATABASE langportal_resets")
        await conn.close()
        dsn = with_database(embedded.dsn, "langportal_resets")
    copy = f"{database_name(dsn)}_reset_copy"
    copy_dsn = with_database(dsn, copy)
    codes = [("after", ROOT)] + ([("before", args.before.resolve())] if args.before else [])
    try:
        sessions, reviews = (100_000, 1_000_000) if args.small else (args.sessions, args.reviews)
        ids = await load(dsn, sessions, reviews, args.reuse)
        started = time.perf_counter()
        off = await counters_off(dsn)
        took = time.perf_counter() - started
        print(f"counters against a recount after the load: {off or 'exact'} ({took:.1f} s)")
        runs: list[Run] = []
        for turn, reset in enumerate(RESETS):
            for code, checkout in codes if turn % 2 == 0 else codes[::-1]:  # drift hits both alike
                took = await copy_database(dsn, copy)
                print(f"{code}: {reset} on a fresh copy ({took:.1f} s to copy)", flush=True)
                result = Run(code, reset)
                with server(checkout, args.python, copy_dsn, args.processes) as port:
                    await measure(port, ids, result, args.clients, args.warmup, args.after)
                result.counters = await counters_off(copy_dsn)
                print(f"  {result.status} in {result.seconds:.3f} s: {result.message}", flush=True)
                runs.append(result)
        print_table(runs)
    finally:
        with contextlib.suppress(Exception):
            await drop_database(dsn, copy)
        if embedded is not None and folder is not None:
            await asyncio.to_thread(embedded.stop)
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000, help="study sessions (1,000,000)")
    parser.add_argument("--reviews", type=int, default=10_000_000, help="reviews (10,000,000)")
    parser.add_argument("--small", action="store_true", help="100,000 sessions and 1,000,000 reviews instead")
    parser.add_argument(
        "--reuse", action="store_true", help="keep a database that holds that history already"
    )
    parser.add_argument("--before", type=Path, help="another checkout (the code before) to run as well")
    parser.add_argument(
        "--python", default=sys.executable, help="the Python that runs the servers (this one)"
    )
    parser.add_argument("--processes", type=int, default=1, help="server processes (1, its default)")
    parser.add_argument("--clients", type=int, default=16, help="clients sending writes back to back (16)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of writes before the reset (1)")
    parser.add_argument("--after", type=float, default=1.0, help="seconds of writes after it (1)")
    parser.add_argument("--wipe", action="store_true", help="agree to replace the data of DATABASE_URL")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
