"""A supervisor killed outright (``kill -9``, the OOM killer) leaves no server behind: its server
processes end within seconds (they would otherwise keep serving the port and hold the data
folder's lock, with no watchdog for the database), and the next start on the same data folder and
port works, stopping the embedded PostgreSQL the killed parent left running first."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from langportal import portaldb
from langportal.portaldb.embedded import process_alive

from ..servers import Server


@pytest.fixture
def spawn(data_dir: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(*args: str) -> Server:
        server = Server(*args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()  # its process group: orphaned server processes too
    leftover = portaldb.EmbeddedPostgres(data_dir)  # a killed parent leaves its database running
    pid = leftover.postmaster_pid()
    if pid is not None and process_alive(pid):
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 10
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
                    found.append(int(entry.name))
    return found


def listening(port: int) -> bool:
    """Whether anything still accepts connections on the port (or holds it bound)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return True
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def status_of(port: int, path: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
        return int(reply.status)


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_server_processes_end_with_their_killed_supervisor_and_the_next_start_works(
    spawn, data_dir, unused_port
):
    args = ("--data-dir", str(data_dir), "--port", str(unused_port), "--processes", "2")
    first = spawn(*args)
    first.wait_for("listening on", timeout=120)
    assert status_of(unused_port, "/api/study_sessions") == 200
    children = children_of(first.process.pid)
    assert len(children) == 2, (children, first.output)

    first.process.send_signal(signal.SIGKILL)  # the supervisor only: no stop reaches its children
    first.process.wait()
    gone = wait_until(lambda: not any(process_alive(pid) for pid in children), timeout=10)
    alive = [pid for pid in children if process_alive(pid)]
    assert gone, f"server processes {alive} still running 10 s after their supervisor was killed"
    assert wait_until(lambda: not listening(unused_port), timeout=5), "the port is still taken"
    assert first.output.count("stopping: 0 request(s) in flight") == 2, first.output  # gracefully
    assert first.output.count(f"its supervisor (pid {first.process.pid}) was gone") == 2, first.output

    second = spawn(*args)
    second.wait_for("listening on", timeout=60)
    assert status_of(unused_port, "/api/study_sessions") == 200
    assert "left running by an earlier run" in second.output, second.output  # and it was stopped
    assert "Traceback" not in first.output + second.output, first.output + second.output
    second.process.send_signal(signal.SIGTERM)
    code, log = second.finish(timeout=60)
    assert code == 0, log
    assert not portaldb.EmbeddedPostgres(data_dir).is_running(), log
