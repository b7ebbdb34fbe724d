"""What a database error means for a request, and one log line per episode of them.

:func:`classify` turns an exception into a :class:`Fault` when the database (not the request, not
our code) is why it failed: the server ran out of a resource (disk, memory, a configured limit), or
it is down, restarting, unreachable or too busy. Such a request is answered 503 with Retry-After and
the fault's message; anything else is not a fault (a bug is still a 500).

:class:`DatabaseHealth` turns a stream of refused requests into *episodes*: the first refusal logs
one line naming the cause; the first success after a second without refusals logs one line with
the number of requests refused; nothing is logged per request in between. A resource fault (a full
disk, no memory, a configured limit) is ended only by a successful write: reads keep working on a
full disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from .batch import BatchSendTimeout, BatchWaitTimeout
from .pool import UNAVAILABLE_ERRORS, is_unavailable, raised_by_the_driver
from .shared import SharedReadCutOff

log = logging.getLogger("portaldb.faults")


@dataclass(frozen=True)
class Fault:
    """Why the database could not serve a request."""

    cause: str  # for the log: "the database's disk is full"
    message: str  # for the client, the 503's "error"
    # reads may still work (a full disk): only a successful write shows it is over
    writes_only: bool = False
    # its name in the metrics (the 503s' ``reason``); a timeout or an outage is named by
    # :func:`reason_of`, which knows where the request was when it met it
    reason: str = "database_unavailable"


DISK_FULL = Fault(
    "the database's disk is full",
    "the database's disk is full; free space on the database server, then retry",
    writes_only=True,
    reason="disk_full",
)
OUT_OF_MEMORY = Fault(
    "the database server is out of memory",
    "the database server is out of memory; retry shortly (if it lasts, free memory on the database server)",
    writes_only=True,
    reason="out_of_memory",
)
CONFIGURATION_LIMIT = Fault(
    "the database reached a configured limit",
    "the database reached a configured limit (such as max_locks_per_transaction); retry shortly, "
    "and if it lasts an operator must raise that setting",
    writes_only=True,
    reason="configuration_limit",
)
TOO_MANY_CONNECTIONS = Fault(
    "the database has no free connection slots (max_connections)",
    "the database is unavailable or busy; retry shortly",
    reason="too_many_connections",
)
OUT_OF_RESOURCES = Fault(
    "the database server is out of a resource",
    "the database server is out of a resource (disk, memory or a configured limit); retry shortly",
    writes_only=True,
    reason="out_of_resources",
)
# A standby, an old primary back as one, or a database set default_transaction_read_only: every
# write fails with SQLSTATE 25006 until the client reaches a primary again. The connection is
# dropped (pool.connection_is_suspect), so a multi-host URL with target_session_attrs=read-write
# finds the new primary on the next connect.
READ_ONLY = Fault(
    "the database accepts only reads (a standby, or default_transaction_read_only is on)",
    "the database accepts only reads right now (a standby, or a failover in progress); retry shortly",
    writes_only=True,
    reason="read_only",
)
# The message of these two is the one clients always got for an unreachable or busy database.
UNAVAILABLE = Fault(
    "the database is down, restarting or unreachable",
    "the database is unavailable or busy; retry shortly",
)
BUSY = Fault(
    "the database is too busy: statements or waits for a connection time out",
    "the database is unavailable or busy; retry shortly",
)

# Most specific first: TooManyConnectionsError is also an InsufficientResourcesError.
_RESOURCE_FAULTS: tuple[tuple[type[BaseException], Fault], ...] = (
    (asyncpg.DiskFullError, DISK_FULL),  # 53100
    (asyncpg.OutOfMemoryError, OUT_OF_MEMORY),  # 53200
    (asyncpg.TooManyConnectionsError, TOO_MANY_CONNECTIONS),  # 53300
    (asyncpg.ConfigurationLimitExceededError, CONFIGURATION_LIMIT),  # 53400
    (asyncpg.InsufficientResourcesError, OUT_OF_RESOURCES),  # any other 53xxx
)


class _DeadlineCutOff(TimeoutError):
    """What an InternalClientError met while the request's deadline cancelled its statement stands
    for: a timeout, the database too slow (busy)."""


_BUSY_ERRORS: tuple[type[BaseException], ...] = (
    _DeadlineCutOff,
    BatchWaitTimeout,
    BatchSendTimeout,
    SharedReadCutOff,
    asyncpg.QueryCanceledError,
)
_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    *UNAVAILABLE_ERRORS,  # the pool's list: refused or dropped connections, ...
    asyncpg.CrashShutdownError,  # 57P02: another backend crashed, the server restarts
    asyncpg.AdminShutdownError,  # 57P01: shut down, or its postmaster died
    asyncpg.CannotConnectNowError,  # 57P03: starting up, crash recovery
    asyncpg.PostgresConnectionError,  # class 08
)


def underlying(exc: BaseException) -> BaseException:
    """The error ``exc`` stands for. asyncpg's InternalClientError, raised while another error was
    being handled, is that error's consequence when that error is a fault: a transaction's ROLLBACK
    on a connection the server was terminating ("another operation (2) is in progress": the
    driver still consuming the FATAL error) replaced the AdminShutdownError that says what
    happened. Raised while the request's deadline cancelled the statement, it stands for that
    deadline (a timeout). Otherwise it is judged on its own (a lost protocol state is a lost
    connection; anything else the driver's bug)."""
    while isinstance(exc, asyncpg.exceptions._base.InternalClientError) and exc.__context__ is not None:
        context = exc.__context__
        if isinstance(context, asyncio.CancelledError):
            return _DeadlineCutOff("the statement was cut off by the request's deadline")
        if _classify(context) is None:
            return exc
        exc = context
    return exc


def classify(exc: BaseException) -> Fault | None:
    """The fault ``exc`` reports, or None when it is not the database's doing (a bug: a 500)."""
    return _classify(underlying(exc))


def _classify(exc: BaseException) -> Fault | None:
    for kind, fault in _RESOURCE_FAULTS:
        if isinstance(exc, kind):
            return fault
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        return READ_ONLY
    if isinstance(exc, _BUSY_ERRORS) or (isinstance(exc, TimeoutError) and raised_by_the_driver(exc)):
        return BUSY
    if isinstance(exc, _UNAVAILABLE_ERRORS) or is_unavailable(exc):
        return UNAVAILABLE  # is_unavailable: the InterfaceErrors that mean the connection is gone
    return None


def reason_of(exc: BaseException, *, waiting_for_connection: bool) -> str:
    """The ``reason`` label of a 503 for ``exc`` (a fault :func:`classify` accepts), raised while
    the request was still ``waiting_for_connection`` or after it had one."""
    exc = underlying(exc)
    for kind, fault in _RESOURCE_FAULTS:
        if isinstance(exc, kind):
            return fault.reason
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        return READ_ONLY.reason
    if isinstance(exc, BatchWaitTimeout) or (waiting_for_connection and isinstance(exc, TimeoutError)):
        return "pool_timeout"
    if isinstance(exc, asyncpg.QueryCanceledError):
        return "statement_timeout"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return UNAVAILABLE.reason


def describe(exc: BaseException) -> str:
    """The exception's type and first line, for a log line without a traceback."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@dataclass
class _Episode:
    fault: Fault
    opened: float
    refused: int = 0
    reminded: float = 0.0
    last_refused: float = 0.0


class DatabaseHealth:
    """Episodes of database faults, as one process sees them: what is failing now, and for how
    many requests. Used from one event loop (not thread-safe)."""

    def __init__(
        self,
        *,
        logger: logging.Logger = log,
        clock: Callable[[], float] = time.monotonic,
        remind_every: float = 60.0,
        settle: float = 1.0,
    ) -> None:
        self._log = logger
        self._clock = clock
        self._remind_every = remind_every
        self._settle = settle
        self._episode: _Episode | None = None
        self._closed_at = float("-inf")
        self.episodes = 0  # how many have opened, for tests and curiosity

    @property
    def failing(self) -> Fault | None:
        """The fault of the episode open now, or None."""
        return self._episode.fault if self._episode else None

    def refused(self, fault: Fault, exc: BaseException, *, started: float | None = None) -> None:
        """A request was answered 503 because of ``fault`` (raised as ``exc``).

        ``started`` (on this object's clock) is when the request began: a request that began
        before the last episode ended and fails late (a connection cut by the crash that just
        ended) counts, but opens no new episode.
        """
        now = self._clock()
        episode = self._episode
        if episode is None:
            if started is not None and started < self._closed_at:
                self._log.debug("a request begun before the recovery failed late: %s", describe(exc))
                return
            self._episode = _Episode(fault, opened=now, refused=1, reminded=now, last_refused=now)
            self.episodes += 1
            self._log.warning(
                "database trouble: %s (%s); answering 503 with Retry-After until it is over",
                fault.cause,
                describe(exc),
            )
            return
        episode.refused += 1
        episode.last_refused = now
        if fault is not episode.fault and fault is not BUSY:
            # busy (timeouts) often trails an outage; it does not change what is wrong
            episode.fault = fault
            episode.reminded = now
            self._log.warning(
                "database trouble continues, now: %s (%s); %d requests refused so far",
                fault.cause,
                describe(exc),
                episode.refused,
            )
        elif now - episode.reminded >= self._remind_every:
            episode.reminded = now
            self._log.warning(
                "database trouble continues for %.0f s: %s; %d requests refused so far",
                now - episode.opened,
                episode.fault.cause,
                episode.refused,
            )

    def succeeded(self, *, write: bool) -> None:
        """A statement succeeded (``write``: one that stored something). Ends the episode open if
        the success shows it is over: any success ends an outage, only a write ends a full disk;
        and no request was refused for ``settle`` seconds. (On a full disk some writes succeed
        now and then, in room an aborted insert left in a table's pages: that does not end it.)"""
        episode = self._episode
        if episode is None or (episode.fault.writes_only and not write):
            return
        now = self._clock()
        if now - episode.last_refused < self._settle:
            return
        self._episode = None
        self._closed_at = now
        self._log.warning(
            "database recovered after %d refused request%s (refused for %.1f s: %s)",
            episode.refused,
            "" if episode.refused == 1 else "s",
            episode.last_refused - episode.opened,
            episode.fault.cause,
        )
