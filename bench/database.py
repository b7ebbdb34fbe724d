"""The bench's own connection to the database: the schema and data set it loads, and the counts
it takes between phases (statements from bench/sql/bench.sql)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg

from langportal import portaldb
from langportal.portaldb.queries import Queries, parse

from . import BenchError, say

BENCH_SQL = Queries(
    parse((Path(__file__).parent / "sql" / "bench.sql").read_text(encoding="utf-8"), "bench.sql")
)


class Database:
    """One connection of the bench's own, for loading data and counting rows between phases."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._loop = asyncio.new_event_loop()
        try:
            self._conn: asyncpg.Connection = self._wait(asyncpg.connect(dsn, timeout=30))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError, ValueError) as exc:
            self._loop.close()
            raise BenchError(
                f"cannot connect to the database at {portaldb.redact(dsn)}: {exc or type(exc).__name__}"
            ) from None

    def _wait(self, awaitable: Any) -> Any:
        """Run one coroutine on the bench's own event loop, to its end."""
        return self._loop.run_until_complete(awaitable)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._wait(self._conn.close(timeout=5))
        self._loop.close()

    def fetchrow(self, name: str, *args: Any) -> asyncpg.Record:
        return self._wait(self._conn.fetchrow(getattr(BENCH_SQL, name), *args))

    def fetchval(self, name: str, *args: Any) -> Any:
        return self._wait(self._conn.fetchval(getattr(BENCH_SQL, name), *args))

    def execute(self, name: str, *args: Any) -> None:
        self._wait(self._conn.execute(getattr(BENCH_SQL, name), *args))

    def settle(self, limit: float = 30.0) -> str:
        """Let the database finish the last phase's work before the next phase starts: VACUUM and
        ANALYZE the table the phases write, CHECKPOINT, and wait (up to ``limit`` seconds) for
        autovacuum workers in this database to end. Otherwise a phase pays for its predecessor's
        writes (the order of the phases would bias the ratios). Returns what it did, for the log."""
        started = time.monotonic()
        done = []
        for name, what in (("vacuum_study_sessions", "VACUUM"), ("checkpoint", "CHECKPOINT")):
            try:
                self._wait(self._conn.execute(getattr(BENCH_SQL, name)))
                done.append(what)
            except asyncpg.InsufficientPrivilegeError:
                done.append(f"no {what} (not allowed for this role)")
        while self.fetchval("autovacuum_workers") and time.monotonic() - started < limit:
            time.sleep(0.25)
        return f"{', '.join(done)} in {time.monotonic() - started:.1f} s"

    def migrate_and_load(self) -> tuple[int, int]:
        """Bring the schema up to date, empty the portal tables, load the data set: (groups, activities)."""
        try:
            applied = self._wait(portaldb.migrate(self._conn, portaldb.load_queries()))
            self._wait(self._load())
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
        return postmaster_pid(self.dsn, lambda: self.fetchrow("database_info")["backend_pid"])


def postmaster_pid(dsn: str, backend_pid: Callable[[], int]) -> int | None:
    """The main process of the database server at ``dsn`` when it runs on this machine, found as the
    parent of a backend (``backend_pid()``, asked only for a local ``dsn``); None otherwise."""
    host = _dsn_host(dsn)
    if not (host.startswith("/") or host in ("localhost", "::1") or host.startswith("127.")):
        return None
    backend = backend_pid()
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
