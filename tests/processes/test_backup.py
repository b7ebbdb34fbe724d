"""`backup`, `restore` and `psql` (issue 9), run as a user runs them: `python server.py backup FILE`.

Every test backs up, destroys, restores and compares every table's contents, byte for byte
(``COPY ... TO STDOUT`` of each table, lines sorted), before and after.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from langportal.backups import open_database
from langportal.settings import parse_args

from ..conftest import fresh_folder
from ..helpers import FIXTURE_SQL
from ..servers import SERVER, Server

Snapshot = dict[str, list[bytes]]


def command(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SERVER), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def dsn_of(data_dir: Path) -> contextlib.AbstractContextManager:
    """The embedded database of ``data_dir``: a running server's, or started for the duration."""
    return open_database(parse_args(["--data-dir", str(data_dir)]), create=False)


async def _snapshot(dsn: str) -> Snapshot:
    conn = await asyncpg.connect(dsn)
    try:
        tables = [row[0] for row in await conn.fetch(FIXTURE_SQL.portal_tables)]
        snapshot = {}
        for table in tables:
            out = io.BytesIO()
            await conn.copy_from_table(table, output=out)
            snapshot[table] = sorted(out.getvalue().splitlines())
        return snapshot
    finally:
        await conn.close()


def snapshot(data_dir: Path) -> Snapshot:
    with dsn_of(data_dir) as database:
        return asyncio.run(_snapshot(database.dsn))


def destroy(data_dir: Path) -> None:
    async def drop(dsn: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(FIXTURE_SQL.drop_everything)
        finally:
            await conn.close()

    with dsn_of(data_dir) as database:
        asyncio.run(drop(database.dsn))


def post(port: int, path: str, body: dict, key: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST", headers=headers
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def server(data_dir: Path, unused_port: int) -> Iterator[Server]:
    """A server on ``data_dir`` with the demo data and a few sessions and reviews of its own."""
    running = Server("--data-dir", str(data_dir), "--port", str(unused_port))
    try:
        running.wait_for("listening on")
        for n in range(3):
            session = post(
                unused_port, "/api/study_sessions", {"group_id": 1, "study_activity_id": 1}, f"k{n}"
            )
            sid = session["study_session"]["id"]
            post(unused_port, f"/api/study_sessions/{sid}/words/1/review", {"correct": n % 2 == 0})
        yield running
    finally:
        if running.process.poll() is None:  # stopped gently, so its PostgreSQL stops too
            running.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                running.process.wait(timeout=30)
        running.kill()


def stop(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    code, log = server.finish()
    assert code == 0, log


def assert_full(snapshot: Snapshot) -> None:
    """A snapshot of a database worth restoring: every table there, with rows in the main ones."""
    for table in (
        "groups",
        "words",
        "study_activities",
        "study_sessions",
        "word_review_items",
        "idempotency_keys",
    ):
        assert snapshot.get(table), f"{table} is empty: {sorted(snapshot)}"


def test_backup_while_serving_destroy_restore_every_row_is_back(server: Server, data_dir: Path):
    with fresh_folder("langportal-backup-") as folder:
        backup = folder / "portal.dump"
        before = snapshot(data_dir)  # through the running server's socket
        assert_full(before)

        made = command("backup", "--data-dir", str(data_dir), str(backup))
        assert made.returncode == 0, made.stderr
        assert "(served now)" in made.stdout
        assert backup.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format

        destroy(data_dir)
        assert snapshot(data_dir) == {}
        restored = command("restore", "--data-dir", str(data_dir), str(backup))
        assert restored.returncode == 0, restored.stderr
        assert "restart it" in restored.stderr  # a server runs on it: its cached statements are stale
        assert snapshot(data_dir) == before

        stop(server)
        assert snapshot(data_dir) == before  # and the server stopped cleanly over it


def test_backup_while_stopped_restores_into_a_fresh_data_dir(server: Server, data_dir: Path):
    stop(server)
    before = snapshot(data_dir)
    assert_full(before)
    with fresh_folder("langportal-backup-") as folder, fresh_folder("langportal-restored-") as fresh:
        backup = folder / "portal.dump"
        made = command("backup", "--data-dir", str(data_dir), str(backup))
        assert made.returncode == 0, made.stderr
        assert "(served now)" not in made.stdout
        assert not (data_dir / "pgdata" / "postmaster.pid").exists()  # the database it started was stopped

        restored = command("restore", "--data-dir", str(fresh), str(backup))
        assert restored.returncode == 0, restored.stderr
        assert snapshot(fresh) == before

        # a server starts on the restored database and finds its data
        port = server.process.args[-1]
        again = Server("--data-dir", str(fresh), "--port", port)
        try:
            again.wait_for("listening on")
            assert "database migrated" not in again.output  # the schema came back whole
        finally:
            stop(again)


def test_restore_refuses_a_non_empty_database_unless_replace(server: Server, data_dir: Path):
    port = int(server.process.args[-1])
    with fresh_folder("langportal-backup-") as folder:
        backup = folder / "portal.dump"
        assert command("backup", "--data-dir", str(data_dir), str(backup)).returncode == 0
        before = snapshot(data_dir)
        post(port, "/api/study_sessions", {"group_id": 2, "study_activity_id": 1})  # changed since
        changed = snapshot(data_dir)
        assert changed != before

        refused = command("restore", "--data-dir", str(data_dir), str(backup))
        assert refused.returncode == 2
        assert "is not empty" in refused.stderr, refused.stderr
        assert "--replace" in refused.stderr
        assert snapshot(data_dir) == changed  # nothing was touched

        replaced = command("restore", "--replace", "--data-dir", str(data_dir), str(backup))
        assert replaced.returncode == 0, replaced.stderr
        assert snapshot(data_dir) == before


def test_restore_refuses_what_is_not_a_backup(data_dir: Path):
    with fresh_folder("langportal-backup-") as folder:
        bogus = folder / "notes.txt"
        bogus.write_text("not a dump")
        refused = command("restore", "--data-dir", str(data_dir), str(bogus))
        assert refused.returncode == 2
        assert "is not a backup made by" in refused.stderr
        missing = command("backup", "--data-dir", str(data_dir), str(folder / "b.dump"))
        assert missing.returncode == 2
        assert "there is no embedded database in" in missing.stderr


def test_psql_opens_on_the_embedded_database(server: Server, data_dir: Path):
    shell = command("psql", "--data-dir", str(data_dir), "--", "-tAc", "select count(*) from groups")
    assert shell.returncode == 0, shell.stderr
    assert int(shell.stdout.strip()) > 0


def test_help_lists_the_commands():
    listed = command("--help")
    assert listed.returncode == 0
    for name in ("backup", "restore", "psql"):
        assert f"\n  {name} " in listed.stdout
    for name in ("backup", "restore", "psql"):
        own = command(name, "--help")
        assert own.returncode == 0
        assert "--data-dir" in own.stdout
    unknown = command("bakcup", "x")
    assert unknown.returncode == 2
    assert "no command 'bakcup'" in unknown.stderr
