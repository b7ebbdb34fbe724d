"""The embedded database's watchdog (issue 13), the parts that need no crash: its back-off, and
what it and EmbeddedPostgres make of a process that has exited. tests/processes/test_db_crash.py kills a
real database under load."""

from __future__ import annotations

import os
import subprocess
import sys

from langportal.portaldb.embedded import process_alive
from langportal.portaldb.watchdog import backoff


def test_restarts_back_off_doubling_up_to_30_s():
    assert [backoff(n) for n in range(9)] == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff(100) == 30.0


def test_a_zombie_is_not_alive():
    """A postmaster that was killed but not yet reaped must count as exited (PostgreSQL itself
    would take its pid for a running server)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert not process_alive(child.pid)
    child.wait()
    assert not process_alive(child.pid)
    assert process_alive(os.getpid())
