"""`python server.py` as a user runs it: embedded database, start, serve, stop, crash and restart."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import tornado.testing

from langportal import portaldb

from ..servers import SERVER, Server


def request(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def spawn():
    """Start servers; any still running when the test ends is killed and reaped."""
    started: list[Server] = []

    def start(*args: str) -> Server:
        server = Server(*args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def test_embedded_server_lifecycle(spawn, data_dir, unused_port):
    port = str(unused_port)

    first = spawn("--port", port, "--data-dir", str(data_dir))
    where = re.escape(f"(database: embedded PostgreSQL, data in {data_dir})")
    first.wait_for(rf"listening on http://127\.0\.0\.1:{port} {where}")
    status, body = request(
        unused_port, "POST", "/api/study_sessions", {"group_id": 1, "study_activity_id": 1}
    )
    assert status == 201, body  # the demo data set was loaded on first start
    session_id = body["study_session"]["id"]
    first.process.send_signal(signal.SIGTERM)
    code, log = first.finish()
    assert code == 0, log
    assert f"embedded PostgreSQL stopped; its data stays in {data_dir}" in log
    assert "Traceback" not in log

    # The data survived; a crash (SIGKILL leaves PostgreSQL running) is recovered from.
    second = spawn("--port", port, "--data-dir", str(data_dir))
    second.wait_for("listening on")
    assert request(unused_port, "GET", f"/api/study_sessions/{session_id}")[0] == 200
    second.process.kill()  # the server only: its PostgreSQL keeps running, as after a crash
    second.finish()

    third = spawn("--port", port, "--data-dir", str(data_dir))
    third.wait_for("listening on")
    assert "left running by an earlier run" in third.output
    status, body = request(
        unused_port, "POST", "/api/study_sessions", {"group_id": 1, "study_activity_id": 1}
    )
    assert status == 201
    assert body["study_session"]["id"] > session_id
    third.process.send_signal(signal.SIGINT)
    code, log = third.finish()
    assert code == 0, log


def test_two_servers_cannot_share_a_data_dir(data_dir):
    second = portaldb.EmbeddedPostgres(data_dir)
    with (
        portaldb.EmbeddedPostgres(data_dir),
        pytest.raises(portaldb.EmbeddedPostgresError, match=f"in use by process {os.getpid()}"),
    ):
        second.start()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--database-url", "postgresql://postgres@127.0.0.1:{port}/x"],
            "cannot connect to the database at postgresql://postgres@127.0.0.1:",
        ),
        (["--database-url", "postgresql://u:secret@127.0.0.1:{port}/x"], "postgresql://u:***@127.0.0.1"),
        (["--database-url", "mysql://x"], "the database URL must start with postgresql://"),
        (["--port", "70000"], "the port must be a number from 1 to 65535"),
        (["--cors-origins", "localhost:3000"], "'localhost:3000' is not an origin"),
        (["--pool-size", "0"], "the pool size must be greater than 0"),
        (["--data-dir", "{server}"], "cannot use"),  # a file, not a folder
        (["--data-dir", "/proc/no-such-folder"], "pass a --data-dir that is a folder you can write to"),
        (["--data-dir", ""], "the data folder must not be empty"),  # not the current folder
        (["--host", ""], "the host must not be empty"),  # not every address
        (["--statement-timeout", "inf"], "the statement timeout must be at most 86,400, got 'inf'"),
        (["--statement-timeout", "3000000"], "the statement timeout must be at most 86,400"),
        (["--idempotency-hours", "1e300"], "the idempotency key lifetime must be at most 87,600"),
        (["--processes", "100000"], "the number of processes must be at most 1,024"),
    ],
)
def test_bad_settings_fail_with_one_clear_line(spawn, args, message, unused_port):
    args = [a.format(port=unused_port, server=SERVER) for a in args]
    if "--port" not in args:  # not the default 5000, which a server of the user's may hold
        sock, listen_port = tornado.testing.bind_unused_port()
        sock.close()
        args += ["--port", str(listen_port)]
    code, log = spawn(*args).finish()
    assert code == 2
    assert message in log
    assert len(log.strip().splitlines()) == 1, log  # one line, no usage block, no traceback
    assert "secret" not in log


def test_port_in_use(spawn, database_url):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, log = spawn("--database-url", database_url, "--port", str(port)).finish()
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in log
    assert "choose another with --port" in log


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_stopping_server_refuses_new_connections_at_once(
    spawn, database_url, pooler_mode, unused_port, processes
):
    # A load balancer's health check must see a stopping server go away, not hang: with several
    # processes the parent's own copy of the listening socket kept it open, so new connections
    # were accepted by the kernel, never served, and reset when the server exited.
    server = spawn(
        *("--database-url", database_url, "--database-pooler", pooler_mode),
        *("--port", str(unused_port), "--processes", processes, "--shutdown-grace", "5"),
    )
    server.wait_for("listening on")
    held = socket.create_connection(("127.0.0.1", unused_port), timeout=5)
    try:  # a request in flight (its body not all sent) holds the stop for its grace period
        held.sendall(
            b"POST /api/study_sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: 100\r\n\r\n{"
        )
        # The server's "100 Continue" says it has read the headers: the request is in flight.
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            chunk = held.recv(1)
            assert chunk, f"the connection closed before a 100 Continue: {interim!r}"
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100 "), interim
        server.process.send_signal(signal.SIGTERM)
        server.wait_for("stopping")
        deadline = time.monotonic() + 3
        while True:  # every process closes its listening socket as it starts stopping
            try:
                probe = socket.create_connection(("127.0.0.1", unused_port), timeout=1)
            except ConnectionRefusedError:
                break
            probe.close()
            assert time.monotonic() < deadline, "a stopping server still accepted connections"
            time.sleep(0.05)
        assert server.process.poll() is None  # still stopping: the request in flight holds it
    finally:
        held.close()
    code, log = server.finish()
    assert code == 0, log


def test_several_processes_share_the_port_and_stop_together(spawn, database_url, pooler_mode, unused_port):
    server = spawn(
        *("--database-url", database_url, "--database-pooler", pooler_mode),
        *("--port", str(unused_port), "--processes", "2"),
    )
    server.wait_for(r"listening on .*, 2 processes\)")
    children = _children(server.process.pid)
    assert len(children) == 2
    for _ in range(10):
        status, body = request(unused_port, "GET", "/api/study_sessions/999999")
        assert status == 404, body
    server.process.send_signal(signal.SIGTERM)
    code, log = server.finish()
    assert code == 0, log
    assert log.count("stopping") == 2
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def test_too_many_connections_for_the_database(spawn, direct_database_url, unused_port):
    # directly: through a pooler the pools connect to the pooler (tests/cluster/test_pooler.py)
    code, log = spawn(
        "--database-url",
        direct_database_url,
        "--port",
        str(unused_port),
        "--processes",
        "50",
        "--pool-size",
        "100",
    ).finish()
    assert code == 2
    assert "--processes 50 x --pool-size 100 = 5000 database connections" in log
