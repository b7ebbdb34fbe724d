"""The database's disk full under load (issue 13): 503s that say so, never 500s.

The embedded database's data folder is a small tmpfs the test mounts (root only; skipped, saying
why, where mounting is not allowed). Under load from 16 clients, a file fills the remaining space:
table and index files can no longer grow (SQLSTATE 53100). The WAL segment in use is preallocated
at 16 MiB, so PostgreSQL keeps writing its log and does not PANIC (the test checks it did not
restart). While full: 503s with Retry-After and the disk-full message (and now and then a true 201,
in room an aborted insert left in a page), never a 500; one log line for the episode, ``/readyz``
not ready. Freed: a 201 within a second, ``/readyz`` ready, one line
"recovered after N refused requests".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg
import pytest
import tornado.httpclient

from langportal import portaldb

from ..dbload import Load, stored_ids
from ..helpers import FAULT_SQL, wait_until
from ..servers import Server

DISK_FULL = "the database's disk is full; free space on the database server, then retry"
TMPFS_SIZE = "96m"  # the cluster takes about 40 MiB, its WAL segment in use 16 of them


@pytest.fixture
def small_disk():
    """A folder on a tmpfs of its own, unmounted and removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs for the full-disk test needs root")
    folder = Path(tempfile.mkdtemp(prefix="langportal-diskfull-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield folder
    finally:
        database = portaldb.EmbeddedPostgres(folder)
        if database.is_running():  # the server was killed by the teardown: stop its database
            os.kill(database.postmaster_pid(), signal.SIGQUIT)
            deadline = time.monotonic() + 10
            while database.is_running() and time.monotonic() < deadline:
                time.sleep(0.1)
        for _ in range(50):  # the database's last processes may take a moment to let go
            if subprocess.run(["umount", str(folder)], capture_output=True, check=False).returncode == 0:
                break
            time.sleep(0.2)
        shutil.rmtree(folder, ignore_errors=True)


def fill(folder: Path) -> Path:
    """A file taking every free byte of ``folder``'s file system."""
    balloon = folder / "balloon"
    chunk = b"\0" * (1 << 20)
    with balloon.open("wb", buffering=0) as out:
        with contextlib.suppress(OSError):  # ENOSPC: full
            while True:
                out.write(chunk)
        with contextlib.suppress(OSError):  # the last partial megabyte
            while True:
                out.write(b"\0" * 4096)
    return balloon


async def readyz(port: int) -> tuple[int, dict]:
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    try:
        reply = await client.fetch(f"http://127.0.0.1:{port}/readyz", raise_error=False, request_timeout=10)
        return reply.code, json.loads(reply.body)
    finally:
        client.close()


def test_disk_full_under_load(io_loop, small_disk, unused_port):
    server = Server(
        "--port", str(unused_port), "--data-dir", str(small_disk),
        "--pool-timeout", "2", "--statement-timeout", "2",
    )  # fmt: skip
    try:
        server.wait_for("listening on")
        load = Load(f"http://127.0.0.1:{unused_port}/api/study_sessions")
        timeline: dict[str, float] = {}
        balloon: list[Path] = []
        answers: dict[str, tuple[int, dict]] = {}

        async def scenario() -> None:
            running = asyncio.ensure_future(load.run(deadline=time.monotonic() + 30))
            await wait_until(load.created, 15, "a 201 before the disk filled")  # serving, under load
            balloon.append(await asyncio.to_thread(fill, small_disk))
            timeline["full"] = time.monotonic()
            while time.monotonic() - timeline["full"] < 10:  # until the tables cannot grow
                if any(r.status == 503 and r.started > timeline["full"] for r in load.requests):
                    break
                await asyncio.sleep(0.05)
            timeline["refusing"] = time.monotonic()
            await asyncio.sleep(2)  # on purpose: full, under load, for a while
            await wait_until(
                lambda: sum(r.started > timeline["refusing"] for r in load.requests) >= load.workers,
                20,
                f"{load.workers} answers to requests sent while the disk was full",
            )
            answers["ready_full"] = await readyz(unused_port)
            balloon[0].unlink()
            timeline["freed"] = time.monotonic()
            while time.monotonic() - timeline["freed"] < 10:
                if any(r.status == 201 and r.started > timeline["freed"] for r in load.requests):
                    break
                await asyncio.sleep(0.02)
            timeline["back"] = min(
                (r.ended for r in load.requests if r.status == 201 and r.started > timeline["freed"]),
                default=float("inf"),
            )
            answers["ready_freed"] = await readyz(unused_port)
            # the episode ends with a write a second after the last refusal: under load still
            await asyncio.to_thread(server.wait_for, r"database recovered after \d+ refused requests", 20)
            load.stop.set()
            await running

        io_loop.run_sync(scenario, timeout=90)
        rows = io_loop.run_sync(lambda: stored_ids(portaldb.EmbeddedPostgres(small_disk).dsn))
        statuses = load.statuses()
        created = load.created()
        full = [r for r in load.requests if timeline["refusing"] < r.started and r.ended < timeline["freed"]]
        refused = statuses.get(503, 0)
        print(
            f"\ndisk full: statuses {statuses}, 201s {len(created)}, rows {len(rows)}, "
            f"lost {len(created - rows)}, rows without a 201 {len(rows - created)}, "
            f"while full: {sum(r.status == 503 for r in full)} 503s and "
            f"{sum(r.status == 201 for r in full)} 201s, "
            f"first 201 {timeline['back'] - timeline['freed']:.2f} s after the space was freed, "
            f"readyz full {answers['ready_full']}, freed {answers['ready_freed'][0]}"
        )
        server.process.send_signal(signal.SIGTERM)
        code, log = server.finish()
        print("\n".join(line for line in log.splitlines() if " portaldb." in line))
        assert code == 0, log
        assert 500 not in statuses, log[-6000:]
        assert set(statuses) <= {201, 503}, statuses
        assert refused > 0
        assert load.missing_retry_after == 0
        # While full: 503s, never a 500. Now and then a create succeeds even so, in room an
        # aborted batch left in the table's pages: a true 201, its row is stored (checked below).
        assert full
        assert {r.status for r in full} <= {201, 503}
        assert sum(r.status == 503 for r in full) > 0.5 * len(full)
        assert answers["ready_full"] == (503, {"error": DISK_FULL})
        assert timeline["back"] - timeline["freed"] < 1.0
        assert answers["ready_freed"] == (200, {"status": "ready"})
        assert created <= rows  # every 201 stored
        assert rows == created  # a refused create stored nothing
        # one line when it began, one when it ended (with the count), none per request
        trouble = re.findall(r"database trouble: .*", log)
        assert len(trouble) == 1, log[-6000:]
        assert trouble[0].startswith("database trouble: the database's disk is full (DiskFullError: ")
        recovered = re.findall(r"database recovered after (\d+) refused requests", log)
        assert len(recovered) == 1, log[-6000:]
        assert int(recovered[0]) == refused + 1  # the clients' 503s and the readiness probe's
        assert "exited unexpectedly" not in log  # no PANIC: the WAL had room
        assert "Traceback" not in log
        assert "No such process" not in log
    finally:
        server.kill()


def test_disk_full_past_the_wal_panics_and_the_database_comes_back(io_loop, small_disk, unused_port):
    """When the full disk cannot take a new WAL segment, PostgreSQL PANICs and stops; it cannot
    start again until there is room (its own FATAL line says why, and the restarts back off);
    once space is freed it comes back by itself. Meanwhile only 503s, every 201 kept."""
    server = Server(
        "--port", str(unused_port), "--data-dir", str(small_disk),
        "--pool-timeout", "2", "--statement-timeout", "2",
    )  # fmt: skip
    try:
        server.wait_for("listening on")
        dsn = portaldb.EmbeddedPostgres(small_disk).dsn
        load = Load(f"http://127.0.0.1:{unused_port}/api/study_sessions")
        timeline: dict[str, float] = {}
        answers: dict[str, tuple[int, dict]] = {}

        async def scenario() -> None:
            running = asyncio.ensure_future(load.run(deadline=time.monotonic() + 45))
            await wait_until(load.created, 15, "a 201 before the disk filled")  # serving, under load
            balloon = await asyncio.to_thread(fill, small_disk)
            conn = await asyncpg.connect(dsn)
            try:  # the next WAL record needs a new segment; the PANIC may cut this very statement
                await conn.fetchval(FAULT_SQL.switch_wal)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                pass
            finally:
                conn.terminate()
            timeline["kill"] = time.monotonic()
            await asyncio.to_thread(server.wait_for, "exited unexpectedly", 15)
            # two restarts failed for want of room: the next comes 1 s after the last
            await asyncio.to_thread(server.wait_for, r"3 crashes or failed starts in a row, next restart", 20)
            answers["ready_down"] = await readyz(unused_port)
            balloon.unlink()
            timeline["freed"] = time.monotonic()
            while time.monotonic() - timeline["freed"] < 15:
                if any(r.status == 201 and r.started > timeline["freed"] for r in load.requests):
                    break
                await asyncio.sleep(0.05)
            timeline["back"] = min(
                (r.ended for r in load.requests if r.status == 201 and r.started > timeline["freed"]),
                default=float("inf"),
            )
            await asyncio.sleep(1)  # on purpose: serving again, under load, for a while
            load.stop.set()
            await running
            answers["ready_after"] = await readyz(unused_port)

        io_loop.run_sync(scenario, timeout=120)
        rows = io_loop.run_sync(lambda: stored_ids(dsn))
        statuses = load.statuses()
        created = load.created()
        unsure = [r for r in load.requests if r.status != 201 and r.ended > timeline["kill"]]
        unsure = [r for r in unsure if r.started < timeline["back"]]
        server.process.send_signal(signal.SIGTERM)
        code, log = server.finish()
        print(
            f"\ndisk full past the WAL: statuses {statuses}, 201s {len(created)}, rows {len(rows)}, "
            f"lost {len(created - rows)}, rows without a 201 {len(rows - created)} (failed "
            f"while it was down: {len(unsure)}), first 201 "
            f"{timeline['back'] - timeline['freed']:.2f} s after the space was freed"
        )
        print("\n".join(line for line in log.splitlines() if " portaldb." in line))
        assert code == 0, log
        assert 500 not in statuses, log[-6000:]
        assert set(statuses) <= {201, 503}, statuses
        assert load.missing_retry_after == 0
        assert answers["ready_down"][0] == 503
        assert timeline["back"] - timeline["freed"] < 6, log[-6000:]
        assert answers["ready_after"] == (200, {"status": "ready"})
        assert created <= rows
        assert len(rows - created) <= len(unsure)
        assert log.count("exited unexpectedly") == 1, log
        assert log.count("the embedded PostgreSQL is back") == 1, log
        # why it cannot start: PostgreSQL's own FATAL line when its log had room for it, and the
        # full disk in any case
        failures = re.findall(r"could not restart the embedded PostgreSQL: .*", log)
        assert failures, log
        assert all(f"the disk of {small_disk} is full: free space there" in line for line in failures)
        assert "Traceback" not in log
        assert "No such process" not in log
    finally:
        server.kill()
