"""The asyncpg connection pool, and what counts as "the database is unavailable"."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import ssl
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .hosts import HostChooser

# A connection as the portal's functions take it: one lent by the pool (a proxy) or a plain one.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PooledConnection"
PooledConnection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

# Faults that mean the database cannot be reached or cannot serve right now, as opposed to a bug in
# a statement: refused or dropped connections, a server shutting down or starting up, too many
# connections, a statement cut off by statement_timeout, or a wait for a pooled connection timing
# out. A request that meets one is answered 503 with Retry-After instead of 500.
#
# asyncpg.InterfaceError is deliberately absent: a plain one is also what a wrong argument count
# raises, and its subclasses (ClientConfigurationError, UnsupportedClientFeatureError, ...) are
# bugs or misconfiguration, all to be answered 500. Only the plain InterfaceErrors whose message says
# the connection or the pool is gone count (see :func:`is_unavailable`). An argument the statement
# cannot take (an int out of range) raises asyncpg.DataError, in asyncpg 0.32 a PostgresError of
# SQLSTATE class 22, never listed here: also a 500.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused, reset, aborted, a broken pipe: a socket's trouble, whoever meets it
    socket.gaierror,  # the database's host name does not resolve (now)
    # SQLSTATE class 08, ConnectionDoesNotExistError among them. issue 10: PgBouncer 1.18 sends
    # every error of its own as 08P01 (ProtocolViolationError, a subclass): "no more connections
    # allowed (max_client_conn)", "pgbouncer cannot connect to server", "query_wait_timeout",
    # "server conn crashed?", "pgbouncer shutting down", ... all "try again" (tests/test_pooler.py).
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.AdminShutdownError,  # 57P01
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.TooManyConnectionsError,  # 53300
    asyncpg.QueryCanceledError,  # 57014: statement_timeout
    asyncpg.ReadOnlySQLTransactionError,  # 25006: a standby, or default_transaction_read_only
    # Of a URL naming several hosts with target_session_attrs=read-write, none takes writes now:
    # each is a standby (or read-only), as between a primary's death and a standby's promotion.
    asyncpg.exceptions.TargetServerAttributeNotMatched,
)
# These mean the same only when the driver or the event loop raised them (a unix socket that is not
# there, a host that cannot be reached, a connect, command or pool timeout, the request's own
# deadline): raised by the portal's own code (a file it cannot read), they are bugs, answered 500
# with a traceback, not a database outage. The origin is the innermost frame's file; a wait the
# portal runs through asyncio (wait_for, timeout) counts as the event loop's, so the portal's own
# timeouts that are not the database's are told by their type (BatchWaitTimeout, SharedReadCutOff).
# A build whose recorded source paths differ from where the packages lie would count no
# OSError or TimeoutError as the database's: keep the driver's files where they were built to be.
_FROM_THE_DRIVER_ONLY: tuple[type[BaseException], ...] = (OSError, TimeoutError)
# Where the driver's and the event loop's code lies: Python files under these folders, and the
# compiled (Cython) parts of asyncpg and uvloop, whose frames name their sources relatively.
_DRIVER_FILES = (
    os.path.dirname(asyncpg.__file__ or "") + os.sep,
    os.path.dirname(asyncio.__file__ or "") + os.sep,
    socket.__file__ or "",
    ssl.__file__ or "",
)
_COMPILED_DRIVER_FILES = ("asyncpg/", "uvloop/")

# The messages of the plain asyncpg.InterfaceErrors that are about the connection or the pool, not
# the statement (asyncpg 0.32: connection.py _check_open, protocol.pyx _check_state, pool.py):
# "connection is closed", "cannot perform operation: connection is closed", "cannot perform
# operation: another operation is cancelling" (a timed-out statement's cancel still running),
# "pool is closing", "pool is closed", and "cannot call Connection.fetch(): connection has been
# released back to the pool", which is what the next call on a pooled connection gets once the
# server dropped it (asyncpg detaches the lost connection from its proxy), and "cannot call
# Transaction.__aexit__(): the underlying connection is closed" (connresource.py), which ends a
# transaction whose connection died inside it (a killed primary). Every other plain
# InterfaceError (a wrong argument count, "another operation is in progress") is a bug.
_CONNECTION_LEVEL_MESSAGE = re.compile(
    r"(cannot perform operation: )?(connection is closed|another operation is cancelling)"
    r"|pool is clos(ing|ed)"
    r"|cannot call Connection\.\w+\(\): connection has been released back to the pool"
    r"|cannot call Transaction\.__aexit__\(\): the underlying connection is closed"
)


# asyncpg's InternalClientErrors that say the connection was left unusable by the server ending
# it, or by a cancelled statement, under the driver: another operation "in progress" in state 2
# (consuming an error: the server's FATAL "terminating connection" reached an idle pooled
# connection), 3 (cancelled) or 4 (terminating). Seen here with backends terminated under load
# (pg_terminate_backend, a failover, a restart): the next statement on such a pooled connection
# raised it. The first form is raised before anything is sent.
_LOST_PROTOCOL_STATE = re.compile(
    r"cannot switch to state \d+; another operation \([234]\) is in progress"
    r"|got result for unknown protocol state [234]"
)


def refused_before_sending(exc: BaseException) -> bool:
    """Whether the driver refused to start the statement on a connection the server had ended
    (nothing was sent: the statement may be sent again on another connection)."""
    return (
        isinstance(exc, asyncpg.exceptions._base.InternalClientError)
        and str(exc).startswith("cannot switch to state")
        and bool(_LOST_PROTOCOL_STATE.fullmatch(str(exc)))
    )


def raised_by_the_driver(exc: BaseException) -> bool:
    """Whether ``exc`` was raised in asyncpg, the event loop or the socket modules (the innermost
    frame of its traceback), rather than in the portal's own code or another library's."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    where = tb.tb_frame.f_code.co_filename
    return where.startswith(_DRIVER_FILES) or where.startswith(_COMPILED_DRIVER_FILES)


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot serve right now (answer 503, retry later) rather
    than a bug in the statement, its arguments or the portal's own code (answer 500)."""
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return True
    if isinstance(exc, _FROM_THE_DRIVER_ONLY):
        return raised_by_the_driver(exc)
    if isinstance(exc, asyncpg.exceptions._base.InternalClientError):
        return bool(_LOST_PROTOCOL_STATE.fullmatch(str(exc)))
    if type(exc) is not asyncpg.InterfaceError or not exc.args:
        return False
    return bool(_CONNECTION_LEVEL_MESSAGE.fullmatch(str(exc.args[0])))


def discard(connection: Connection) -> None:
    """Close a pooled connection instead of reusing it; the pool opens a fresh one in its place.

    A connection the server cut off has usually been detached from its pool already, and then
    there is nothing left to close.
    """
    with contextlib.suppress(asyncpg.InterfaceError):
        connection.terminate()


def connection_is_suspect(exc: BaseException) -> bool:
    """Whether a connection that raised ``exc`` should be closed rather than reused: any fault of
    the connection or the server, as opposed to an error in a statement the server reported; and
    the driver's own InternalClientError (its protocol state went astray: a bug, answered 500,
    but the connection cannot be trusted with the next request)."""
    if isinstance(exc, asyncpg.exceptions._base.InternalClientError):
        return True
    return is_unavailable(exc) and not isinstance(exc, asyncpg.QueryCanceledError)


_PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@")


def redact(dsn: str) -> str:
    """The DSN with any password masked, for messages and logs."""
    return _PASSWORD.sub(r"\1***@", dsn)


async def _keep_session(conn: Connection) -> None:
    """Return a connection to the pool as it is.

    asyncpg's default reset runs ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` on every release: a second round trip for every request. This application never
    changes session state on pooled connections (no SET, LISTEN, cursors or held advisory locks),
    and asyncpg still rolls back any open transaction itself, so there is nothing to reset.
    """


# -- issue 10: a transaction pooler (PgBouncer pool_mode=transaction) between us and the database --

POOLER_MODES = ("none", "transaction")


def statement_timeouts(statement_timeout: float) -> dict[str, str]:
    """The server-side timeouts for ``statement_timeout`` seconds, in milliseconds as PostgreSQL
    takes them: the statement's own, and twice that for a transaction left idle."""
    statement_ms = max(1, int(statement_timeout * 1000))
    return {
        "statement_timeout": str(statement_ms),
        "idle_in_transaction_session_timeout": str(statement_ms * 2),
    }


# Just-in-time compilation of a statement whose plan is estimated dear: a list statement with a
# branch PostgreSQL will skip at run time (a deep page read from the other end), or an OFFSET of a
# million sessions, crossed jit_above_cost and paid 6-20 ms of LLVM compiling a call for queries
# that run in a millisecond or less. This service runs only such short statements: JIT off, on
# every connection (directly a startup parameter; through a transaction pooler the role's
# default, set with the timeouts by the migration step).
NO_JIT = {"jit": "off"}


def connect_options(pooler: str) -> dict[str, Any]:
    """What :func:`asyncpg.connect` / :func:`asyncpg.create_pool` need for ``pooler``.

    Behind a transaction pooler, consecutive transactions of one client connection run on
    different server connections, so nothing may outlive a transaction: no named prepared
    statements (``statement_cache_size=0``; asyncpg 0.32 then sends each statement as an
    *unnamed* one, Parse/Describe/Flush then Bind/Execute/Sync, all before the one Sync, so the
    pooler keeps them on one server connection) and no startup parameters but application_name
    (PgBouncer refuses the others; the timeouts are set as the role's defaults instead, see
    :func:`langportal.portaldb.migrations.migrate`).
    """
    if pooler not in POOLER_MODES:
        raise ValueError(f"unknown pooler mode {pooler!r}; expected one of {', '.join(POOLER_MODES)}")
    if pooler == "transaction":
        return {"statement_cache_size": 0}
    return {}


async def create_pool(
    dsn: str,
    *,
    min_size: int,
    max_size: int,
    connect_timeout: float,
    statement_timeout: float,
    pooler: str = "none",
) -> asyncpg.Pool:
    """A pool whose every connection has bounded connect and statement times.

    A statement that runs longer than ``statement_timeout`` is cancelled by the server itself
    (``statement_timeout``) and, should the server not answer, by asyncpg (``command_timeout``),
    so a stuck query can never hold a connection forever. Directly (``pooler="none"``) the
    server's timeouts (and JIT off, :data:`NO_JIT`) are startup parameters of each connection and
    statements are prepared once per connection; through a transaction pooler they are the role's
    defaults in the database (set by the migration step), and each statement is prepared unnamed
    on every call. A URL naming several hosts (``...@db1:5432,db2:5432/portal
    ?target_session_attrs=read-write``) opens each connection on the first usable host without
    waiting on a hung one (:class:`HostChooser`).
    """
    server_settings = {"application_name": "langportal"}
    if pooler == "none":
        server_settings.update(statement_timeouts(statement_timeout))
        server_settings.update(NO_JIT)
    chooser = HostChooser(dsn)
    return await asyncpg.create_pool(
        dsn,
        connect=chooser.connect if chooser.several else None,
        min_size=min_size,
        max_size=max_size,
        timeout=connect_timeout,
        command_timeout=statement_timeout + 1,
        max_inactive_connection_lifetime=300,
        reset=_keep_session,
        server_settings=server_settings,
        **connect_options(pooler),
    )
