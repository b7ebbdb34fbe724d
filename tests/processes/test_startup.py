"""Start-up: everything that can fail is checked before anything is created, and the default data
folder is ./data in a checkout but the per-user data folder for the installed program."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from langportal.settings import default_data_dir, parse_args

from ..servers import SERVER, Server

CHECKOUT = SERVER.parent
# every environment variable the program reads
ENVIRONMENT = [
    *("HOST", "PORT", "DATABASE_URL", "DATA_DIR", "CORS_ORIGINS", "PAGE_API_ORIGINS", "POOL_SIZE"),
    *("POOL_TIMEOUT", "STATEMENT_TIMEOUT", "SHUTDOWN_GRACE", "PROCESSES", "IDEMPOTENCY_HOURS", "LOG_LEVEL"),
]


@pytest.fixture
def folder():
    # Not pytest's tmp_path: that sits under a private folder the database's account can't enter.
    path = Path(tempfile.mkdtemp(prefix="langportal-startup-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


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


def test_a_busy_port_fails_before_the_data_folder_is_created(spawn, folder):
    data_dir = folder / "new-data"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, log = spawn("--data-dir", str(data_dir), "--port", str(port)).finish()
    assert code == 2, log
    assert f"server.py: error: cannot listen on 127.0.0.1:{port}" in log
    assert len(log.strip().splitlines()) == 1, log
    assert not data_dir.exists()


def test_too_many_connections_for_the_embedded_database_fail_before_it_is_created(spawn, folder, unused_port):
    data_dir = folder / "new-data"
    code, log = spawn(
        *("--data-dir", str(data_dir), "--port", str(unused_port)),
        *("--processes", "20", "--pool-size", "10"),
    ).finish()
    assert code == 2, log
    assert "--processes 20 x --pool-size 10 = 200 database connections" in log
    assert len(log.strip().splitlines()) == 1, log
    assert not data_dir.exists()


# -- the default data folder --------------------------------------------------------------------


def test_a_checkout_keeps_its_data_in_its_own_data_folder():
    assert default_data_dir(CHECKOUT, {"HOME": "/home/ann"}) == (CHECKOUT / "data", "the checkout's")
    config = parse_args([], checkout=CHECKOUT, environ={"XDG_DATA_HOME": "/elsewhere"})
    assert config.data_dir == CHECKOUT / "data"
    assert config.data_dir_default == "the checkout's"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"HOME": "/home/ann"}, "/home/ann/.local/share/langportal"),
        ({"HOME": "/home/ann", "XDG_DATA_HOME": "/srv/xdg"}, "/srv/xdg/langportal"),
        ({"HOME": "/home/ann", "XDG_DATA_HOME": ""}, "/home/ann/.local/share/langportal"),
        # a relative XDG_DATA_HOME is invalid (the XDG spec) and is ignored
        ({"HOME": "/home/ann", "XDG_DATA_HOME": "rel/xdg"}, "/home/ann/.local/share/langportal"),
    ],
)
def test_the_installed_program_keeps_its_data_in_the_per_user_data_folder(environ, expected):
    assert default_data_dir(None, environ) == (Path(expected), "the per-user")
    config = parse_args([], environ=environ)
    assert config.data_dir == Path(expected)
    assert config.data_dir_default == "the per-user"


def test_a_given_data_folder_wins_over_either_default():
    config = parse_args(["--data-dir", "/srv/portal"], checkout=CHECKOUT, environ={})
    assert (config.data_dir, config.data_dir_default) == (Path("/srv/portal"), "")
    config = parse_args([], environ={"HOME": "/home/ann", "DATA_DIR": "/srv/env"})
    assert (config.data_dir, config.data_dir_default) == (Path("/srv/env"), "")


def test_help_shows_every_default_and_environment_variable_and_where_the_data_goes():
    environment = {
        **{k: v for k, v in os.environ.items() if k not in ENVIRONMENT and k != "XDG_DATA_HOME"},
        "HOME": "/home/ann",
    }
    installed = subprocess.run(
        [sys.executable, "-m", "langportal", "--help"],
        cwd="/",
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    checkout = subprocess.run(
        [sys.executable, str(SERVER), "--help"], env=environment, capture_output=True, text=True, check=True
    ).stdout
    # one entry per option: "--flag [VALUE]  help...", its help with whitespace collapsed
    # (the list of commands, after the options, is the epilog: not an option)
    options = re.split(r"\n  (?=--)", installed.split("options:", 1)[1].split("\ncommands (", 1)[0])[1:]
    assert len(options) == 20, options  # every flag but -h/--help
    for option in options:
        assert re.search(r"default [^)]+\)$", " ".join(option.split())), option
    installed, checkout = (" ".join(text.split()) for text in (installed, checkout))
    assert installed.startswith("usage: python -m langportal ")
    assert (
        "(DATA_DIR; default $XDG_DATA_HOME/langportal, or ~/.local/share/langportal, "
        "here /home/ann/.local/share/langportal)" in installed
    )
    assert f"(DATA_DIR; default {CHECKOUT / 'data'}: ./data in this checkout)" in checkout
    for name in ENVIRONMENT:
        assert re.search(rf"\({name}; default [^)]+\)", installed), name


def test_the_installed_program_says_where_its_default_data_folder_is(folder, unused_port):
    """``python -m langportal`` (as the installed command) without --data-dir: the per-user data
    folder, said so in the line that says where it listens."""
    home = folder / "home"
    home.mkdir(mode=0o755)
    environment = {
        **{k: v for k, v in os.environ.items() if k not in ENVIRONMENT and k != "XDG_DATA_HOME"},
        "HOME": str(home),
    }
    log_file = folder / "server.log"
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "langportal", "--port", str(unused_port)],
            cwd="/",
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        data_dir = home / ".local" / "share" / "langportal"
        expected = (
            f"listening on http://127.0.0.1:{unused_port} (database: embedded PostgreSQL, data in "
            f"{data_dir}: the per-user default data folder; --data-dir chooses another)"
        )
        for _ in range(1200):
            if expected in log_file.read_text() or process.poll() is not None:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert expected in log_file.read_text(), log_file.read_text()
        assert (data_dir / "pgdata" / "PG_VERSION").exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log_file.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
