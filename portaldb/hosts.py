"""Connecting to a URL that names several hosts (a primary and its standbys) without waiting on a
hung one: what the pool and the start-up connection use."""

from __future__ import annotations

import asyncio
import urllib.parse
import weakref
from typing import Any

import asyncpg

# Seconds a host gets to answer a connection attempt before the next host is tried beside it.
HOST_HEAD_START = 0.5


def dsn_hosts(dsn: str) -> list[tuple[str, int | None]]:
    """The hosts a ``postgresql://`` URL names (``user:pw@db1:5432,db2:5432/portal``), each with its
    port (None: the default); an empty list for a URL without hosts in that place (a unix socket
    given as ``?host=``) or a DSN of another form."""
    try:
        parsed = urllib.parse.urlsplit(dsn)
    except ValueError:
        return []
    if parsed.scheme not in ("postgresql", "postgres"):
        return []
    hostspec = parsed.netloc.rpartition("@")[2]
    hosts: list[tuple[str, int | None]] = []
    for item in hostspec.split(",") if hostspec else []:
        if item.startswith("["):  # [2001:db8::1]:5432
            host, _, rest = item[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = item.partition(":")
        if not host or (port and not port.isdigit()):
            return []  # not a form this reads: asyncpg gets the URL as it is, and says what is wrong
        hosts.append((urllib.parse.unquote(host), int(port) if port else None))
    return hosts


class HostChooser:
    """Opens the connections of a pool whose URL names several hosts, without waiting on a hung one.

    asyncpg tries the hosts of such a URL one after the other, and its connect timeout covers them
    all: a first host that accepts TCP but never answers (a frozen machine, a partition that drops
    packets rather than refusing them) takes the whole timeout, so after a failover to the second
    host no connection opens at all. Here each attempt goes to one host (asyncpg checks
    ``target_session_attrs`` on it), starting with the host that gave the last usable connection;
    a host that fails (refused, a standby) hands over to the next at once, and one that has not
    answered within :data:`HOST_HEAD_START` seconds gets the next host tried beside it. The first
    usable connection wins; the other attempts are cancelled or their connections closed. The
    connect timeout still bounds the whole. A URL with one host is passed to asyncpg unchanged.

    When a usable connection comes from another host than the last one (the primary moved: a
    failover), the connections this chooser opened on the other hosts are closed at once: the old
    primary's can only fail, or, on a frozen host, hang until the driver's command timeout, and a
    request that takes one from the pool would wait that long for its ``503``.
    """

    def __init__(self, dsn: str, *, head_start: float = HOST_HEAD_START) -> None:
        self.hosts = dsn_hosts(dsn)
        self.head_start = head_start
        self.last = 0  # the index of the host that gave the last usable connection
        # the connections opened on each host (those still alive), to close when the primary moves
        self._opened: list[weakref.WeakSet[Any]] = [weakref.WeakSet() for _ in self.hosts]

    @property
    def several(self) -> bool:
        return len(self.hosts) > 1

    async def connect(self, dsn: str | None = None, **kwargs: Any) -> Any:
        """A connection: :func:`asyncpg.connect`'s arguments (the pool's ``connect`` callback)."""
        if not self.several or dsn is None:
            return await asyncpg.connect(dsn, **kwargs)
        timeout = kwargs.pop("timeout", 60)
        async with asyncio.timeout(timeout):
            return await self._first_usable(dsn, {**kwargs, "timeout": timeout})

    async def _first_usable(self, dsn: str, kwargs: dict[str, Any]) -> Any:
        waiting = [(self.last + k) % len(self.hosts) for k in range(len(self.hosts))]
        attempts: dict[asyncio.Future[Any], int] = {}
        errors: list[BaseException] = []

        def attempt() -> None:
            index = waiting.pop(0)
            host, port = self.hosts[index]
            connecting = asyncpg.connect(dsn, host=host, port=port, **kwargs)
            attempts[asyncio.ensure_future(connecting)] = index

        attempt()
        try:
            while attempts:
                slow = self.head_start if waiting else None
                done, _ = await asyncio.wait(attempts, timeout=slow, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    error = task.exception()
                    if error is None:
                        return self._chosen(attempts.pop(task), task.result())
                    del attempts[task]
                    errors.append(error)
                if waiting and (not done or errors):
                    attempt()  # the hosts tried have failed, or are slow: the next one too
        finally:
            for task in attempts:  # the others: cancelled, or their connection closed when it comes
                task.cancel()
                task.add_done_callback(_close_unused)
        raise _no_usable_host(errors)

    def _chosen(self, index: int, conn: Any) -> Any:
        if index != self.last:  # the primary moved
            for other, opened in enumerate(self._opened):
                if other != index:
                    for stale in list(opened):
                        stale.terminate()
        self.last = index
        self._opened[index].add(conn)
        return conn


def _close_unused(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is None:
        task.result().terminate()


def _no_usable_host(errors: list[BaseException]) -> BaseException:
    """What a connect to several hosts raises when none gave a usable connection: the first error
    that is not just "this host is a standby", as asyncpg does, else that one."""
    for error in errors:
        if not isinstance(error, asyncpg.exceptions.TargetServerAttributeNotMatched):
            return error
    return errors[0]


async def connect(dsn: str, **kwargs: Any) -> asyncpg.Connection[asyncpg.Record]:
    """One connection, as :func:`asyncpg.connect` (the same arguments), but to a URL naming several
    hosts the way the pool connects (:class:`HostChooser`)."""
    conn: asyncpg.Connection[asyncpg.Record] = await HostChooser(dsn).connect(dsn, **kwargs)
    return conn
