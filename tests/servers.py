"""`python server.py ...` as a child process, for the tests that run the server as a user does."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER = Path(__file__).resolve().parent.parent / "server.py"


class Server:
    """A server process whose output goes to a file (never a pipe a busy server could fill)."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        environment = {
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORT", "CORS_ORIGINS")
        }
        self._log = tempfile.NamedTemporaryFile("w+", prefix="langportal-server-", suffix=".log")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER), *args],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**environment, **(env or {})},
            start_new_session=True,  # its own process group, so teardown can end every process
        )

    @property
    def output(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """Wait until the server's output matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output, re.MULTILINE)
            if match:
                return match
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not seen; server said:\n{self.output}")

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        """Wait for the server to exit; its exit code and everything it printed."""
        self.process.wait(timeout=timeout)
        return self.process.returncode, self.output

    def kill(self) -> None:
        """End every process of the server's group, and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._log.close()
