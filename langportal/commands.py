"""The program's commands, chosen by the first argument: ``serve`` (the default), ``migrate``, and
the database tools of ``backups.py`` (``backup``, ``restore``, ``psql``).

    langportal [serve] [flags]           # the API server (see langportal --help)
    langportal migrate [flags]           # bring the schema up to date, then exit
    langportal backup FILE               # a consistent dump (pg_dump -Fc) of the database
    langportal restore FILE [--replace]  # load one into an empty database (or replace the data)
    langportal psql                      # a psql shell on the database

A new command is one function decorated with ``@command("name", "what it does")`` taking the
arguments after its name; it returns the exit code.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
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
    name: str
    summary: str
    run: Callable[[list[str], str, Path | None], int]


COMMANDS: dict[str, Command] = {}


def command(name: str, summary: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Register ``run(args, prog, checkout) -> exit code`` as the command ``name``."""

    def register(run: Callable[..., int]) -> Callable[..., int]:
        COMMANDS[name] = Command(name, summary, run)
        return run

    return register


def commands_help(prog: str) -> str:
    """The list of commands, for the end of ``langportal --help``."""
    width = max(len(name) for name in COMMANDS)
    lines = [f"  {name:<{width}}  {c.summary}" for name, c in COMMANDS.items()]
    return f"commands (`{prog} COMMAND --help` for each; without one, {prog} serves):\n" + "\n".join(lines)


def main(argv: Sequence[str] | None, *, prog: str, checkout: Path | None) -> int:
    """Run the command named first in ``argv`` (``serve`` when none is); its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    name = "serve"
    if args and not args[0].startswith("-"):
        name = args.pop(0)
        if name not in COMMANDS:
            print(
                f"{prog}: error: no command {name!r}; the commands are {', '.join(COMMANDS)} (see --help)",
                file=sys.stderr,
            )
            return 2
    try:
        return COMMANDS[name].run(args, prog, checkout)
    except (CommandError, portaldb.EmbeddedPostgresError) as exc:
        print(f"{prog} {name}: error: {exc}", file=sys.stderr)
        return getattr(exc, "code", 2)


# -- serve ----------------------------------------------------------------------------------------


@command("serve", "serve the API (the default command; every flag in --help)")
def _serve(args: list[str], prog: str, checkout: Path | None) -> int:
    from .program import serve_main  # the program imports this module

    return serve_main(args, prog=prog, checkout=checkout, epilog=commands_help(prog))


# -- migrate --------------------------------------------------------------------------------------


@command("migrate", "bring the database's schema up to date, then exit (run it before the instances)")
def _migrate(args: list[str], prog: str, checkout: Path | None) -> int:
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


# The database tools register themselves with @command on import.
from . import backups  # noqa: E402, F401
