"""The program's commands, chosen by the first argument: ``serve`` (the default), ``migrate``, and
the database tools of ``backups.py`` (``backup``, ``restore``, ``psql``). This module holds what
they share (:class:`Command`, :class:`CommandError`, running one by name) and ``migrate``;
``program.py`` lists them all in its table.

    langportal [serve] [flags]           # the API server (see langportal --help)
    langportal migrate [flags]           # bring the schema up to date, then exit
    langportal backup FILE               # a consistent dump (pg_dump -Fc) of the database
    langportal restore FILE [--replace]  # load one into an empty database (or replace the data)
    langportal psql                      # a psql shell on the database

A new command is one function taking the arguments after its name, the program's name and the
checkout (or None) and returning the exit code, and one row of ``program.COMMANDS``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import portaldb
from .logs import setup_logging
from .serving import migrate_database
from .settings import ConfigError, parse_args


class CommandError(Exception):
    """The command cannot do what was asked; the message says why and what to do. ``code`` is the
    exit code (2: refused, the input or the state is wrong; 1: a tool failed)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Command:
    """One command: what it does (for --help), and ``run(args, prog, checkout) -> exit code``."""

    summary: str
    run: Callable[[list[str], str, Path | None], int]


def commands_help(commands: Mapping[str, Command], prog: str) -> str:
    """The list of commands, for the end of ``langportal --help``."""
    width = max(len(name) for name in commands)
    lines = [f"  {name:<{width}}  {c.summary}" for name, c in commands.items()]
    return f"commands (`{prog} COMMAND --help` for each; without one, {prog} serves):\n" + "\n".join(lines)


def run_command(
    commands: Mapping[str, Command], argv: Sequence[str] | None, *, prog: str, checkout: Path | None
) -> int:
    """Run the command named first in ``argv`` (``serve`` when none is); its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    name = "serve"
    if args and not args[0].startswith("-"):
        name = args.pop(0)
        if name not in commands:
            print(
                f"{prog}: error: no command {name!r}; the commands are {', '.join(commands)} (see --help)",
                file=sys.stderr,
            )
            return 2
    try:
        return commands[name].run(args, prog, checkout)
    except (CommandError, portaldb.EmbeddedPostgresError) as exc:
        print(f"{prog} {name}: error: {exc}", file=sys.stderr)
        return getattr(exc, "code", 2)


# -- migrate --------------------------------------------------------------------------------------


def migrate(args: list[str], prog: str, checkout: Path | None) -> int:
    """``langportal migrate [settings]``: apply the pending migrations, then exit (0, or 2 with the
    reason), with the same settings the instances use (``--database-url``, ``--database-pooler``,
    ``--statement-timeout``...). Starting the instances without it is safe too: each migrates under
    a transaction-level lock on start. Without --database-url, the embedded database is started for
    it and stopped again."""
    config = parse_args(args, prog=f"{prog} migrate", checkout=checkout)
    setup_logging(config.log_level)
    try:
        if config.database_url:
            asyncio.run(migrate_database(config.database_url, config, seed_demo=config.seed_demo))
        else:
            assert config.data_dir is not None  # parse_args requires one without a database URL
            embedded = portaldb.EmbeddedPostgres(config.data_dir)
            embedded.start()
            try:
                asyncio.run(migrate_database(embedded.dsn, config, seed_demo=True))
            finally:
                embedded.stop()
    except ConfigError as exc:
        print(f"{prog} migrate: error: {exc}", file=sys.stderr)
        return 2
    return 0
