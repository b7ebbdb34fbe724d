"""Load benchmark for POST /api/study_sessions, measured against the database's own ceiling.

    python bench/run.py                               # embedded PostgreSQL, 64/256/1000 connections, 15 s
    python bench/run.py --duration 3                  # a quick look
    python bench/run.py --database-url postgresql://postgres@127.0.0.1:5432/bench_dev

This file is the entry point: it sets the stage and runs the phases in order. One benchmark loads
a fixed data set, starts ``server.py`` as a user would, then for each concurrency runs two phases,
one after the other (order alternating per level, so drift on a shared machine hits all alike):

- the ceiling: pgbench -M prepared running the endpoint's own SQL (create_study_sessions, loaded
  with portaldb from sql/queries) with random existing ids, at min(connections, 256) clients;
- the server: wrk posting random valid bodies at that many connections, default settings (the
  access log on);
- the floor: the same wrk load against bench/floor.py, Tornado + uvloop in as many processes,
  answering a fixed 201 after json.loads: the most this HTTP stack can do (issue 11).

It prints throughput, latency, errors, CPU time per request and a lost-writes check per level,
then a table and the targets of issues 3 and 11 with PASS/FAIL, and writes every figure as JSON to
bench/results/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shlex
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

# `python bench/run.py` puts bench/ first on the path, where its modules would pass for top-level
# ones (`options`, `database`...); the checkout's root takes its place, so `bench` and `tests` (for
# the server process) are imported as packages, beside the checkout's `langportal`.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import asyncpg  # noqa: E402

from bench import BenchError, say  # noqa: E402
from bench.cpu import CpuMeter  # noqa: E402
from bench.database import Database  # noqa: E402
from bench.options import parse_args  # noqa: E402
from bench.phases import Phases  # noqa: E402
from bench.processes import (  # noqa: E402
    HOST,
    Floor,
    Tools,
    database,
    find_tools,
    free_port,
    git_revision,
    log_tail,
    raise_open_files_limit,
    server_help,
    stop_server,
    wait_answering,
)
from bench.report import check_targets, report_ceiling, report_server, summary, write_results  # noqa: E402
from langportal import portaldb  # noqa: E402
from tests.servers import Server  # noqa: E402


def benchmark(args: argparse.Namespace) -> int:
    """One whole benchmark: tools, database, server, every level's phases, the results."""
    tools = find_tools()
    help_text = server_help()
    long_phase = max(args.duration, 30)
    estimate = 10 + 2 * args.warmup
    for connections in args.connections:
        estimate += args.duration + 2 * (long_phase if connections >= 5000 else args.duration) + 6
    say(
        f"bench/run.py: POST /api/study_sessions at {','.join(map(str, args.connections))} connections, "
        f"{args.duration} s per phase; about {estimate:.0f} s"
    )
    say(f"  commit {git_revision()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    say(
        f"  {tools.wrk_version.split(' Copyright')[0]} ({tools.wrk}); "
        f"{tools.pgbench_version} ({tools.pgbench})"
    )
    server_flags: list[str] = []
    for option, value in (("--processes", args.processes), ("--pool-size", args.pool_size)):
        if re.search(rf"{option}\b", help_text):
            server_flags += [option, str(value)]
        else:
            say(f"  note: this server.py has no {option} option; {option} {value} is not passed")
    processes = args.processes if "--processes" in server_flags else 1
    server_connections = processes * args.pool_size
    raise_open_files_limit(max(args.connections))

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="langportal-bench-") as tmp:
        work_dir = Path(tmp)
        os.chmod(work_dir, 0o755)  # the embedded PostgreSQL runs as its own user and must enter it
        with database(args, work_dir, server_connections) as (dsn, db_description):
            db = Database(dsn)
            try:
                return measure(args, tools, db, db_description, server_flags, work_dir, started)
            finally:
                db.close()


def measure(
    args: argparse.Namespace,
    tools: Tools,
    db: Database,
    db_description: str,
    server_flags: list[str],
    work_dir: Path,
    started: float,
) -> int:
    """Load the data set, start the server, run each level's two phases, report and write results."""
    info = db.fetchrow("database_info")
    groups, activities = db.migrate_and_load()
    say(
        f"  PostgreSQL {info['server_version']}, database {info['database']}; data set: {groups} groups, "
        f"{activities} study activities, empty study_sessions"
    )
    port = args.port or free_port()
    server_args = [
        "--host", HOST, "--port", str(port), "--database-url", db.dsn,
        *server_flags, *args.server_args,
    ]  # fmt: skip
    say(f"server: python server.py {' '.join(shlex.quote(portaldb.redact(part)) for part in server_args)}")
    server = Server(*server_args)
    levels: list[dict[str, Any]] = []
    metrics_cost: dict[str, Any] | None = None
    floor: Floor | None = None
    try:
        wait_answering(server, port)
        say(f"  answering on http://{HOST}:{port}")
        floor_port = free_port()
        say(f"floor: python bench/floor.py --host {HOST} --port {floor_port} --processes {args.processes}")
        floor = Floor(floor_port, args.processes)
        floor.wait_answering()
        meter = CpuMeter(server.process.pid, db.postmaster_pid())
        if meter.database_pid is None:
            say("  note: the database does not run on this machine; its CPU time is not measured")
        floor_meter = CpuMeter(floor.process.pid, None)
        phases = Phases(
            args, tools, db, server, port, meter, floor_port, floor_meter, work_dir, groups, activities
        )
        phases.warm_up()
        for index, connections in enumerate(args.connections):
            levels.append(measure_level(phases, server, connections, ceiling_first=index % 2 == 0))
        if args.metrics_cost:
            metrics_cost = measure_metrics_cost(args, phases, server_args, port)
    finally:
        if floor is not None:
            floor.stop()
        say("\nstopping the server (SIGTERM)")
        server_code, output = stop_server(server)
        if server_code != 0:
            say(f"  the server exited with code {server_code}; its last output:\n{log_tail(output)}")

    targets = check_targets(levels)
    text = summary(levels, targets, time.monotonic() - started)
    say()
    for line in text:
        say(line)
    figures = {
        "command": sys.argv,
        "commit": git_revision(),
        "cores": os.cpu_count(),
        "duration_s": args.duration,
        "database": db_description,
        "server_command": ["python", "server.py", *(portaldb.redact(part) for part in server_args)],
        "server_exit_code": server_code,
        "tools": asdict(tools),
        "data_set": {"groups": groups, "study_activities": activities},
        "levels": [
            {
                "connections": level["connections"],
                "order": level["order"],
                "ceiling": asdict(level["ceiling"]),
                "server": asdict(level["server"]),
                "floor": asdict(level["floor"]),
                "server_per_floor": ratio(level["server"].req_s, level["floor"].req_s),
                "server_per_ceiling": ratio(level["server"].req_s, level["ceiling"].tps),
            }
            for level in levels
        ],
        "targets": targets,
        "metrics_cost": metrics_cost,
    }
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = write_results(figures, text, args.json, stamp)
    say(f"\nwrote {path} and {path.with_suffix('.txt').name} beside it")
    return 0


def measure_metrics_cost(
    args: argparse.Namespace, on: Phases, server_args: list[str], port: int
) -> dict[str, Any]:
    """What GET /metrics costs (issue 9): wrk at ``--metrics-cost`` connections against this server
    (metrics on) and a second, identical one but for ``--metrics off``, on, off, off, on, on, off,
    so drift on a shared machine hits both alike."""
    connections = args.metrics_cost
    say(f"\n== metrics cost: {connections} connections, metrics on against off ==")
    off_port = free_port()
    off_args = [*server_args, "--metrics", "off"]
    off_args[off_args.index("--port") + 1] = str(off_port)
    say(f"  second server: python server.py ... --port {off_port} --metrics off")
    off_server = Server(*off_args)
    try:
        wait_answering(off_server, off_port)
        meter = CpuMeter(off_server.process.pid, on.db.postmaster_pid())
        work_dir = on.pgbench_file.parent
        off = Phases(
            args, on.tools, on.db, off_server, off_port, meter, on.floor_port, on.floor_meter,
            work_dir, on.groups, on.activities,
        )  # fmt: skip
        rates: dict[str, list[float]] = {"on": [], "off": []}
        cpu: dict[str, list[float]] = {"on": [], "off": []}
        for label in ("on", "off", "off", "on", "on", "off"):
            on.db.settle()
            result = (on if label == "on" else off).server_load(connections)
            server_cpu = result.cpu_ms_per_request.get("server")
            say(
                f"  metrics {label}: {result.req_s or 0:,.0f} req/s, "
                f"server CPU {server_cpu or 0:.4f} ms per request"
            )
            rates[label].append(result.req_s or 0.0)
            if server_cpu:
                cpu[label].append(server_cpu)
    finally:
        stop_server(off_server)
    mean = {label: sum(values) / len(values) for label, values in rates.items()}
    ratio = mean["on"] / mean["off"] if mean["off"] else None
    cpu_mean = {label: sum(values) / len(values) if values else None for label, values in cpu.items()}
    cpu_ratio = cpu_mean["on"] / cpu_mean["off"] if cpu_mean["on"] and cpu_mean["off"] else None
    if ratio is not None:
        say(
            f"  metrics on / off: {100 * ratio:.1f}% of the req/s "
            f"({mean['on']:,.0f} against {mean['off']:,.0f})"
        )
    if cpu_ratio is not None:
        say(
            f"  server CPU per request, on / off: {100 * cpu_ratio:.1f}% "
            f"({cpu_mean['on']:.4f} against {cpu_mean['off']:.4f} ms; metrics cost "
            f"{100 * (cpu_ratio - 1):+.1f}% of the server's CPU)"
        )
    return {
        "connections": connections,
        "req_s": rates,
        "on_over_off": ratio,
        "server_cpu_ms_per_request": cpu,
        "server_cpu_on_over_off": cpu_ratio,
    }


def ratio(value: float | None, reference: float | None) -> float | None:
    return value / reference if value and reference else None


def measure_level(phases: Phases, server: Server, connections: int, *, ceiling_first: bool) -> dict[str, Any]:
    """The three phases at one concurrency, in the order given (ceiling, server, floor, or the
    reverse); the server must survive each."""
    say(f"\n== {connections} connections ==")
    order = ("ceiling", "server", "floor") if ceiling_first else ("floor", "server", "ceiling")
    level: dict[str, Any] = {"connections": connections, "order": list(order)}
    for phase in order:
        say(f"  settling the database: {phases.db.settle()}")
        if phase == "ceiling":
            level["ceiling"] = phases.ceiling(connections)
            report_ceiling(level["ceiling"])
        elif phase == "floor":
            level["floor"] = phases.floor_load(connections)
            report_server(level["floor"], level.get("ceiling"), level.get("server"))
        else:
            level["server"] = phases.server_load(connections)
            report_server(level["server"], level.get("ceiling"), level.get("floor"))
        if server.process.poll() is not None:
            raise BenchError(
                f"the server exited with code {server.process.returncode} during the benchmark:\n"
                f"{log_tail(server.output)}"
            )
    if not ceiling_first:  # the server's ratio needs the ceiling measured after it
        ceiling, result = level["ceiling"], level["server"]
        if ceiling.tps and result.req_s:
            say(f"    server/ceiling: {100 * result.req_s / ceiling.tps:.1f}%")
    return level


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return benchmark(args)
    except (BenchError, portaldb.EmbeddedPostgresError) as exc:
        print(f"bench/run.py: error: {exc}", file=sys.stderr)
        return 2
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        print(f"bench/run.py: error: the database failed during the benchmark: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench/run.py: interrupted; the server and database were stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
