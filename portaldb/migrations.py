"""Schema migrations: numbered ``.sql`` files in ``sql/migrations``, applied in order, each once.

Each file runs in its own transaction together with its record in ``schema_migrations``, so a
failed migration leaves nothing half-applied. The whole run holds a PostgreSQL advisory lock, so two
processes starting at once never race: the second waits, then finds nothing left to do. A file
changed after it was applied is refused (its checksum is recorded), since the database would no
longer match the code.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from .queries import SQL_DIR, Queries

log = logging.getLogger("portaldb.migrations")

MIGRATIONS_DIR = SQL_DIR / "migrations"
SEED_FILE = SQL_DIR / "seed" / "demo.sql"
# Any fixed 64-bit number; it names this application's migration lock.
_LOCK_KEY = 0x6C616E67706F7274  # "langport"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """The database's schema cannot be brought up to date; the message says why."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


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


async def migrate(conn: asyncpg.Connection, queries: Queries, *, seed_demo: bool = False) -> list[str]:
    """Apply what is pending; with ``seed_demo``, load the demo data into an empty database.

    Returns the names of the migrations applied.
    """
    migrations = discover()
    applied_now: list[str] = []
    await conn.execute(queries.lock_migrations, _LOCK_KEY)
    try:
        await conn.execute(queries.create_migrations_table)
        applied = {row["version"]: row["checksum"] for row in await conn.fetch(queries.applied_migrations)}
        for migration in migrations:
            label = f"{migration.version:04d}_{migration.name}"
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {label} was changed after it was applied to this database; "
                        "put the change in a new migration file instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    queries.record_migration,
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("applied migration %s", label)
            applied_now.append(label)
        if seed_demo:
            await _seed_demo(conn, queries)
    finally:
        await conn.execute(queries.unlock_migrations, _LOCK_KEY)
    return applied_now


async def _seed_demo(conn: asyncpg.Connection, queries: Queries) -> None:
    if await conn.fetchval(queries.has_catalogue):
        log.info(
            "the database already has groups or study activities, so the demo data set (%s) was "
            "not loaded; it is loaded only into an empty database (POST /api/full_reset, with "
            "--enable-reset, replaces everything with it)",
            SEED_FILE.name,
        )
        return
    async with conn.transaction():
        await conn.execute(SEED_FILE.read_text(encoding="utf-8"))
    log.info("loaded the demo data set (%s)", SEED_FILE.name)


async def restore_demo(conn: asyncpg.Connection, queries: Queries) -> None:
    """Delete every row of every table and load the demo data again, in one transaction.

    Ids restart at 1, so the demo data gets the ids it had in a new database.
    """
    async with conn.transaction():
        await conn.execute(queries.delete_all_data)
        await conn.execute(SEED_FILE.read_text(encoding="utf-8"))
    log.info("restored the demo data set (%s)", SEED_FILE.name)
