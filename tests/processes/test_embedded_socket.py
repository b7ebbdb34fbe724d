"""The embedded PostgreSQL's socket folder when the data folder's path is too long for a socket name:
a private folder made fresh at each start, never a predictable one another user could plant."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

import asyncpg
import pytest

from langportal import portaldb

from ..helpers import FIXTURE_SQL


@pytest.fixture
def long_data_dir():
    """A data folder whose socket path (``pgdata/.s.PGSQL.5432``) is over the 100-byte limit."""
    parent = Path(tempfile.mkdtemp(prefix="langportal-socket-test-"))
    parent.chmod(0o755)  # run as root, the database's own account must be able to enter it
    data_dir = parent / ("long-" + "x" * 90)
    yield data_dir
    shutil.rmtree(parent, ignore_errors=True)


def _predictable_socket_dir(data_dir: Path) -> Path:
    """The folder earlier versions used: the same name for the same data folder, every time."""
    digest = hashlib.sha256(str(data_dir.resolve() / "pgdata").encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"langportal-pg-{digest}"


@pytest.fixture
def planted(long_data_dir):
    """What another local user could leave at the predictable path before the server starts."""
    victim = Path(tempfile.mkdtemp(prefix="langportal-victim-"))
    predictable = _predictable_socket_dir(long_data_dir)
    made = []

    def plant(kind: str) -> Path:
        if kind == "symlink":
            predictable.symlink_to(victim)
        else:  # a folder of someone else's, open to all
            predictable.mkdir()
            predictable.chmod(0o777)
            os.chown(predictable, 65534, 65534)  # nobody
        made.append(predictable)
        return victim

    yield plant
    for path in made:
        if path.is_symlink():
            path.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(victim, ignore_errors=True)


@pytest.mark.parametrize("kind", ["symlink", "foreign_folder"])
async def test_a_planted_socket_folder_is_neither_used_nor_chowned(long_data_dir, planted, kind):
    victim = planted(kind)
    predictable = _predictable_socket_dir(long_data_dir)
    victim_before = victim.lstat()
    planted_before = predictable.lstat()
    server = portaldb.EmbeddedPostgres(long_data_dir)
    with pytest.raises(portaldb.EmbeddedPostgresError, match="call start"):
        server.dsn  # noqa: B018 (no socket folder before the start)
    server.start()
    try:
        socket_dir = server.socket_dir
        assert socket_dir != predictable
        assert socket_dir.parent == Path(tempfile.gettempdir())
        info = socket_dir.lstat()
        assert stat.S_ISDIR(info.st_mode)  # a real folder, not a symlink
        assert stat.S_IMODE(info.st_mode) == 0o700
        expected_owner = os.geteuid() if os.geteuid() != 0 else server.pgdata.stat().st_uid
        assert info.st_uid == expected_owner
        conn = await asyncpg.connect(server.dsn)
        try:
            assert await conn.fetchval(FIXTURE_SQL.server_setting, "unix_socket_directories") == str(
                socket_dir
            )
        finally:
            await conn.close()
    finally:
        server.stop()
    assert not socket_dir.exists()  # removed at stop
    for before, after in ((victim_before, victim.lstat()), (planted_before, predictable.lstat())):
        assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == (
            before.st_uid,
            before.st_gid,
            stat.S_IMODE(before.st_mode),
        )


def test_each_start_gets_a_new_socket_folder(long_data_dir):
    server = portaldb.EmbeddedPostgres(long_data_dir)
    with server:
        first = server.socket_dir
    with server:
        second = server.socket_dir
        assert second.is_dir()
    assert first != second
    assert not first.exists()
    assert not second.exists()


def test_a_short_data_folder_keeps_its_socket_in_pgdata(tmp_path):
    server = portaldb.EmbeddedPostgres(tmp_path / "data")
    assert server.socket_dir == server.pgdata  # known before the start; nothing in the temp folder
