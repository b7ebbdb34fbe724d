"""The program: read the settings, then start, serve and stop in order; ``main`` is every entry point's.

    langportal                            # embedded PostgreSQL in the per-user data folder
    python server.py                      # the same in a checkout, with its data in ./data
    langportal --database-url URL         # your own PostgreSQL
    langportal --help                     # every setting, its environment variable and default
    langportal migrate --database-url URL # bring the schema up to date, then exit
    langportal backup FILE                # and the other commands: see commands.py

Order matters: the stop signals are handled first and the port is bound before anything is
created, so a wrong setting or a busy port leaves nothing behind and a stop at any moment ends
with the database stopped. Other code (a test suite, say) builds the same application with
:func:`langportal.handlers.make_app` and drives it in-process.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import backups, portaldb
from .commands import Command, commands_help, migrate, run_command
from .handlers import metrics
from .logs import setup_logging
from .serving import bind, check_connection_budget, prepare_database, run_loop, serve
from .settings import Config, ConfigError, parse_args
from .stopping import stop_flag
from .supervisor import supervise

__all__ = ["main", "parse_args", "run"]

log = logging.getLogger("portal")


def run(config: Config) -> None:
    """Bind, start the database (embedded or given), serve in one or more processes, stop.

    Call with the stop signals handled (``stop_flag.install()``): a stop that comes while a step
    runs lets that step finish and ends the program after it, never half-way through it.
    """
    sockets = bind(config)  # first: a busy port must not leave a new data folder behind
    try:
        if config.database_url:
            _serve_on(config, config.database_url, portaldb.redact(config.database_url), sockets)
        else:
            _serve_embedded(config, sockets)
    finally:
        for sock in sockets:
            sock.close()
    log.info("stopped")


def _serve_embedded(config: Config, sockets: list[Any]) -> None:
    assert config.data_dir is not None  # parse_args requires one without a database URL
    embedded = portaldb.EmbeddedPostgres(config.data_dir)
    check_connection_budget(config, embedded.max_connections)  # before creating it, too
    if stop_flag.requested:
        return
    embedded.start()
    try:
        portaldb.watch(embedded)  # restarts it after a crash; embedded.stop() ends the watch
        where = f"embedded PostgreSQL, data in {embedded.data_dir}"
        if config.data_dir_default:
            where += f": {config.data_dir_default} default data folder; --data-dir chooses another"
        _serve_on(config, embedded.dsn, where, sockets, seed_demo=True)
    finally:
        embedded.stop()  # after every server process was reaped (supervise returns only then)
    log.info("embedded PostgreSQL stopped; its data stays in %s", embedded.data_dir)


def _serve_on(config: Config, dsn: str, where: str, sockets: list[Any], *, seed_demo: bool = False) -> None:
    if stop_flag.requested:
        return
    asyncio.run(prepare_database(dsn, config, seed_demo=seed_demo or config.seed_demo))
    if stop_flag.requested:
        return
    processes = f", {config.processes} processes" if config.processes > 1 else ""
    host = f"[{config.host}]" if ":" in config.host else config.host  # an IPv6 address, as a URL writes it
    ready = f"listening on http://{host}:{config.port} (database: {where}{processes})"
    if config.processes == 1:
        log.info("%s", ready)
        run_loop(serve(config, dsn, sockets))
    elif not config.metrics:
        supervise(config, dsn, sockets, ready)
    else:  # metrics (issue 9): the processes' values meet in a private folder, made now
        folder = metrics.enable_multiprocess()
        log.info("metrics: the %d processes' numbers are added up in %s", config.processes, folder)
        try:
            supervise(config, dsn, sockets, ready)
        finally:
            metrics.disable_multiprocess()  # the folder is removed


def main(argv: Sequence[str] | None = None, *, prog: str = "langportal", checkout: Path | None = None) -> int:
    """Run the program; its exit code. ``checkout`` is passed by a checkout's ``server.py`` only
    (its data then defaults to ``./data`` there; see settings.default_data_dir). The first
    argument may name a command (migrate, backup, restore, psql; see commands.py); serving is the default."""
    return run_command(COMMANDS, argv, prog=prog, checkout=checkout)


def serve_main(
    argv: Sequence[str] | None, *, prog: str, checkout: Path | None, epilog: str | None = None
) -> int:
    """The ``serve`` command: parse the settings, then serve until a stop signal."""
    stop_flag.install()  # before anything is created: a SIGTERM from here on stops in order
    config = parse_args(argv, prog=prog, checkout=checkout, epilog=epilog)
    setup_logging(config.log_level)
    try:
        run(config)
    except (ConfigError, portaldb.EmbeddedPostgresError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _serve(args: list[str], prog: str, checkout: Path | None) -> int:
    return serve_main(args, prog=prog, checkout=checkout, epilog=commands_help(COMMANDS, prog))


# The commands, by the name a user types first; ``serve`` is the default (see commands.py).
COMMANDS: dict[str, Command] = {
    "serve": Command("serve the API (the default command; every flag in --help)", _serve),
    "migrate": Command(
        "bring the database's schema up to date, then exit (run it before the instances)", migrate
    ),
    "backup": Command(
        "write a consistent dump of the database to FILE (pg_dump custom format)", backups.backup
    ),
    "restore": Command(
        "load a backup FILE into an empty database (--replace: over the portal's data)", backups.restore
    ),
    "psql": Command("open a psql shell on the database (arguments after -- go to psql)", backups.psql),
}
