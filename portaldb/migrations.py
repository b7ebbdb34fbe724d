"""Schema migrations: numbered ``.sql`` files in ``sql/migrations``, applied in order, each once.

A run is one transaction: the pending files, each with its record in ``schema_migrations``, so a
failed migration leaves nothing half-applied. That transaction holds a transaction-level advisory
lock, so processes starting at once never race, also through a transaction pooler: the second
waits (at most ``LOCK_WAIT`` seconds, saying for whom), then finds nothing left to do. A file
changed after it was applied is refused (its checksum is recorded), since the database would no
longer match the code.

The checksum covers what the server runs, not the file's layout: it is taken over the statements
with comments removed and whitespace outside literals made one space (:func:`statement_text`), so
a comment, a blank line or indentation may be edited after a file was applied; anything the server
reads may not. Databases migrated before this form recorded the checksum of the whole file; such a
record is still accepted when it matches the file's text now or before one of the comment-only
edits listed in ``_EARLIER_FILE_CHECKSUMS``, and is then rewritten in the new form.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from .pool import Connection
from .queries import SQL_DIR, Queries

log = logging.getLogger("portaldb.migrations")

MIGRATIONS_DIR = SQL_DIR / "migrations"
SEED_FILE = SQL_DIR / "seed" / "demo.sql"
# Any fixed 64-bit number; it names this application's migration lock.
_LOCK_KEY = 0x6C616E67706F7274  # "langport"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# The whole-file checksums (the old form) of earlier texts of migration files whose comments alone
# were edited since: a database migrated before the edit recorded these. Each entry's statement
# text is the file's current one (checked when the edit was made).
_EARLIER_FILE_CHECKSUMS: dict[int, frozenset[str]] = {
    # issue 8: comments pointed at ../shared/spec/lang-portal-api.md and ENDPOINTS_NOTES.md
    1: frozenset({"d883f82d119b2a7313a60a1b7a6cea143b4734e996525284cba03eb8256ce858"}),
    2: frozenset({"159c188b531cdf9b37847c3b603a038af45850dfaa1d4f7cb6edc0526d9b5a53"}),
}
_DOLLAR_QUOTE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_PLAIN_RUN = re.compile(r"[^\s'\"$/-]+")


class MigrationError(RuntimeError):
    """The database's schema cannot be brought up to date; the message says why."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """The checksum recorded now: of the statements, without comments and layout."""
        return hashlib.sha256(statement_text(self.sql).encode()).hexdigest()

    @property
    def earlier_checksums(self) -> frozenset[str]:
        """Checksums of the old form (the whole file) that mean the same statements as today's."""
        whole_file = hashlib.sha256(self.sql.encode()).hexdigest()
        return frozenset({whole_file}) | _EARLIER_FILE_CHECKSUMS.get(self.version, frozenset())


def statement_text(sql: str) -> str:
    """The SQL as the server reads it: comments (``--`` and nested ``/* */``) removed and every run
    of whitespace outside string literals, quoted identifiers and dollar-quoted bodies made one
    space; those literals are kept byte for byte, so a ``--`` inside one is not a comment.
    """
    pieces: list[str] = []
    space = False
    i, end = 0, len(sql)

    def emit(piece: str) -> None:
        nonlocal space
        if space and pieces:
            pieces.append(" ")
        space = False
        pieces.append(piece)

    while i < end:
        char = sql[i]
        if char.isspace():
            space, i = True, i + 1
        elif sql.startswith("--", i):
            newline = sql.find("\n", i)
            space, i = True, end if newline < 0 else newline
        elif sql.startswith("/*", i):
            space, i = True, _after_block_comment(sql, i)
        elif char in "'\"":
            backslash_escapes = char == "'" and sql[i - 1 : i] in ("E", "e") and not _word_char(sql, i - 2)
            closing = _after_quoted(sql, i, backslash_escapes)
            emit(sql[i:closing])
            i = closing
        elif (tag := _DOLLAR_QUOTE.match(sql, i)) and not _word_char(sql, i - 1):
            closing = sql.find(tag[0], tag.end())
            if closing < 0:
                raise MigrationError(f"a dollar-quoted string opened with {tag[0]} is never closed")
            emit(sql[i : closing + len(tag[0])])
            i = closing + len(tag[0])
        else:
            run = _PLAIN_RUN.match(sql, i)
            piece = run[0] if run else char
            emit(piece)
            i += len(piece)
    return "".join(pieces)


def _word_char(sql: str, index: int) -> bool:
    return index >= 0 and (sql[index].isalnum() or sql[index] in "_$")


def _after_block_comment(sql: str, start: int) -> int:
    depth, i = 0, start
    while i < len(sql):
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    raise MigrationError("a /* comment is never closed")


def _after_quoted(sql: str, start: int, backslash_escapes: bool) -> int:
    quote, i = sql[start], start + 1
    while i < len(sql):
        if backslash_escapes and sql[i] == "\\":
            i += 2
        elif sql[i] == quote:
            if sql[i + 1 : i + 2] != quote:
                return i + 1
            i += 2  # a doubled quote stands for one
        else:
            i += 1
    raise MigrationError(f"a string or quoted name opened with {quote} is never closed")


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.iterdir()):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNNN_description.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"{directory}: migrations must be numbered 0001, 0002, ... without gaps")
    return found


# Seconds a migration run waits for the migration lock (another process migrating) or any table
# lock its statements need, before it gives up with a message saying what it waited for.
LOCK_WAIT = 60.0


async def migrate(
    conn: Connection,
    queries: Queries,
    *,
    seed_demo: bool = False,
    directory: Path = MIGRATIONS_DIR,
    lock_wait: float = LOCK_WAIT,
    role_timeouts: dict[str, str] | None = None,
) -> list[str]:
    """Apply what is pending; with ``seed_demo``, load the demo data into an empty database.

    Everything happens in one transaction that first takes a transaction-level advisory lock, so
    processes starting at once (several instances, through a transaction pooler or not) queue
    up: the first applies what is pending, the others then find nothing left to do; the lock
    goes with the transaction (COMMIT, ROLLBACK, or a connection lost), never leaks, and no wait
    is longer than ``lock_wait`` seconds. A failed migration applies nothing of this run.

    ``role_timeouts`` (``statement_timeout`` and ``idle_in_transaction_session_timeout`` in
    milliseconds, see :func:`..pool.statement_timeouts`) are made the defaults of the connecting
    role in this database: the way the timeouts reach server connections behind a transaction
    pooler (issue 10).

    Returns the names of the migrations applied.
    """
    migrations = discover(directory)
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute(queries.bound_migration_waits, str(max(1, int(lock_wait * 1000))))
        await _lock(conn, queries, lock_wait)
        await conn.execute(queries.create_migrations_table)
        applied = {row["version"]: row["checksum"] for row in await conn.fetch(queries.applied_migrations)}
        for migration in migrations:
            label = f"{migration.version:04d}_{migration.name}"
            if migration.version in applied:
                recorded = applied[migration.version]
                if recorded in migration.earlier_checksums:
                    await conn.execute(
                        queries.update_migration_checksum, migration.version, migration.checksum
                    )
                    log.info("migration %s: its checksum is now recorded over its statements only", label)
                elif recorded != migration.checksum:
                    raise MigrationError(
                        f"migration {label} was changed after it was applied to this database (its "
                        "statements differ; comments and layout may change freely); undo the change "
                        "and put it in a new migration file instead"
                    )
                continue
            try:
                await conn.execute(migration.sql)
            except asyncpg.LockNotAvailableError:
                raise MigrationError(
                    f"migration {label} waited more than {lock_wait:g} s for a lock on a table it "
                    "changes: another session holds it (a long transaction?); nothing was applied, "
                    "start again once it ends"
                ) from None
            await conn.execute(
                queries.record_migration, migration.version, migration.name, migration.checksum
            )
            log.info("applied migration %s", label)
            applied_now.append(label)
        if role_timeouts is not None:
            await conn.execute(
                queries.set_role_timeouts,
                role_timeouts["statement_timeout"],
                role_timeouts["idle_in_transaction_session_timeout"],
            )
            await conn.execute(queries.apply_role_timeouts)
        if seed_demo:
            await _seed_demo(conn, queries)
    return applied_now


async def _lock(conn: Connection, queries: Queries, lock_wait: float) -> None:
    """Take the migration lock for this transaction, waiting at most ``lock_wait`` seconds."""
    if await conn.fetchval(queries.try_lock_migrations, _LOCK_KEY):
        return
    holder = await conn.fetchrow(queries.migration_lock_holder, _LOCK_KEY)
    who = (
        f"server process {holder['pid']} ({holder['application_name']}, from {holder['client']})"
        if holder
        else "another process"
    )
    log.info("waiting up to %g s for %s to finish migrating this database", lock_wait, who)
    try:
        await conn.execute(queries.lock_migrations, _LOCK_KEY)
    except asyncpg.LockNotAvailableError:
        raise MigrationError(
            f"waited {lock_wait:g} s for {who} to finish migrating this database (it holds the "
            "migration lock, a transaction-level advisory lock); if it is stuck, end it with "
            f"SELECT pg_cancel_backend(pid), then start again"
        ) from None


async def _seed_demo(conn: Connection, queries: Queries) -> None:
    if await conn.fetchval(queries.has_catalogue):
        log.info(
            "kept the data already in the database: the demo data set (%s) goes only into an "
            "empty one (POST /api/full_reset, with --enable-reset, replaces everything with it)",
            SEED_FILE.name,
        )
        return
    await conn.execute(SEED_FILE.read_text(encoding="utf-8"))  # in migrate's transaction
    log.info("loaded the demo data set (%s)", SEED_FILE.name)


async def restore_demo(conn: Connection, queries: Queries) -> None:
    """Delete every row of every table and load the demo data again, in one transaction.

    Ids restart at 1, so the demo data gets the ids it had in a new database.
    """
    async with conn.transaction():
        await conn.execute(queries.take_every_table)  # never a deadlock with a request
        await conn.execute(queries.delete_all_data)
        await conn.execute(SEED_FILE.read_text(encoding="utf-8"))
    log.info("restored the demo data set (%s)", SEED_FILE.name)
