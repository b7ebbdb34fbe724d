"""What a failover loses when the standby is asynchronous, or lags (issue 23), in one run.

    python -m bench.failover                          # asynchronous standby, replication stalled 3 s
    python -m bench.failover --stall 8 --replication sync
    python -m bench.failover --via pgbouncer --stall 0

Root only (it uses deploy/cluster.sh: network namespaces). Brings up a cluster of two instances
behind HAProxy, a primary and a streaming standby, the instances reaching the primary directly (a
URL naming both, ``--via direct``) or through PgBouncer. Sets the replication (``--replication``:
``async``, the primary's commits not waiting for the standby; or ``sync``, as deploy/cluster.sh
leaves it), runs the keyed load client of the cluster tests (tests/cluster_client.py) from the
client namespace, and once the load runs: stalls replication for ``--stall`` seconds (SIGSTOP of
the primary's walsender: the standby receives nothing, as when it or its link falls behind), kills
the primary's host (SIGKILL of every process) and promotes the standby.

Prints, as JSON: logical requests, 201s, rows, acknowledged writes lost (and when they had been
stored, against the stall and the kill: the loss window), ids handed out twice (an acknowledged id
whose row on the new primary is another session), duplicates, 500s, and the seconds of failures
after the promotion. The cluster is removed at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "deploy" / "cluster.sh"


def answered(state: Path) -> int:
    """The 2xx answers HAProxy has counted from the instances (its stats socket)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(state / "haproxy.sock"))
        sock.sendall(b"show stat\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    lines = data.decode().splitlines()
    names = lines[0].removeprefix("# ").split(",")
    total = 0
    for line in lines[1:]:
        fields = dict(zip(names, line.split(","), strict=False))
        if fields.get("pxname") == "instances" and fields.get("svname", "").startswith("app"):
            total += int(fields["hrsp_2xx"] or 0)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replication", choices=("async", "sync"), default="async")
    parser.add_argument("--stall", type=float, default=3.0, help="seconds replication stalls before the kill")
    parser.add_argument("--via", choices=("direct", "pgbouncer"), default="direct")
    parser.add_argument("--load", type=float, default=16.0, help="seconds of load (the failover comes early)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench.failover needs root (deploy/cluster.sh uses network namespaces)")
    state = Path(tempfile.mkdtemp(prefix="langportal-bench-failover-"))
    env = {
        **os.environ,
        "LANGPORTAL_CLUSTER_STATE": str(state),
        "PYTHON": sys.executable,
        "LOG_LEVEL": "WARNING",
    }
    env.pop("CLUSTER_NAME", None)

    def cluster(*command: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [str(CLUSTER), *command], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"deploy/cluster.sh {' '.join(command)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    try:
        info = dict(
            line.split("=", 1)
            for line in cluster("up", "2", args.via, timeout=180).splitlines()
            if "=" in line
        )
        cluster("database", "replication", args.replication)
        out = state / "load.json"
        client = subprocess.Popen(
            [
                *(str(CLUSTER), "exec", "client", sys.executable, "-m", "tests.cluster_client"),
                *(info["balancer"], info["direct"], str(args.load), str(out), "15"),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while answered(state) < 200:  # the load runs
                if time.monotonic() > deadline or client.poll() is not None:
                    raise SystemExit("the load client did not get 200 answers within 60 s")
                time.sleep(0.05)
            stalled_at = time.time()
            if args.stall > 0:
                cluster("database", "stall")
                time.sleep(args.stall)  # the experiment: this long without replication
            killed_at = time.time()
            cluster("database", "kill")
            promoted_at = time.time()
            cluster("database", "promote")
            output, _ = client.communicate(timeout=args.load + 120)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
        if client.returncode != 0:
            raise SystemExit(f"the load client failed: {output}")
        result = json.loads(out.read_text())
    finally:
        subprocess.run([str(CLUSTER), "down"], env=env, capture_output=True, timeout=120, check=False)
    print(json.dumps(figures(args, result, stalled_at, killed_at, promoted_at), indent=2))
    return 0


def figures(
    args: argparse.Namespace, result: dict[str, Any], stalled_at: float, killed_at: float, promoted_at: float
) -> dict[str, Any]:
    failures_after = [at for at, _ in result["timeline"] if at > promoted_at]
    lost_between = result["lost_between"]
    return {
        "replication": args.replication,
        "via": args.via,
        "stall_s": args.stall,
        "logical_requests": result["writes"],
        "201s": result["201s_seen"],
        "acknowledged": result["acknowledged"],
        "rows": result["rows_found"],
        "lost": result["lost"],
        # when the lost writes had been stored, in seconds from the stall (the kill came at stall_s)
        "lost_stored_from_s": round(lost_between[0] - stalled_at, 2) if lost_between else None,
        "lost_stored_until_s": round(lost_between[1] - stalled_at, 2) if lost_between else None,
        "kill_at_s": round(killed_at - stalled_at, 2),
        "reused_ids": result["reused_ids"],
        "duplicates": result["duplicates"],
        "unacknowledged": result["unacknowledged"],
        "500s": result["statuses"].get("500", 0),
        "statuses": result["statuses"],
        "failing_after_promotion_s": round(max(failures_after) - promoted_at, 2) if failures_after else 0.0,
        # failed attempts in each second from the promotion on, by status
        "failures_by_second": by_second(result["timeline"], promoted_at),
    }


def by_second(timeline: list[tuple[float, int]], promoted_at: float) -> dict[str, dict[str, int]]:
    seconds: dict[str, dict[str, int]] = {}
    for at, status in timeline:
        second = str(int(at - promoted_at) if at >= promoted_at else -1)
        seconds.setdefault(second, {}).setdefault(str(status), 0)
        seconds[second][str(status)] += 1
    return seconds


if __name__ == "__main__":
    raise SystemExit(main())
