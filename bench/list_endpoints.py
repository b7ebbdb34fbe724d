"""Every GET endpoint, and the frontend-like mix, over a large history (1M sessions, 10M reviews).

    python bench/list_endpoints.py                    # embedded PostgreSQL in a temporary folder
    python bench/list_endpoints.py --small            # 100,000 sessions and 1,000,000 reviews
    DATABASE_URL=postgresql://... python bench/list_endpoints.py --wipe   # your own database
    DATABASE_URL=postgresql://... python bench/list_endpoints.py --wipe --reuse   # keep its history

It brings the schema up to date, loads the demo data and adds --sessions study sessions and
--reviews reviews with generate_series (bench/load.sql); with --reuse a database that already
holds at least that history is kept as it is. Then:

1. **GET latency, one client**: the application in-process (make_app on a local port), each
   endpoint requested --requests times, in --passes passes over all of them (so a burst of other
   work hits many endpoints a little, not a few wholly), after --warmup untimed ones; p50, p99
   and max per endpoint, each against its goal: p50 < 5 ms and p99 < 20 ms for every /api GET and
   for the course frontend's GETs in the order its pages open them ("default order"), p50 < 20 ms
   for those in every other sort the pages send ("other sort"). Then the course's GETs against
   their /api counterparts: the median p50 of each set and of each pair, as ratios.
2. **The mix** (unless --no-mix): ``python server.py --processes 2`` on that database, then wrk
   with 256 connections for --duration seconds each: POST /api/study_sessions alone
   (bench/post_session.lua) and the mix (bench/mix.lua: 70% POST sessions, 20% POST reviews, 5%
   GET /api/study_sessions?per_page=10, 5% GET quick_stats), alternating (POST, mix, POST, ...,
   --rounds mix runs): the mix's mean throughput against the POST-only runs' mean (target >=
   0.80), its timeouts (0), its non-2xx answers (0) and its p99 (< 100 ms); under each run, the
   CPU time per request of the server, of the database (when it runs on this machine) and of wrk.
3. **Each kind alone** (with --by-kind): one more wrk run per kind of the mix, that kind only, and
   its CPU per request: what each kind costs, so a mix slower than POST-only says which of its
   parts to look at. The line under them weighs those costs by the mix's shares.

With DATABASE_URL every row of the portal's tables in that database is replaced, hence --wipe.
Every load run is bounded by --duration; the server is stopped (SIGTERM) at the end, on errors too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import tornado.httpclient
import tornado.httpserver
import tornado.netutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import CpuMeter  # noqa: E402
from bench.database import postmaster_pid  # noqa: E402
from langportal import portaldb  # noqa: E402
from langportal.handlers import make_app  # noqa: E402
from langportal.portaldb.queries import Queries, parse  # noqa: E402

LOAD_SQL = Queries(parse((Path(__file__).parent / "load.sql").read_text(encoding="utf-8"), "load.sql"))

# {gid}, {aid}, {sid} and {wid} are filled with ids that exist in the loaded history; {gid_middle_page}
# and {gid_last_page} with the middle and last pages of 5 of group {gid}'s sessions, and
# {gid_course_middle_page} and {gid_course_last_page} of 10 (bench_ids).
ENDPOINTS = [
    "/api/study_sessions?per_page=5",
    "/api/study_sessions?per_page=10",
    "/api/study_sessions?page=50",
    "/api/study_sessions?page=1000&per_page=100",
    "/api/groups/{gid}/study_sessions?per_page=5",
    "/api/groups/{gid}/study_sessions?page={gid_middle_page}&per_page=5",
    "/api/groups/{gid}/study_sessions?page={gid_last_page}&per_page=5",
    "/api/study_activities/{aid}/study_sessions?per_page=5",
    "/api/study_sessions/{sid}",
    "/api/study_sessions/{sid}/words",
    "/api/words?per_page=20",
    "/api/words?per_page=20&sort_by=wrong_count&order=desc",
    "/api/groups/{gid}/words?per_page=20",
    "/api/words/{wid}",
    "/api/groups",
    "/api/groups/{gid}",
    "/api/study_activities",
    "/api/dashboard/last_study_session",
    "/api/dashboard/study_progress",
    "/api/dashboard/quick_stats",
]

# Each path's goal, in ms: p50 and p99 (None: no p99 goal). The /api GETs and the course's in the
# order its pages open them are "default order"; the course's other sorts only have a p50 goal.
DEFAULT_ORDER, OTHER_SORT = "default order", "other sort"
GOALS = {DEFAULT_ORDER: (5.0, 20.0), OTHER_SORT: (20.0, None)}
WORD_SORTS = ("kanji", "romaji", "english", "correct_count", "wrong_count")
# Every sort key the course's session table sends (handlers/course.py SESSION_SORTS).
SESSION_SORTS = ("id", "activity_name", "group_name", "start_time", "end_time", "review_items_count")


def sorted_pages(prefix: str, keys: tuple[str, ...], default: tuple[str, str]) -> list[tuple[str, str]]:
    """``prefix`` in every sort of ``keys``, both ways: ``default`` (sort_by, order) first, as the
    page opens, then the others."""
    paths = [(f"{prefix}sort_by={default[0]}&order={default[1]}", DEFAULT_ORDER)]
    for key in keys:
        for order in ("asc", "desc"):
            if (key, order) != default:
                paths.append((f"{prefix}sort_by={key}&order={order}", OTHER_SORT))
    return paths


# The course frontend's and Typing Tutor's GETs (handlers/course.py), as its pages send them.
COURSE_ENDPOINTS = [
    ("/dashboard/recent-session", DEFAULT_ORDER),
    ("/dashboard/stats", DEFAULT_ORDER),
    *sorted_pages("/groups?page=1&", ("name", "word_count"), ("name", "asc")),
    ("/groups/{gid}", DEFAULT_ORDER),
    *sorted_pages("/groups/{gid}/words?page=1&", WORD_SORTS, ("kanji", "asc")),
    ("/groups/{gid}/study_sessions?page=1&sort_by=startTime&order=desc", DEFAULT_ORDER),
    *[
        (f"/groups/{{gid}}/study_sessions?page=1&sort_by={key}&order={order}", OTHER_SORT)
        for key in SESSION_SORTS
        for order in ("asc", "desc")
    ],
    # deep pages: the middle one in every order, the last in the default one (the /api list's
    # middle page above starts at the same session)
    (
        "/groups/{gid}/study_sessions?page={gid_course_middle_page}&sort_by=startTime&order=desc",
        DEFAULT_ORDER,
    ),
    ("/groups/{gid}/study_sessions?page={gid_course_last_page}&sort_by=startTime&order=desc", DEFAULT_ORDER),
    *[
        (
            f"/groups/{{gid}}/study_sessions?page={{gid_course_middle_page}}&sort_by={key}&order={order}",
            OTHER_SORT,
        )
        for key in SESSION_SORTS
        for order in ("asc", "desc")
    ],
    ("/groups/{gid}/words/raw", DEFAULT_ORDER),
    ("/api/groups/{gid}/words/raw", DEFAULT_ORDER),
    *sorted_pages("/words?page=1&", WORD_SORTS, ("kanji", "asc")),
    ("/words/{wid}", DEFAULT_ORDER),
    ("/api/study-sessions?page=1&per_page=10", DEFAULT_ORDER),
    ("/api/study-sessions?page=1000&per_page=10", DEFAULT_ORDER),
    ("/api/study-sessions/{sid}?page=1&per_page=10", DEFAULT_ORDER),
    ("/api/study-activities", DEFAULT_ORDER),
    ("/api/study-activities/{aid}", DEFAULT_ORDER),
    ("/api/study-activities/{aid}/sessions?page=1&per_page=10", DEFAULT_ORDER),
    ("/api/study-activities/{aid}/launch", DEFAULT_ORDER),
]
# A course GET -> the /api GET that reads the same thing (page sizes may differ), for the ratios.
COUNTERPARTS = {
    "/dashboard/recent-session": "/api/dashboard/last_study_session",
    "/dashboard/stats": "/api/dashboard/quick_stats",
    "/groups?page=1&sort_by=name&order=asc": "/api/groups",
    "/groups/{gid}": "/api/groups/{gid}",
    "/groups/{gid}/words?page=1&sort_by=kanji&order=asc": "/api/groups/{gid}/words?per_page=20",
    "/groups/{gid}/study_sessions?page=1&sort_by=startTime&order=desc": (
        "/api/groups/{gid}/study_sessions?per_page=5"
    ),
    "/groups/{gid}/study_sessions?page={gid_course_middle_page}&sort_by=startTime&order=desc": (
        "/api/groups/{gid}/study_sessions?page={gid_middle_page}&per_page=5"
    ),
    "/words?page=1&sort_by=kanji&order=asc": "/api/words?per_page=20",
    "/words/{wid}": "/api/words/{wid}",
    "/api/study-sessions?page=1&per_page=10": "/api/study_sessions?per_page=10",
    "/api/study-sessions/{sid}?page=1&per_page=10": "/api/study_sessions/{sid}/words",
    "/api/study-activities": "/api/study_activities",
    "/api/study-activities/{aid}/sessions?page=1&per_page=10": (
        "/api/study_activities/{aid}/study_sessions?per_page=5"
    ),
}


def meets(goal: str, p50: float, p99: float) -> bool:
    p50_goal, p99_goal = GOALS[goal]
    return p50 < p50_goal and (p99_goal is None or p99 < p99_goal)


def goal_text(goal: str) -> str:
    p50_goal, p99_goal = GOALS[goal]
    return f"p50<{p50_goal:g}" + (f" p99<{p99_goal:g}" if p99_goal is not None else "")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def load(dsn: str, sessions: int, reviews: int, reuse: bool) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)  # no statement timeout: the bulk load takes a while
    try:
        queries = portaldb.load_queries()
        await portaldb.migrate(conn, queries)
        held = await conn.fetchrow(LOAD_SQL.history_size)
        if reuse and held["sessions"] >= sessions and held["reviews"] >= reviews:
            print(f"reusing the history there: {held['sessions']:,} sessions, {held['reviews']:,} reviews")
        else:
            await portaldb.restore_demo(conn, queries)
            started = time.perf_counter()
            await conn.execute(LOAD_SQL.load_sessions, sessions)
            print(f"loaded {sessions:,} sessions in {time.perf_counter() - started:.1f} s", flush=True)
            started = time.perf_counter()
            await conn.execute(LOAD_SQL.load_reviews, reviews)
            print(f"loaded {reviews:,} reviews in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        await conn.execute(LOAD_SQL.analyze)
        print(f"VACUUM ANALYZE in {time.perf_counter() - started:.1f} s", flush=True)
        return dict(await conn.fetchrow(LOAD_SQL.bench_ids))
    finally:
        await conn.close()


async def measure(dsn: str, ids: dict[str, int], requests: int, warmup: int, passes: int = 1) -> list[dict]:
    """Each endpoint ``requests`` times, in ``passes`` passes over all of them (each pass an equal
    share of the requests, the --warmup untimed ones before the first), so a burst of other work on
    the machine falls on many endpoints a little rather than on a few wholly."""
    pool = await portaldb.create_pool(dsn, min_size=2, max_size=4, connect_timeout=10, statement_timeout=30)
    app = make_app(pool)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    base = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    results = []
    try:
        endpoints = [
            *[(template, "/api", DEFAULT_ORDER) for template in ENDPOINTS],
            ("cursor walk: /api/study_sessions?per_page=100 -> next_cursor", "/api", DEFAULT_ORDER),
            *[(template, "course", goal) for template, goal in COURSE_ENDPOINTS],
        ]
        width = max(len(template.format(**ids)) for template, _, _ in endpoints)
        walk_start = "/api/study_sessions?per_page=100"
        # per endpoint: its samples, the size of its last answer, and the cursor walk's next page
        # (None once a server without cursors answered without one)
        state = {template: {"samples": [], "bytes": 0, "next": walk_start} for template, _, _ in endpoints}
        shares = [requests // passes + (1 if i < requests % passes else 0) for i in range(passes)]
        for pass_number, share in enumerate(shares):
            for template, _, _ in endpoints:
                path, seen = template.format(**ids), state[template]
                cursor_walk = path.startswith("cursor walk")
                for i in range((warmup if pass_number == 0 else 0) + share):
                    if cursor_walk and seen["next"] is None:
                        break
                    started = time.perf_counter()
                    response = await client.fetch(
                        base + (seen["next"] if cursor_walk else path), raise_error=False
                    )
                    elapsed = 1000 * (time.perf_counter() - started)
                    if response.code != 200:
                        raise SystemExit(f"{path} answered {response.code}: {response.body[:200]!r}")
                    seen["bytes"] = len(response.body)
                    if cursor_walk:
                        cursor = json.loads(response.body)["pagination"].get("next_cursor")
                        # none: a server without cursors (the code before issue 12), or the walk's end
                        seen["next"] = None if cursor is None else f"{walk_start}&cursor={cursor}"
                    if i >= (warmup if pass_number == 0 else 0):
                        seen["samples"].append(elapsed)
        print(
            f"\n{'GET (one client)':{width}} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
            f"{'goal':13} {'met':3}  {'bytes':>6}  goal kind"
        )
        for template, routes, goal in endpoints:
            path, samples = template.format(**ids), state[template]["samples"]
            if not samples:
                continue
            p50, p99 = statistics.median(samples), percentile(samples, 0.99)
            met = meets(goal, p50, p99)
            print(
                f"{path:{width}} {p50:7.1f} {p99:7.1f} {max(samples):7.1f} {goal_text(goal):13} "
                f"{'yes' if met else 'NO':3}  {state[template]['bytes']:6}  {goal}"
            )
            results.append(
                {
                    "path": path,
                    "template": template,
                    "routes": routes,
                    "goal": goal,
                    "goal_ms": dict(zip(("p50", "p99"), GOALS[goal], strict=True)),
                    "met": met,
                    "p50_ms": p50,
                    "p99_ms": p99,
                    "max_ms": max(samples),
                    "requests": len(samples),
                }
            )
    finally:
        client.close()
        server.stop()
        await pool.close()
    print(compare(results))
    return results


def compare(results: list[dict]) -> str:
    """The goals met, and the course's GETs against the /api ones of the same run: the median p50
    of each set, and each course GET over the /api GET that reads the same thing."""
    missed = [r["path"] for r in results if not r["met"]]
    lines = [
        f"goals met: {len(results) - len(missed)} of {len(results)}"
        + (f"; missed: {', '.join(missed)}" if missed else "")
    ]
    p50 = {r["template"]: r["p50_ms"] for r in results}

    def median_of(routes: str, goal: str | None = None) -> float:
        return statistics.median(
            r["p50_ms"] for r in results if r["routes"] == routes and goal in (None, r["goal"])
        )

    api = median_of("/api")
    for goal in (DEFAULT_ORDER, OTHER_SORT):
        if any(r["routes"] == "course" and r["goal"] == goal for r in results):
            course = median_of("course", goal)
            lines.append(
                f"median p50: course, {goal} {course:.1f} ms / /api {api:.1f} ms = x{course / api:.2f}"
            )
    pairs = [(c, a) for c, a in COUNTERPARTS.items() if c in p50 and a in p50]
    if pairs:
        lines.append("p50, course / its /api counterpart:")
        lines.extend(f"  {c} / {a}: x{p50[c] / p50[a]:.2f}" for c, a in pairs)
        ratios = [p50[c] / p50[a] for c, a in pairs]
        lines.append(f"  median of the {len(pairs)} pairs: x{statistics.median(ratios):.2f}")
    return "\n".join(lines)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wrk(script: str, url: str, args: list[str], connections: int, duration: int) -> dict:
    command = [
        "wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s",
        str(Path(__file__).parent / script), url, "--", *args,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            result = json.loads(line.removeprefix("BENCH_RESULT "))
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            return result
    raise SystemExit(f"wrk printed no BENCH_RESULT line:\n{done.stdout}\n{done.stderr}")


def describe(name: str, result: dict) -> str:
    statuses = result["statuses"]
    cpu = result.get("cpu_ms_per_request", {})
    cpu_text = "  ".join(
        f"{who} {cpu[who]:.3f}" for who in ("server", "database", "load_tool") if cpu.get(who) is not None
    )
    non_2xx = sum(count for status, count in statuses.items() if not status.startswith("2"))
    p = result["latency_us"]["percentiles"]
    shown = {k: ("timeout" if v < 0 else f"{v / 1000:.1f}") for k, v in p.items()}
    return (
        f"{name:10} {result['rps']:8.0f} req/s  p50 {shown['50']} ms  p99 {shown['99']} ms  "
        f"timeouts {result['errors']['timeout']}  non-2xx {non_2xx}  statuses {statuses}"
        + (f"\n{'':10} CPU ms per request: {cpu_text}" if cpu_text else "")
    )


async def database_pid(dsn: str) -> int | None:
    """The database's main process when it runs on this machine (for its CPU time), else None."""
    conn = await asyncpg.connect(dsn)
    try:
        backend = await conn.fetchval(LOAD_SQL.backend_pid)
        return postmaster_pid(dsn, lambda: backend)  # while the backend lives
    finally:
        await conn.close()


async def settle(dsn: str, limit: float = 60.0) -> float:
    """Before each wrk run: VACUUM (ANALYZE) the tables the runs write, CHECKPOINT, and wait (up to
    ``limit`` s) for autovacuum in this database to end, so no run pays for the rows the run before
    it added (a POST-only run adds 200,000 sessions; the mix always followed one). Seconds taken."""
    started = time.monotonic()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(LOAD_SQL.settle_written)
        await conn.execute(LOAD_SQL.checkpoint)
        while time.monotonic() - started < limit:
            if not await conn.fetchval(LOAD_SQL.autovacuum_workers):
                break
            await asyncio.sleep(0.25)
    finally:
        await conn.close()
    return time.monotonic() - started


# The mix's kinds in bench/mix.lua's order, with its shares: each alone is that kind's weight 100.
KINDS = (
    ("POST session", 0.70),
    ("POST review", 0.20),
    ("GET sessions", 0.05),
    ("GET stats", 0.05),
)


def mix(
    dsn: str, ids: dict[str, int], duration: int, connections: int, rounds: int, by_kind: bool = False
) -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or run with --no-mix)")
    port = free_port()
    command = [
        sys.executable, str(ROOT / "server.py"), "--host", "127.0.0.1", "--port", str(port),
        "--database-url", dsn, "--processes", "2", "--log-level", "WARNING",
    ]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"server.py did not start:\n{server.stderr.read()}") from None
                time.sleep(0.2)
        url = f"http://127.0.0.1:{port}"
        post_args = [str(ids["groups"]), str(ids["activities"])]
        mix_args = [*post_args, str(ids["words"]), str(ids["first_session"]), str(ids["last_session"])]
        print(f"\nwrk, {connections} connections, {duration} s each, server.py --processes 2")
        meter = CpuMeter(server.pid, asyncio.run(database_pid(dsn)))
        wrk("post_session.lua", url + "/api/study_sessions", post_args, 64, 3)  # warm-up, not counted
        runs: dict[str, list[dict]] = {"POST only": [], "mix": []}
        post = ("POST only", "post_session.lua", url + "/api/study_sessions", post_args)
        order = [post, *[("mix", "mix.lua", url, mix_args), post] * rounds]

        def measured(script: str, target: str, args: list[str]) -> dict:
            asyncio.run(settle(dsn))
            before = meter.snapshot(with_server=True)
            result = wrk(script, target, args, connections, duration)
            used = CpuMeter.used(before, meter.snapshot(with_server=True))
            result["cpu_ms_per_request"] = used.per(result["requests"])
            return result

        for name, script, target, args in order:  # alternating, so drift hits both alike
            runs[name].append(measured(script, target, args))
            print(describe(name, runs[name][-1]), flush=True)
        post_only = statistics.mean(r["rps"] for r in runs["POST only"])
        mixed = statistics.mean(r["rps"] for r in runs["mix"])
        ratio = mixed / post_only
        print(
            f"mix {mixed:.0f} req/s / POST-only {post_only:.0f} req/s (means of the runs above): "
            f"{ratio:.2f} (target >= 0.80)"
        )
        report = {"runs": runs, "ratio": ratio}
        if by_kind:
            report["kinds"] = kinds(measured, url, mix_args, runs["mix"])
        return report
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def kinds(
    measured: Callable[[str, str, list[str]], dict], url: str, mix_args: list[str], mixes: list[dict]
) -> dict[str, dict]:
    """One wrk run per kind of the mix, alone; then the CPU the mix would cost per request if each
    kind cost what it costs alone, beside what the mix runs measured."""
    print("\neach kind of the mix alone")
    alone = {}
    for i, (name, _share) in enumerate(KINDS):
        weights = ",".join("100" if j == i else "0" for j in range(len(KINDS)))
        alone[name] = measured("mix.lua", url, [*mix_args, weights])
        print(describe(name, alone[name]), flush=True)
    for who in ("server", "database"):
        costs = [alone[name]["cpu_ms_per_request"].get(who) for name, _ in KINDS]
        mixed = [r["cpu_ms_per_request"].get(who) for r in mixes]
        if None in costs or None in mixed:
            continue
        weighted = sum(cost * share for cost, (_, share) in zip(costs, KINDS, strict=True))
        print(
            f"{who} CPU ms per request: the kinds alone, weighted by the mix's shares "
            f"{weighted:.3f}; the mix runs {', '.join(f'{m:.3f}' for m in mixed)}"
        )
    return alone


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
        sessions, reviews = (100_000, 1_000_000) if args.small else (args.sessions, args.reviews)
        ids = await load(dsn, sessions, reviews, args.reuse)
        report = {"sessions": sessions, "reviews": reviews}
        report["get"] = await measure(dsn, ids, args.requests, args.warmup, args.passes)
        if not args.no_mix:
            report["wrk"] = await asyncio.to_thread(
                mix, dsn, ids, args.duration, args.connections, args.rounds, args.by_kind
            )
        if args.json:
            text = json.dumps(report, indent=2) + "\n"
            await asyncio.to_thread(Path(args.json).write_text, text, encoding="utf-8")
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000, help="study sessions to add (1,000,000)")
    parser.add_argument("--reviews", type=int, default=10_000_000, help="reviews to add (10,000,000)")
    parser.add_argument("--small", action="store_true", help="100,000 sessions and 1,000,000 reviews instead")
    parser.add_argument(
        "--reuse", action="store_true", help="keep a database that holds that history already"
    )
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint (200)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests first (10)")
    parser.add_argument(
        "--passes", type=int, default=4, help="passes over every endpoint, the requests shared among them (4)"
    )
    parser.add_argument("--no-mix", action="store_true", help="only the GET latencies, no wrk runs")
    parser.add_argument("--duration", type=int, default=15, help="seconds of each wrk run (15)")
    parser.add_argument("--connections", type=int, default=256, help="wrk connections (256)")
    parser.add_argument("--rounds", type=int, default=2, help="mix runs, each between two POST-only runs (2)")
    parser.add_argument("--by-kind", action="store_true", help="also run each kind of the mix alone")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--wipe", action="store_true", help="agree to replace the data of DATABASE_URL")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
