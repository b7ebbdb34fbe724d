"""Logging: the format of the program's log lines, the access log written in batches, and one line
(not a traceback) per pool retry."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import weakref
from typing import TextIO

ACCESS_LOGGER = "portal.access"  # handlers/app.py log_request: one line per request
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FLUSH_INTERVAL = 0.5  # seconds an access line may be held before it is written
# Tests only: another interval, so a test can tell the lines written at shutdown from those on time.
INTERVAL_ENV = "LANGPORTAL_TEST_LOG_INTERVAL"


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


class LineFormatter(logging.Formatter):
    """The standard formatter, with the time's text made once per second rather than per line
    (time.strftime was a tenth of an access line's cost); the same text."""

    _second: int | None = None
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second
        return f"{self._text},{int(record.msecs):03d}"


class BufferedStreamHandler(logging.StreamHandler[TextIO]):
    """A stream handler that writes access lines in batches: one write (and flush) per
    ``capacity`` lines or per ``interval`` seconds, whichever comes first, instead of one per
    request (which cost about a tenth of the server's CPU under load).

    Nothing is lost or reordered: every other record (startup, warnings, errors from any logger),
    and an access line at ERROR (a 5xx), writes the lines held so far and itself at once, in
    order. Lines are held at most ``interval`` seconds (a thread of the handler's own writes them),
    written before the process forks (a child never repeats them) and at shutdown
    (``logging.shutdown`` flushes every handler; the server processes call it as they exit).
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        buffered: frozenset[str] = frozenset({ACCESS_LOGGER}),
        capacity: int = 200,
        interval: float = FLUSH_INTERVAL,
    ) -> None:
        super().__init__(stream)
        self.buffered = buffered
        self.capacity = capacity
        self.interval = interval
        self._lines: list[str] = []
        self._flusher: threading.Thread | None = None
        self._closed = False
        self._wake = threading.Event()
        this = weakref.ref(self)

        def before_fork() -> None:
            if (handler := this()) is not None:
                handler.flush()

        def after_fork_in_child() -> None:
            if (handler := this()) is not None:
                handler._forked()

        os.register_at_fork(before=before_fork, after_in_child=after_fork_in_child)

    def emit(self, record: logging.LogRecord) -> None:
        # Called with self.lock held (logging.Handler.handle).
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._lines.append(line)
        if (
            record.name not in self.buffered
            or record.levelno >= logging.ERROR
            or len(self._lines) >= self.capacity
            or self._closed
        ):
            self._write()
        elif self._flusher is None:
            self._start_flusher()

    def _write(self) -> None:
        """Write and flush the lines held (with self.lock held)."""
        if not self._lines:
            return
        text = "".join(self._lines)
        self._lines.clear()
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:  # as StreamHandler: a closed or broken stream must not stop the server
            if logging.raiseExceptions:
                sys.stderr.write(f"--- Logging error: cannot write {len(text)} characters of log lines\n")

    def flush(self) -> None:
        self.acquire()
        try:
            self._write()
        finally:
            self.release()

    def _start_flusher(self) -> None:
        self._flusher = threading.Thread(target=self._flush_every_interval, name="log-flusher", daemon=True)
        self._flusher.start()

    def _flush_every_interval(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self.flush()

    def _forked(self) -> None:
        """In a new child: the parent's lines were written before the fork; its thread is not here."""
        self._lines = []
        self._flusher = None
        self._wake = threading.Event()

    def close(self) -> None:
        self.acquire()
        try:
            self._closed = True
            self._write()
        finally:
            self.release()
        self._wake.set()
        super().close()


def setup_logging(level: str, stream: TextIO | None = None) -> BufferedStreamHandler:
    """Log to stderr at ``level`` (INFO logs one access line per request, written in batches).

    The lines show neither where in the code they were logged from nor the thread or process, so
    logging is told not to look those up (the Logging HOWTO's "Optimization"): the source walks
    the stack for every request, about a quarter of an access line's cost; the thread and process
    names another 0.6 µs of the 4 µs left.
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = BufferedStreamHandler(stream, interval=float(os.environ.get(INTERVAL_ENV) or FLUSH_INTERVAL))
    handler.setFormatter(LineFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    logging.getLogger("asyncpg.pool").addFilter(_OneLine())
    return handler
