"""Secure defaults: what the server exposes, and to whom."""

from __future__ import annotations

import ast
import os
import re
import stat
from pathlib import Path

import asyncpg
import pytest

from langportal import portaldb
from langportal.settings import parse_args

from ..helpers import FIXTURE_SQL, Db, send

ROOT = Path(__file__).resolve().parent.parent.parent


def test_listens_on_loopback_only_by_default(monkeypatch):
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("CORS_ORIGINS", raising=False)
    config = parse_args([])
    assert config.host == "127.0.0.1"
    assert config.cors_origins is None  # "*" unless an allowlist is given
    assert config.port == 5000


async def test_no_banner_and_no_sniffing(http_server_client, db: Db):
    for path in ("/api/study_sessions/1", "/api/nowhere", "/healthz"):
        reply = await send(http_server_client, "GET", path)
        assert "Server" not in reply.headers
        assert reply.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_embedded_database_is_reachable_only_by_its_socket(own_database):
    conn = await asyncpg.connect(own_database.dsn)
    try:
        assert await conn.fetchval(FIXTURE_SQL.server_setting, "listen_addresses") == ""  # no TCP at all
        assert await conn.fetchval(FIXTURE_SQL.server_setting, "unix_socket_permissions") == "0700"
    finally:
        await conn.close()
    for folder in (own_database.data_dir, own_database.socket_dir):
        mode = stat.S_IMODE(folder.stat().st_mode)
        assert mode & 0o077 == 0, f"{folder} is open to others: {oct(mode)}"


def test_the_embedded_database_runs_as_an_unprivileged_account(own_database):
    pid = int((own_database.pgdata / "postmaster.pid").read_text().split()[0])
    owner = Path(f"/proc/{pid}").stat().st_uid
    assert owner != 0
    if os.geteuid() != 0:
        assert owner == os.geteuid()


def test_a_folder_holding_other_files_is_not_taken_over(data_dir):
    """Run as root, the embedded database gives its folder to its own account: a --data-dir that
    already holds other files (a checkout, a home folder) is refused, its owner left as it was."""
    if os.geteuid() != 0:
        pytest.skip("only a server run as root gives its data folder to another account")
    (data_dir / "notes.txt").write_text("mine")
    owner = data_dir.stat().st_uid
    with pytest.raises(portaldb.EmbeddedPostgresError, match=r"already holds other files \(notes.txt\)"):
        portaldb.EmbeddedPostgres(data_dir).start()
    assert data_dir.stat().st_uid == owner
    assert sorted(p.name for p in data_dir.iterdir()) == ["notes.txt"]
    (data_dir / "notes.txt").unlink()  # empty: the database may have it
    with portaldb.EmbeddedPostgres(data_dir) as database:
        assert database.data_dir.stat().st_uid != owner


SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|TRUNCATE|CREATE|DROP|ALTER)\b")


def test_sql_lives_in_sql_files_never_in_python_strings():
    """Application code runs only named statements from sql/ files: no SQL text in its strings,
    so no statement is ever built from request data."""
    offenders = []
    for folder in ("langportal", "handlers", "portaldb"):
        for path in sorted((ROOT / folder).glob("*.py")):
            tree = ast.parse(path.read_text())
            docstrings = {
                id(node.body[0].value)
                for node in ast.walk(tree)
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and node.body
                and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Constant)
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.JoinedStr) or (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in docstrings
                ):
                    text = ast.unparse(node) if isinstance(node, ast.JoinedStr) else node.value
                    if SQL_WORDS.search(text) and re.search(r"\b(FROM|INTO|SET|TABLE|WHERE)\b", text):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text[:60]!r}")
    assert offenders == []
