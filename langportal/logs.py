"""Logging: the format of the program's log lines, and one line (not a traceback) per pool retry."""

from __future__ import annotations

import logging


class _OneLine(logging.Filter):
    """While the database is down, asyncpg logs a traceback every time it retries opening pool
    connections; the exception's one line says all an operator needs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}: {record.exc_info[1]!r}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def setup_logging(level: str) -> None:
    """Log to stderr at ``level`` (INFO logs one access line per request)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("asyncpg.pool").addFilter(_OneLine())
