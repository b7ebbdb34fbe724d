"""A real PgBouncer (Debian's ``pgbouncer`` package) in front of a test database (issue 10).

:class:`PgBouncer` writes a configuration into a fresh folder, starts ``pgbouncer`` on a free
127.0.0.1 port in transaction mode and stops it again. Like ``deploy/pgbouncer.ini`` it retries a
failed login to the server after 1 s (``server_login_retry``; PgBouncer's default, 15 s, answers
every client an error for that long after a database restart). The admin console (database ``pgbouncer``)
is open to the same user, so a test can ``PAUSE``, ``RESUME`` or ``SHUTDOWN`` it.

Run as a program it serves until SIGTERM/SIGINT and prints its URL, for ``.ci/run``::

    python -m tests.pgbouncer postgresql://postgres@127.0.0.1:5432/langportal_ci 6439
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def available() -> str | None:
    """None when PgBouncer can be run here, else why not (for a visible skip)."""
    if not Path(PGBOUNCER).exists():
        return "PgBouncer is not installed (Debian: apt-get install pgbouncer)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgBouncer:
    """One PgBouncer in front of the database ``upstream`` (a postgresql:// URL, TCP or socket)."""

    def __init__(
        self,
        upstream: str,
        *,
        port: int | None = None,
        max_client_conn: int = 400,
        default_pool_size: int = 20,
        query_wait_timeout: float = 10,
        server_login_retry: float = 1,
        extra: str = "",
    ) -> None:
        url = urllib.parse.urlsplit(upstream)
        params = dict(urllib.parse.parse_qsl(url.query))
        self.user = url.username or "postgres"
        self.dbname = url.path.lstrip("/") or self.user
        host = params.get("host") or url.hostname or "127.0.0.1"
        upstream_port = params.get("port") or url.port or 5432
        self.port = port or free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="langportal-pgbouncer-"))
        # PgBouncer will not run as root; it then runs as the owner of the database's socket
        # folder (the embedded PostgreSQL's account) or as postgres.
        self.run_as: str | None = None
        if os.geteuid() == 0:
            owner = Path(host).stat().st_uid if host.startswith("/") else pwd.getpwnam("postgres").pw_uid
            self.run_as = pwd.getpwuid(owner).pw_name
            shutil.chown(self.folder, self.run_as)
        (self.folder / "userlist.txt").write_text(f'"{self.user}" ""\n')
        (self.folder / "pgbouncer.ini").write_text(
            f"""[databases]
{self.dbname} = host={host} port={upstream_port} dbname={self.dbname} user={self.user}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.folder}/userlist.txt
admin_users = {self.user}
pool_mode = transaction
max_client_conn = {max_client_conn}
default_pool_size = {default_pool_size}
query_wait_timeout = {query_wait_timeout:g}
server_login_retry = {server_login_retry:g}
ignore_startup_parameters = extra_float_digits
logfile = {self.folder}/pgbouncer.log
pidfile = {self.folder}/pgbouncer.pid
{extra}
"""
        )
        for name in ("userlist.txt", "pgbouncer.ini"):
            if self.run_as:
                shutil.chown(self.folder / name, self.run_as)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.dbname}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/pgbouncer"

    @property
    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, timeout: float = 10) -> PgBouncer:
        command = [PGBOUNCER, str(self.folder / "pgbouncer.ini")]
        if self.run_as:
            command[1:1] = ["-u", self.run_as]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited with {self.process.returncode}:\n{self.log}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pgbouncer did not listen on 127.0.0.1:{self.port} in {timeout} s:\n{self.log}")

    def stop(self) -> None:
        """Stop at once (SIGINT: PgBouncer's immediate shutdown), then reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.pgbouncer UPSTREAM_URL PORT", file=sys.stderr)
        return 2
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    with PgBouncer(argv[0], port=int(argv[1])) as bouncer:
        print(bouncer.url, flush=True)
        while not stop and bouncer.process is not None and bouncer.process.poll() is None:
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
