"""What the pooler mode costs, and what several instances give (issue 10), in one run.

    python -m bench.pooler --database-url postgresql://postgres@127.0.0.1:5432/bench_pooler
    python -m bench.pooler --database-url ... --cluster     # also 3 instances behind HAProxy

Measures POST /api/study_sessions and GET /api/groups/1 with wrk (``--connections``, each phase
``--duration`` seconds, the order alternating between rounds) against:

- **direct**: one ``server.py --processes 1`` connected to the database directly;
- **pooler**: one ``server.py --processes 1 --database-pooler transaction`` through a PgBouncer 1.18
  (tests/pgbouncer.py, transaction mode, 8 server connections) in front of the same database;
- **cluster** (``--cluster``, root only): deploy/cluster.sh with 3 instances through PgBouncer to a
  fresh PostgreSQL 15 in a namespace of its own, behind HAProxy, wrk in the client namespace.

Prints req/s and p99 for each, and the ratios to direct. **The database's portal tables are
emptied** (give it a database of its own). Everything runs on this machine and shares its cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.pgbouncer import PgBouncer, free_port
from tests.servers import Server

from .database import Database

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "post_session.lua"
CLUSTER = ROOT / "deploy" / "cluster.sh"


def wait_answering(url: str, server: Server | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if server is not None and server.process.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer: {server.output if server else ''}")


def wrk(
    base: list[str], url: str, method: str, connections: int, seconds: float, groups: int, activities: int
) -> dict[str, Any]:
    command = [*base, "wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    if method == "POST":
        command += ["-s", str(LUA), f"{url}/api/study_sessions", "--", str(groups), str(activities)]
    else:
        command += [f"{url}/api/groups/1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed: {done.stdout}{done.stderr}")
    if method == "POST":
        stats = json.loads(re.search(r"^BENCH_RESULT (\{.*\})$", done.stdout, re.MULTILINE)[1])
        ok = sum(v for k, v in stats["statuses"].items() if 200 <= int(k) < 300)
        return {
            "req_s": round(stats["requests"] / (stats["duration_us"] / 1e6), 1),
            "p99_ms": round(stats["latency_us"]["percentiles"]["99"] / 1000, 2),
            "non_2xx": stats["requests"] - ok,
        }
    req_s = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)[1])
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", done.stdout, re.MULTILINE).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    return {"req_s": req_s, "p99_ms": round(p99, 2), "non_2xx": int(non_2xx[1]) if non_2xx else 0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pooler", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL"), required=not os.environ.get("DATABASE_URL")
    )
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cluster", action="store_true")
    args = parser.parse_args(argv)

    db = Database(args.database_url)
    try:
        groups, activities = db.migrate_and_load()
    finally:
        db.close()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    common = ["--log-level", "WARNING", "--pool-size", "8", "--processes", "1"]
    with PgBouncer(args.database_url, default_pool_size=8) as bouncer:
        targets = {}
        servers = []
        try:
            for name, url_args in (
                ("direct", ["--database-url", args.database_url]),
                ("pooler", ["--database-url", bouncer.url, "--database-pooler", "transaction"]),
            ):
                port = free_port()
                server = Server(*url_args, "--port", str(port), *common)
                servers.append(server)
                targets[name] = f"http://127.0.0.1:{port}"
                wait_answering(targets[name], server)
            for round_number in range(args.rounds):
                order = list(targets) if round_number % 2 == 0 else list(reversed(targets))
                for name in order:
                    for method in ("POST", "GET"):
                        figures = wrk(
                            [], targets[name], method, args.connections, args.duration, groups, activities
                        )
                        results.setdefault(name, {}).setdefault(method, []).append(figures)
                        print(f"round {round_number + 1} {name:7} {method:4} {figures}", flush=True)
        finally:
            for server in servers:
                server.process.terminate()
                server.finish(timeout=30)
    if args.cluster:
        state = Path(tempfile.mkdtemp(prefix="langportal-bench-cluster-"))
        env = {
            **os.environ,
            "LANGPORTAL_CLUSTER_STATE": str(state),
            "PYTHON": sys.executable,
            "LOG_LEVEL": "WARNING",
        }
        subprocess.run([str(CLUSTER), "up", "3"], env=env, check=True, timeout=180)
        try:
            info = subprocess.run(
                [str(CLUSTER), "info"], env=env, check=True, timeout=60, capture_output=True, text=True
            ).stdout
            balancer = dict(line.split("=", 1) for line in info.splitlines() if "=" in line)["balancer"]
            base = [str(CLUSTER), "exec", "client"]
            for method in ("POST", "GET"):
                for _ in range(args.rounds):
                    # the demo data set: groups 1..3, activities 1..3
                    figures = wrk(base, balancer, method, args.connections, args.duration, 3, 3)
                    results.setdefault("cluster", {}).setdefault(method, []).append(figures)
                    print(f"cluster(3) {method:4} {figures}", flush=True)
        finally:
            subprocess.run([str(CLUSTER), "down"], env=env, check=False, timeout=120)
    summary = summarise(results)
    print(json.dumps(summary, indent=2))
    return 0


def summarise(results: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Mean req/s and p99 of each target and method, and each as a ratio of direct."""
    mean: dict[str, dict[str, dict[str, float]]] = {}
    for name, methods in results.items():
        for method, runs in methods.items():
            mean.setdefault(name, {})[method] = {
                "req_s": round(sum(r["req_s"] for r in runs) / len(runs), 1),
                "p99_ms": round(sum(r["p99_ms"] for r in runs) / len(runs), 2),
                "non_2xx": sum(r["non_2xx"] for r in runs),
            }
    for methods in mean.values():
        for method, figures in methods.items():
            direct = mean["direct"][method]
            figures["req_s_ratio"] = round(figures["req_s"] / direct["req_s"], 2)
            figures["p99_ratio"] = round(figures["p99_ms"] / direct["p99_ms"], 2)
    return mean


if __name__ == "__main__":
    raise SystemExit(main())
