"""How other code reaches the application: ``from langportal import make_app`` wherever the project
is installed, and ``from server import make_app`` from a checkout's root (how test-client suites
have imported it from the start)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import langportal
from langportal.handlers import make_app

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_gives_make_app() -> None:
    assert langportal.make_app is make_app


def test_a_checkout_gives_make_app_from_server_py() -> None:
    code = "import langportal, server; assert server.make_app is langportal.make_app; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr
