"""The simulated cluster of deploy/cluster.sh under load through HAProxy (issue 10).

Three instances in network namespaces of their own, through PgBouncer (transaction mode) to a
fresh PostgreSQL 15, behind HAProxy; a load client in a namespace of its own retries a failed or
cut-off write with its Idempotency-Key. Needs root (``ip netns``), PostgreSQL 15, PgBouncer and
HAProxy; skipped, with the reason, where any is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..helpers import wait_until_sync

ROOT = Path(__file__).resolve().parent.parent.parent
CLUSTER = ROOT / "deploy" / "cluster.sh"
BALANCER = "http://10.213.0.20:8080"
DATABASE = "postgresql://langportal:langportal-cluster@10.213.0.10:6432/langportal"
MIGRATIONS = len(list((ROOT / "sql" / "migrations").glob("*.sql")))


def _cannot_run() -> str | None:
    if os.geteuid() != 0:
        return "the cluster needs root (ip netns)"
    for tool in ("pgbouncer", "haproxy", "/usr/lib/postgresql/15/bin/initdb", "ip"):
        if not shutil.which(tool):
            return f"{tool} is missing (apt-get install -y postgresql-15 pgbouncer haproxy iproute2)"
    probe = f"lp-probe-{os.getpid()}"
    added = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if added.returncode != 0:
        return f"ip netns add is not permitted here: {added.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=False)
    return None


pytestmark = pytest.mark.skipif(_cannot_run() is not None, reason=str(_cannot_run()))


class Cluster:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.env = {**os.environ, "LANGPORTAL_CLUSTER_STATE": str(state), "PYTHON": sys.executable}

    def run(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [str(CLUSTER), *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        assert done.returncode == 0, f"cluster.sh {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def haproxy(self) -> dict[str, str]:
        """HAProxy's state of each instance (UP, DOWN, ...), from its stats socket."""
        return {server: stats["status"].split()[0] for server, stats in self.haproxy_stats().items()}

    def answered(self, server: str) -> int:
        """How many 2xx answers ``server`` has given through HAProxy."""
        return int(self.haproxy_stats()[server]["hrsp_2xx"] or 0)

    def haproxy_stats(self) -> dict[str, dict[str, str]]:
        """HAProxy's statistics of each instance, by the names of its CSV's columns."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.state / "haproxy.sock"))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        lines = data.decode().splitlines()
        names = lines[0].removeprefix("# ").split(",")
        stats = {}
        for line in lines[1:]:
            fields = dict(zip(names, line.split(","), strict=False))
            if fields.get("pxname") == "instances" and fields.get("svname", "").startswith("app"):
                stats[fields["svname"]] = fields
        return stats

    def wait_state(self, server: str, state: str, timeout: float) -> float:
        """Seconds until HAProxy shows ``server`` in ``state``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.haproxy().get(server) == state:
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"{server} not {state} within {timeout} s: {self.haproxy()}")

    def log(self, i: int) -> str:
        return (self.state / f"app{i}.log").read_text(errors="replace")

    def pid(self, i: int) -> int:
        return int((self.state / f"app{i}.pid").read_text())


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    state = Path(tempfile.mkdtemp(prefix="langportal-cluster-"))
    running = Cluster(state)
    try:
        running.run("up", "3")
        yield running
    finally:
        subprocess.run([str(CLUSTER), "down"], env=running.env, capture_output=True, timeout=60, check=False)
    leftover = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    assert "lp-" not in leftover, leftover  # down removed every namespace


def test_instances_started_at_once_on_an_empty_database_create_the_schema_once(cluster):
    assert cluster.haproxy() == {"app1": "UP", "app2": "UP", "app3": "UP"}
    logs = [cluster.log(i) for i in (1, 2, 3)]
    assert sum("database migrated" in log for log in logs) == 1, logs
    assert sum("database schema up to date" in log for log in logs) == 2, logs
    assert all("listening on http://0.0.0.0:5000" in log for log in logs), logs
    assert not any("Traceback" in log or "error" in log.lower() for log in logs), logs


def _load(cluster: Cluster, seconds: float) -> tuple[subprocess.Popen[str], Path]:
    out = cluster.state / f"load-{time.monotonic_ns()}.json"
    client = subprocess.Popen(
        [
            *(str(CLUSTER), "exec", "lp-client", sys.executable, "-m", "tests.cluster_client"),
            *(BALANCER, DATABASE, str(seconds), str(out)),
        ],
        env=cluster.env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return client, out


@pytest.mark.parametrize(("index", "how"), [(1, "term"), (2, "kill")])
def test_an_instance_stopped_under_load_loses_and_duplicates_nothing(cluster, index, how):
    server = f"app{index}"
    answered = cluster.answered(server)
    client, out = _load(cluster, seconds=12)
    try:
        # under load: the instance has answered some of it (the client takes a while to start)
        wait_until_sync(
            lambda: cluster.answered(server) >= answered + 50, 30, f"50 answers of {server} to the load", 0.05
        )
        old = cluster.pid(index)
        cluster.run("instance", str(index), how)
        down_after = cluster.wait_state(server, "DOWN", timeout=5)
        for _ in range(200):  # the process ended (SIGTERM: after its in-flight requests)
            if not Path(f"/proc/{old}").exists():
                break
            time.sleep(0.05)
        cluster.run("instance", str(index), "start")
        up_after = cluster.wait_state(server, "UP", timeout=30)
        output, _ = client.communicate(timeout=90)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert client.returncode == 0, output
    result = json.loads(out.read_text())
    print(
        f"\n{how}: {server} down in HAProxy after {down_after:.2f} s, up again {up_after:.2f} s after restart"
    )
    print(f"{how}: {json.dumps(result)}")
    assert down_after <= 2.0  # the balancer stops sending to it within 2 s
    assert result["201s_seen"] == result["acknowledged"] > 100
    assert result["unacknowledged"] == 0
    assert result["lost"] == 0
    assert result["duplicates"] == 0
    assert result["rows_found"] == result["acknowledged"]
    assert result["distinct_ids"]
    if how == "term":  # a graceful stop: nothing the instance accepted was cut off
        assert "stopping" in cluster.log(index)
    assert cluster.haproxy() == {"app1": "UP", "app2": "UP", "app3": "UP"}  # it joined again
