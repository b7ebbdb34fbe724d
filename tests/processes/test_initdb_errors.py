"""When initdb cannot create the embedded database, the error says why, not only that initdb then
cleaned up: initdb's last line is "removing contents of data directory", the cause comes before.

A real failure, needing neither root nor a special mount: too few open files allowed (``ulimit -n
40``, which ``server.py`` cannot raise past its hard limit). initdb's bootstrap server refuses to
start ("FATAL: insufficient file descriptors available to start server process"), and initdb
removes what it had made."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from langportal import portaldb

from ..servers import SERVER, Server

CAUSE = "insufficient file descriptors available to start server process"
CLEANUP = "removing contents of data directory"


# `ulimit -n 40; python server.py ARGS`: the limit set first, then server.py run as a script
FEW_OPEN_FILES = (
    "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40)); "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


@pytest.fixture
def servers(data_dir: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()
    leftover = portaldb.EmbeddedPostgres(data_dir)  # a failed test may leave it running
    if leftover.is_running():
        os.kill(leftover.postmaster_pid(), signal.SIGQUIT)


def test_an_initdb_failure_shows_its_cause_and_what_to_do(data_dir, unused_port, servers):
    args = ["--data-dir", str(data_dir), "--port", str(unused_port)]
    failed = subprocess.run(
        [sys.executable, "-c", FEW_OPEN_FILES, str(SERVER), *args],
        env={k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORT")},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    error = failed.stderr.strip().splitlines()[-1] if failed.stderr.strip() else ""
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert error.startswith("server.py: error: "), failed.stderr
    assert CAUSE in error, f"the cause is not in the message: {error}"
    assert "System allows" in error, error  # its DETAIL: how many it got, how many it needs
    assert CLEANUP not in error, error
    assert "start again" in error, error  # and what to do
    assert "Traceback" not in failed.stderr, failed.stderr
    # initdb removed what it had made: the next start, with the limit lifted, creates the database
    assert not any((data_dir / "pgdata").iterdir())
    servers.append(again := Server(*args))
    again.wait_for("listening on", timeout=120)
    again.process.send_signal(signal.SIGTERM)
    code, log = again.finish(timeout=60)
    assert code == 0, log
