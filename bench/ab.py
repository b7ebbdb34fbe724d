"""A/B: this checkout's server against another's (say, main's), in alternating wrk phases of one run.

    python bench/ab.py --baseline /tmp/main-checkout --database-url postgresql://postgres@127.0.0.1/bench

``--baseline`` is another checkout of this project with its own virtualenv (``.venv`` inside it,
``pip install -e .`` there). Both servers run at once on their own ports, against the same
database (its portal tables are EMPTIED and loaded with the bench's data set, as bench/run.py
does), with the same options; then wrk (bench/post_session.lua) loads one, then the other,
alternating for ``--rounds`` rounds, so drift on a shared machine hits both alike. It prints each
phase's req/s, p99, the server's CPU ms per request (from /proc) and the database's (its whole
server, every database in it, when it runs on this machine: the phases' triggers show there),
and the ratios B/A.
``--kind session-list`` sends ``GET /api/study_sessions?per_page=10`` instead (bench/mix.lua with
that kind alone), the read of issue 12's mix, after two seconds of launches through each server
make sessions to list. ``--kind mix`` sends bench/mix.lua's frontend-like mix (70% launches, 20%
answers, 5% session lists, 5% quick stats) and ``--kind reviews`` its answers alone: each database
then gets 100 words too (the same in both), and the answers name sessions 1..1000, made by the
launches before the warm-up.

When the two differ in their migrations (a table, a trigger), give the baseline a database of
its own with ``--baseline-database-url``: the schema and its triggers live in the database, so on
a shared one both servers would run the newer schema (and the baseline refuses migrations it does
not know). That database is prepared by the baseline checkout's own code.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # as bench/run.py: `bench` as a package

from bench import BenchError, say  # noqa: E402
from bench.cpu import tree_cpu_seconds  # noqa: E402
from bench.database import Database  # noqa: E402
from bench.phases import LUA_SCRIPT  # noqa: E402
from bench.processes import HOST, free_port, raise_open_files_limit, wait_http, wrk_preexec  # noqa: E402

HERE = Path(__file__).resolve().parent.parent


def start(
    checkout: Path, python: Path, port: int, dsn: str, extra: list[str]
) -> tuple[subprocess.Popen, Path]:
    log = Path(tempfile.mkstemp(prefix="langportal-ab-", suffix=".log")[1])
    process = subprocess.Popen(
        [
            str(python),
            str(checkout / "server.py"),
            "--host",
            HOST,
            "--port",
            str(port),
            "--database-url",
            dsn,
            *extra,
        ],
        stdin=subprocess.DEVNULL,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        cwd=checkout,
        start_new_session=True,
    )
    return process, log


def prepare_with(checkout: Path, python: Path, dsn: str) -> None:
    """The bench's database preparation (migrations, data set) as ``checkout``'s own code does it."""
    script = (
        "import sys; from bench.database import Database; "
        "d = Database(sys.argv[1]); d.migrate_and_load(); d.close()"
    )
    finished = subprocess.run(
        [str(python), "-c", script, dsn],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if finished.returncode != 0:
        raise BenchError(f"the baseline could not prepare its database:\n{finished.stderr[-2000:]}")


def wait_answering(port: int, process: subprocess.Popen, log: Path) -> None:
    wait_http(process, port, log.read_text)


# What each --kind sends: wrk's script, the path, the script's arguments (bench/*.lua).
REVIEWED_SESSIONS = 1000  # answers name sessions 1..1000 and words 1..100
KINDS = {
    "launches": (LUA_SCRIPT, "/api/study_sessions", ["100", "10"]),
    "session-list": (HERE / "bench" / "mix.lua", "", ["100", "10", "100", "1", "1", "0,0,100,0"]),
    "mix": (HERE / "bench" / "mix.lua", "", ["100", "10", "100", "1", str(REVIEWED_SESSIONS)]),
    "reviews": (
        HERE / "bench" / "mix.lua",
        "",
        ["100", "10", "100", "1", str(REVIEWED_SESSIONS), "0,100,0,0"],
    ),
}
ANSWERING_KINDS = ("mix", "reviews")


def add_words(dsn: str) -> None:
    """100 words (ids 1..100 after the data set's RESTART IDENTITY), for the answers to name."""
    db = Database(dsn)
    try:
        db.execute("load_words")
    finally:
        db.close()


def check_sessions(dsn: str) -> None:
    """The sessions the answers name exist (the launches before the warm-up made them)."""
    db = Database(dsn)
    try:
        last = db.fetchval("last_study_session_id")
    finally:
        db.close()
    if last < REVIEWED_SESSIONS:
        raise BenchError(f"only {last} sessions to answer in, not {REVIEWED_SESSIONS}: launch more first")


def load(
    port: int, pid: int, connections: int, seconds: int, kind: str = "launches", db_pid: int | None = None
) -> dict[str, float]:
    script, path, script_args = KINDS[kind]
    before = tree_cpu_seconds(pid) or 0.0
    db_before = tree_cpu_seconds(db_pid)
    finished = subprocess.run(
        [
            "wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout=10s", "--latency",
            "-s", str(script), f"http://{HOST}:{port}{path}", "--", *script_args,
        ],
        capture_output=True, text=True, check=False, timeout=seconds + 60, preexec_fn=wrk_preexec,
    )  # fmt: skip
    cpu = (tree_cpu_seconds(pid) or 0.0) - before
    db_after = tree_cpu_seconds(db_pid)
    match = re.search(r"^BENCH_RESULT (\{.*\})$", finished.stdout, re.MULTILINE)
    if not match:
        raise BenchError(f"wrk failed:\n{finished.stdout[-1000:]}{finished.stderr[-1000:]}")
    stats = json.loads(match[1])
    answered = stats["requests"]
    good = sum(v for k, v in stats["statuses"].items() if 200 <= int(k) < 300)
    errors = sum(stats["errors"][k] for k in ("connect", "read", "write", "timeout"))
    return {
        "req_s": answered / (stats["duration_us"] / 1e6),
        "p99_ms": stats["latency_us"]["percentiles"]["99"] / 1000,
        "cpu_ms": 1000 * cpu / max(answered, 1),
        "db_cpu_ms": (
            1000 * (db_after - db_before) / max(answered, 1)
            if db_before is not None and db_after is not None
            else None
        ),
        "non_2xx": answered - good,
        "socket_errors": errors,
    }


def _server(dsn: str) -> tuple[str | None, int | None]:
    parts = urlsplit(dsn)
    return parts.hostname, parts.port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/ab.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout (with .venv/)")
    parser.add_argument(
        "--candidate", type=Path, help="the checkout to compare with it (with .venv/; default: this one)"
    )
    parser.add_argument(
        "--database-url", required=True, help="a database of its own: its portal tables are EMPTIED"
    )
    parser.add_argument(
        "--baseline-database-url",
        help="the baseline's own database (EMPTIED too), when the two differ in their migrations",
    )
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--duration", type=int, default=10, help="seconds per phase (default 10)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server-args", default="--processes 2 --pool-size 8")
    parser.add_argument(
        "--kind", choices=sorted(KINDS), default="launches", help="what wrk sends (default: launches)"
    )
    args = parser.parse_args(argv)
    raise_open_files_limit(args.connections)
    db = Database(args.database_url)
    try:
        db.migrate_and_load()
        db_pid = db.postmaster_pid()
    finally:
        db.close()
    if args.baseline_database_url and _server(args.baseline_database_url) != _server(args.database_url):
        db_pid = None  # the database CPU of only one of the two: not shown
    extra = args.server_args.split()
    python_b = args.baseline / ".venv" / "bin" / "python"
    baseline_dsn = args.database_url
    if args.baseline_database_url:
        baseline_dsn = args.baseline_database_url
        prepare_with(args.baseline, python_b, baseline_dsn)
    if args.kind in ANSWERING_KINDS:
        for dsn in {args.database_url, baseline_dsn}:
            add_words(dsn)
    servers = {
        "A (baseline)": start(args.baseline, python_b, free_port(), baseline_dsn, extra),
        "B (this checkout)": start(
            args.candidate or HERE,
            args.candidate / ".venv" / "bin" / "python" if args.candidate else Path(sys.executable),
            free_port(),
            args.database_url,
            extra,
        ),
    }
    ports = {name: int(proc.args[proc.args.index("--port") + 1]) for name, (proc, _) in servers.items()}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    try:
        for name, (proc, log) in servers.items():
            wait_answering(ports[name], proc, log)
            if args.kind != "launches":  # sessions to list or answer in: a few thousand launches
                load(ports[name], proc.pid, 64, 2, "launches")
            if args.kind in ANSWERING_KINDS:
                check_sessions(baseline_dsn if name == "A (baseline)" else args.database_url)
            load(ports[name], proc.pid, 64, 2, args.kind)  # warm-up
        say(
            f"A/B of {args.kind} at {args.connections} connections, {args.duration} s phases, "
            f"{args.rounds} rounds; {extra}"
        )
        for round_number in range(args.rounds):
            order = list(servers) if round_number % 2 == 0 else list(reversed(servers))
            for name in order:
                result = load(
                    ports[name], servers[name][0].pid, args.connections, args.duration, args.kind, db_pid
                )
                results[name].append(result)
                say(
                    f"  round {round_number + 1} {name}: {result['req_s']:,.0f} req/s, "
                    f"p99 {result['p99_ms']:.1f} ms, server CPU {result['cpu_ms']:.3f} ms/request, "
                    + (
                        f"database CPU {result['db_cpu_ms']:.3f} ms/request, "
                        if result["db_cpu_ms"] is not None
                        else ""
                    )
                    + f"non-2xx {result['non_2xx']:.0f}, "
                    f"socket errors {result['socket_errors']:.0f}"
                )
    finally:
        for proc, log in servers.values():
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
            log.unlink(missing_ok=True)
    a, b = results["A (baseline)"], results["B (this checkout)"]
    req = statistics.median(y["req_s"] / x["req_s"] for x, y in zip(a, b, strict=True))
    cpu = statistics.median(y["cpu_ms"] / x["cpu_ms"] for x, y in zip(a, b, strict=True))
    text = f"B/A, median of the rounds: req/s x{req:.2f}; server CPU per request x{cpu:.2f}"
    if all(r["db_cpu_ms"] for r in a + b):
        db_cpu = statistics.median(y["db_cpu_ms"] / x["db_cpu_ms"] for x, y in zip(a, b, strict=True))
        text += f"; database CPU per request x{db_cpu:.2f}"
    say(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench/ab.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
