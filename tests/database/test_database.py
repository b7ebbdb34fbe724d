"""Migrations (in order, each once, under a lock, checksummed) and the demo data set."""

from __future__ import annotations

import asyncio
import hashlib

import asyncpg
import pytest

from langportal import portaldb
from langportal.portaldb.migrations import discover, statement_text

from ..helpers import FIXTURE_SQL

SCHEMA = "langportal_migration_test"


@pytest.fixture
def scratch(io_loop, pool, direct_database_url):
    """Connections whose tables live in an empty schema of their own (a search_path set for the
    session: directly, also when the run goes through a pooler; tests/cluster/test_pooler.py migrates
    through one)."""
    io_loop.run_sync(lambda: pool.execute(FIXTURE_SQL.reset_scratch_schema))
    opened = []

    async def connect() -> asyncpg.Connection:
        conn = await asyncpg.connect(direct_database_url, server_settings={"search_path": SCHEMA})
        opened.append(conn)
        return conn

    yield connect

    async def cleanup():
        for conn in opened:
            await conn.close()
        await pool.execute(FIXTURE_SQL.drop_scratch_schema)

    io_loop.run_sync(cleanup)


async def test_migrations_apply_once(scratch):
    conn = await scratch()
    queries = portaldb.load_queries()
    first = await portaldb.migrate(conn, queries)
    assert first == [f"{m.version:04d}_{m.name}" for m in discover()]
    assert await portaldb.migrate(conn, queries) == []
    tables = [r["table_name"] for r in await conn.fetch(FIXTURE_SQL.tables_in_schema)]
    assert {
        "groups",
        "study_activities",
        "study_sessions",
        "words",
        "words_groups",
        "word_review_items",
    } <= set(tables)


async def test_two_processes_starting_at_once_do_not_race(scratch):
    queries = portaldb.load_queries()
    conns = [await scratch() for _ in range(4)]
    results = await asyncio.gather(*(portaldb.migrate(c, queries) for c in conns))
    assert sorted(len(r) for r in results) == [0, 0, 0, len(discover())]
    versions = [r["version"] for r in await conns[0].fetch(FIXTURE_SQL.migration_versions)]
    assert versions == [m.version for m in discover()]


async def test_an_edited_migration_is_refused(scratch):
    conn = await scratch()
    queries = portaldb.load_queries()
    await portaldb.migrate(conn, queries)
    await conn.execute(FIXTURE_SQL.corrupt_migration_checksum)
    with pytest.raises(portaldb.MigrationError, match="was changed after it was applied"):
        await portaldb.migrate(conn, queries)


MIGRATION = """-- A table for the test.
CREATE TABLE t (
    a text DEFAULT '-- not a comment',  -- a comment
    b text DEFAULT $$ /* kept */ $$
);
"""


async def _migrate_file(conn, folder, text: str) -> list[str]:
    (folder / "0001_t.sql").write_text(text)
    return await portaldb.migrate(conn, portaldb.load_queries(), directory=folder)


async def test_editing_only_comments_and_layout_of_an_applied_migration_is_accepted(scratch, tmp_path):
    conn = await scratch()
    assert await _migrate_file(conn, tmp_path, MIGRATION) == ["0001_t"]
    edited = (
        "-- A table for the test; this comment was reworded,\n-- and grew a line.\n\n"
        "CREATE TABLE t\n(\n  a text DEFAULT '-- not a comment', /* another /* nested */ comment */\n\n"
        "  b text DEFAULT $$ /* kept */ $$  -- a new comment\n);\n"
    )
    assert await _migrate_file(conn, tmp_path, edited) == []


@pytest.mark.parametrize(
    "edited",
    [
        MIGRATION.replace("b text", "b varchar"),  # a statement
        MIGRATION.replace("'-- not a comment'", "'-- not a comment!'"),  # a string that looks like one
        MIGRATION.replace("/* kept */", "/* changed */"),  # a dollar-quoted body
        MIGRATION.replace("DEFAULT '", "DEFAULT  '").replace("-- not a", "--  not a"),  # inside a literal
    ],
)
async def test_editing_the_sql_of_an_applied_migration_is_refused(scratch, tmp_path, edited):
    conn = await scratch()
    await _migrate_file(conn, tmp_path, MIGRATION)
    with pytest.raises(portaldb.MigrationError, match="was changed after it was applied"):
        await _migrate_file(conn, tmp_path, edited)


async def test_a_checksum_recorded_in_the_old_form_is_accepted_and_rewritten(scratch):
    """Databases migrated before the checksum left comments out recorded one over the whole file;
    for files whose comments were edited since, over their earlier text."""
    conn = await scratch()
    queries = portaldb.load_queries()
    await portaldb.migrate(conn, queries)
    migrations = discover()
    whole_file = {m.version: hashlib.sha256(m.sql.encode()).hexdigest() for m in migrations}
    before_comment_fixes = {  # sql/migrations/0001 and 0002 before issue 8 fixed their comments
        1: "d883f82d119b2a7313a60a1b7a6cea143b4734e996525284cba03eb8256ce858",
        2: "159c188b531cdf9b37847c3b603a038af45850dfaa1d4f7cb6edc0526d9b5a53",
    }
    for version, checksum in {**whole_file, **before_comment_fixes}.items():
        await conn.execute(FIXTURE_SQL.set_migration_checksum, version, checksum)
    assert await portaldb.migrate(conn, queries) == []
    recorded = {r["version"]: r["checksum"] for r in await conn.fetch(FIXTURE_SQL.migration_checksums)}
    assert recorded == {m.version: m.checksum for m in migrations}
    assert await portaldb.migrate(conn, queries) == []


def test_statement_text_drops_comments_and_layout_only():
    assert statement_text("SELECT 1 -- one\n  ,  /* two */ 2;\n") == "SELECT 1 , 2;"
    assert statement_text("SELECT 'a -- b', \"c  /* d */\", $f$ -- e $f$;") == (
        "SELECT 'a -- b', \"c  /* d */\", $f$ -- e $f$;"
    )
    assert statement_text("SELECT E'it\\'s -- x', 'it''s -- y';") == "SELECT E'it\\'s -- x', 'it''s -- y';"
    assert statement_text("SELECT 2-1, 4/2, a$b$c FROM t") == "SELECT 2-1, 4/2, a$b$c FROM t"
    for broken in ("SELECT 'open", "SELECT $$ open", "SELECT /* open /* */"):
        with pytest.raises(portaldb.MigrationError, match="never closed"):
            statement_text(broken)


async def test_demo_data_loads_once_and_only_into_an_empty_database(scratch):
    conn = await scratch()
    queries = portaldb.load_queries()
    await portaldb.migrate(conn, queries, seed_demo=True)
    groups = await conn.fetchval(FIXTURE_SQL.count_groups)
    activities = await conn.fetchval(FIXTURE_SQL.count_study_activities)
    assert groups >= 2
    assert activities >= 2
    await portaldb.migrate(conn, queries, seed_demo=True)
    assert await conn.fetchval(FIXTURE_SQL.count_groups) == groups


async def test_no_demo_data_unless_asked(scratch):
    conn = await scratch()
    await portaldb.migrate(conn, portaldb.load_queries())
    assert await conn.fetchval(FIXTURE_SQL.count_groups) == 0


def test_named_queries_parse_strictly():
    from langportal.portaldb.queries import parse

    assert parse("-- header\n-- name: a\nSELECT 1;\n-- name: b\nSELECT 2;", "x.sql") == {
        "a": "SELECT 1;",
        "b": "SELECT 2;",
    }
    with pytest.raises(ValueError, match="used twice"):
        parse("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;", "x.sql")
    with pytest.raises(ValueError, match="before the first"):
        parse("SELECT 0;\n-- name: a\nSELECT 1;", "x.sql")
    with pytest.raises(ValueError, match="empty"):
        parse("-- name: a\n\n-- name: b\nSELECT 1;", "x.sql")


def test_a_statement_keeps_its_doc_comment_and_nothing_after_its_sql():
    from langportal.portaldb.queries import parse

    text = (
        "-- A file's header.\n\n"
        "-- name: first\n"
        "-- The first statement's doc comment,\n"
        "-- on two lines.\n"
        "SELECT 1;\n\n"
        "-- A section heading that introduces the next statements.\n"
        "-- More of it.\n\n"
        "-- name: second\n"
        "SELECT 2\n"
        "-- a comment inside the statement stays\n"
        "FROM t;\n"
        "-- trailing words at the end of the file\n"
    )
    assert parse(text, "x.sql") == {
        "first": "-- The first statement's doc comment,\n-- on two lines.\nSELECT 1;",
        "second": "SELECT 2\n-- a comment inside the statement stays\nFROM t;",
    }
    with pytest.raises(ValueError, match="empty"):
        parse("-- name: a\n-- only a doc comment, no SQL\n\n-- name: b\nSELECT 1;", "x.sql")


def test_no_loaded_statement_ends_in_a_comment():
    queries = portaldb.load_queries()
    for name in queries.names():
        last_line = getattr(queries, name).splitlines()[-1]
        assert not last_line.lstrip().startswith("--"), f"{name} ends with {last_line!r}"


async def test_a_stuck_statement_cannot_hold_a_connection(direct_database_url):
    """statement_timeout is set on every pooled connection: the server cancels a statement that
    runs too long, and the connection is free again at once. (Directly: through a transaction
    pooler the timeout is the role's default instead, tested in tests/cluster/test_pooler.py.)"""
    pool = await portaldb.create_pool(
        direct_database_url, min_size=1, max_size=1, connect_timeout=5, statement_timeout=0.3
    )
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(asyncpg.QueryCanceledError):
            await pool.fetchval(FIXTURE_SQL.sleep_seconds, 5)
        assert asyncio.get_running_loop().time() - started < 2
        assert await pool.fetchval(FIXTURE_SQL.sleep_seconds, 0) is None  # the connection still works
    finally:
        await pool.close()


async def test_pooled_connections_compile_nothing_just_in_time(direct_database_url):
    """JIT is off on every pooled connection (portaldb/pool.py NO_JIT): compiling a deep page's
    plan cost more than running it. (Through a transaction pooler: tests/cluster/test_pooler.py.)"""
    pool = await portaldb.create_pool(
        direct_database_url, min_size=1, max_size=1, connect_timeout=5, statement_timeout=5
    )
    try:
        assert await pool.fetchval(FIXTURE_SQL.server_setting, "jit") == "off"
    finally:
        await pool.close()
