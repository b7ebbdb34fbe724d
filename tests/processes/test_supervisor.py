"""Stopping is race-free: a stop signal at any moment, or a server process that cannot start,
ends with every server process reaped and the embedded PostgreSQL stopped."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest
import tornado.testing

from langportal.handlers import make_http_server
from langportal.serving import stop_serving

from ..helpers import FIXTURE_SQL, wait_until
from ..servers import Server

PAUSE = "LANGPORTAL_TEST_PAUSE_AFTER_FORK"  # langportal.supervisor.PAUSE_ENV


def group_members(pgid: int) -> list[str]:
    """Every process of the process group ``pgid`` (the server's: it runs in a session of its
    own), as "pid state command"; the embedded PostgreSQL is not among them (pg_ctl starts it
    in a session of its own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        command, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        if int(rest[2]) == pgid:
            found.append(f"{entry.name} {rest[0]} {command}")
    return found


def postgres_running(data_dir: Path) -> bool:
    """PostgreSQL removes postmaster.pid when it stops; only a running (or killed) one has it."""
    return (data_dir / "pgdata" / "postmaster.pid").exists()


@pytest.fixture
def data_dir():
    # Not pytest's tmp_path: that sits under a private folder the database's account can't enter.
    folder = Path(tempfile.mkdtemp(prefix="langportal-stop-"))
    yield folder
    if postgres_running(folder):  # a failed test must not leave a PostgreSQL running
        pid = (folder / "pgdata" / "postmaster.pid").read_text().split()[0]
        with_pid = Path(f"/proc/{pid}")
        if with_pid.exists():
            os.kill(int(pid), signal.SIGQUIT)
            for _ in range(100):
                if not with_pid.exists():
                    break
                time.sleep(0.05)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def spawn():
    started: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Server:
        server = Server(*args, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def assert_all_stopped(server: Server, data_dir: Path | None, *, expect: tuple[int, ...] = (0,)) -> str:
    code, log = server.finish(timeout=60)
    left = group_members(server.process.pid)  # at once: the parent must reap before it exits
    assert code in expect, log
    assert not left, f"processes left running after the server exited: {left}\n{log}"
    if data_dir is not None:
        assert not postgres_running(data_dir), f"the embedded PostgreSQL was left running\n{log}"
    assert "Traceback" not in log, log
    return log


def test_a_stop_signal_during_the_start_loop_starts_no_more_servers(spawn, data_dir, unused_port):
    # The supervisor pauses after each fork (a test hook), so the signal lands in the start loop.
    server = spawn(
        *("--data-dir", str(data_dir), "--port", str(unused_port), "--processes", "3"),
        *("--log-level", "DEBUG"),
        env={PAUSE: "2"},
    )
    server.wait_for(r"server process \d+ started \(1 of 3\)", timeout=120)
    server.process.send_signal(signal.SIGTERM)
    log = assert_all_stopped(server, data_dir)
    assert "(2 of 3)" not in log  # no server forked after the stop
    assert "listening on" not in log
    assert "stopped" in log


@pytest.mark.parametrize("processes", [1, 3])
def test_a_stop_signal_at_any_moment_of_start_up_stops_everything(spawn, data_dir, unused_port, processes):
    """SIGTERM after each of many delays: while the database is created, started, migrated,
    while the servers start and once they serve. Each time: exit 0, no process left, PostgreSQL
    stopped."""
    args = ("--data-dir", str(data_dir), "--port", str(unused_port), "--processes", str(processes))
    first = spawn(*args)  # creates the data folder (initdb), so the runs below start in ~1 s
    first.wait_for("listening on", timeout=120)
    first.process.send_signal(signal.SIGTERM)
    assert_all_stopped(first, data_dir)
    seen = set()
    # The delays are deliberate: each stop lands wherever the start-up has got to by then. The
    # last run waits until it serves, however long the start-up takes on a busy machine.
    for delay in (0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05, 1.2, 1.4, 1.7, 2.0, 2.5, None):
        server = spawn(*args, env={PAUSE: "0.1"})
        if delay is None:
            server.wait_for("listening on", timeout=120)
        else:
            time.sleep(delay)
        server.process.send_signal(signal.SIGTERM)
        # Before Python has started, the default action ends it: nothing was created yet then.
        log = assert_all_stopped(server, data_dir, expect=(0, -signal.SIGTERM))
        seen.add("served" if "listening on" in log else "starting" if log else "not started")
    # The delays spanned the start-up: some runs were stopped before serving, some after. (A warm
    # start logs nothing before "listening on", so a stop during it often looks "not started".)
    assert {"served"} < seen, seen


@pytest.fixture
def limited_database(io_loop, pool, direct_database_url):
    """A database whose owner may hold only two connections (a superuser has no such limit),
    reached directly (a pooler would hold the connections, not the server processes)."""
    io_loop.run_sync(lambda: pool.execute(FIXTURE_SQL.drop_limited_database))
    io_loop.run_sync(lambda: pool.execute(FIXTURE_SQL.drop_limited_role))
    io_loop.run_sync(lambda: pool.execute(FIXTURE_SQL.create_limited_role))
    io_loop.run_sync(lambda: pool.execute(FIXTURE_SQL.create_limited_database))
    url = urllib.parse.urlsplit(direct_database_url)
    host = url.netloc.rpartition("@")[2]
    limited = url._replace(netloc=f"langportal_limited@{host}", path="/langportal_limited")
    yield urllib.parse.urlunsplit(limited)
    io_loop.run_sync(lambda: pool.execute(FIXTURE_SQL.drop_limited_database))
    io_loop.run_sync(lambda: pool.execute(FIXTURE_SQL.drop_limited_role))


def test_a_server_process_that_cannot_start_stops_the_others_and_reaps_them_first(
    spawn, limited_database, unused_port
):
    # Three processes of one connection each, two connections allowed: one cannot start while
    # the others already serve. The supervisor stops them and reaps every one before it exits.
    server = spawn(
        *("--database-url", limited_database, "--port", str(unused_port)),
        *("--processes", "3", "--pool-size", "1"),
    )
    log = assert_all_stopped(server, None, expect=(2,))
    assert "server process could not start" in log
    assert "too many connections" in log
    assert log.count("stopping: 0 request(s) in flight") >= 1, log  # the others stopped gracefully


async def test_connections_that_do_not_close_in_time_end_with_a_warning_not_a_traceback(app, caplog):
    # A request whose body never comes holds its connection past the grace period: the stop
    # closes it with a warning, never a traceback.
    sock, port = tornado.testing.bind_unused_port()
    server = make_http_server(app)
    server.add_sockets([sock])
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /api/study_sessions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 40\r\n\r\n{")
    await writer.drain()
    await wait_until(lambda: app.in_flight == 1, 5, "the request was read up to its body")
    with caplog.at_level(logging.WARNING, logger="portal"):
        await stop_serving(server, app, grace=0.2, close_timeout=0)
    assert "request(s) still running after the grace period" in caplog.text
    assert "client connections did not close within 0 s" in caplog.text
    assert not [r for r in caplog.records if r.exc_info]
    writer.close()
