"""The program's commands besides serving, chosen by the first argument: ``langportal migrate``.

``migrate`` brings the database's schema up to date and exits: run it once before starting the
instances of a deployment (they then find nothing to do), with the same settings they use
(``--database-url``, ``--database-pooler``, ``--statement-timeout``...). Starting the instances
without it is safe too: each migrates under a transaction-level lock on start.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import portaldb
from .logs import setup_logging
from .serving import migrate_database
from .settings import ConfigError, parse_args


def migrate(argv: Sequence[str], *, prog: str, checkout: Path | None) -> int:
    """``langportal migrate [settings]``: apply the pending migrations, then exit (0, or 2 with the
    reason). Without --database-url, the embedded database is started for it and stopped again."""
    config = parse_args(argv, prog=f"{prog} migrate", checkout=checkout)
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
    except (ConfigError, portaldb.EmbeddedPostgresError) as exc:
        print(f"{prog} migrate: error: {exc}", file=sys.stderr)
        return 2
    return 0


COMMANDS: dict[str, Callable[..., int]] = {"migrate": migrate}
