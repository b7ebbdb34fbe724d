"""A URL naming several hosts (issue 23): the pool connects to the first usable one without waiting
on a hung one (portaldb/hosts.py).

The usable host is the run's database; the hung one a socket on 127.0.0.1 that listens and never
answers (as a frozen PostgreSQL does: the kernel accepts the connection, nobody reads it); the
refused one a port nobody listens on.
"""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.parse
from collections.abc import Iterator

import asyncpg
import pytest

from langportal import portaldb
from langportal.portaldb import faults
from langportal.portaldb.hosts import HOST_HEAD_START, HostChooser, dsn_hosts

from ..helpers import FIXTURE_SQL


@pytest.fixture
def hung() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a socket that accepts connections (into its backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def refused() -> str:
    """``127.0.0.1:PORT`` where nothing listens (a port just freed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


class Relay:
    """127.0.0.1:PORT relaying to the run's database, which can be frozen: it then keeps accepting
    connections and passes nothing either way, as a SIGSTOPped PostgreSQL does."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.running = asyncio.Event()
        self.running.set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for writer in self.writers:
            writer.close()
        current = asyncio.current_task()
        tasks = [task for task in self.tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.server.wait_closed()

    def freeze(self) -> None:
        self.running.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        handler = asyncio.current_task()
        if handler is not None:
            self.tasks.add(handler)  # cancelled at the end, even while it waits for a thaw
        await self.running.wait()
        host, port = self.target
        if host.startswith("/"):
            up_reader, up_writer = await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
        else:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        self.writers.append(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pipe(source, sink))
            self.tasks.add(task)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            await self.running.wait()  # frozen: read, never passed on
            sink.write(data)
            await sink.drain()
        sink.close()


def _real_host(dsn: str) -> tuple[str, str]:
    """The run's database as one ``host:port`` of a URL's host list (a socket folder quoted), and
    the URL's other parts: ``user@`` ... ``/database?query`` with the host and port taken out."""
    parsed = urllib.parse.urlsplit(dsn)
    query = urllib.parse.parse_qs(parsed.query)
    auth, _, hostspec = parsed.netloc.rpartition("@")
    host = query.pop("host", [""])[0] or hostspec.partition(":")[0] or "localhost"
    port = query.pop("port", [""])[0] or hostspec.partition(":")[2] or "5432"
    rest = urllib.parse.urlencode({name: values[-1] for name, values in query.items()})
    return f"{urllib.parse.quote(host, safe='')}:{port}", f"{auth}@{{hosts}}{parsed.path}?{rest}"


def _url(dsn: str, *hosts: str, attrs: str = "read-write") -> str:
    real, template = _real_host(dsn)
    listed = ",".join(real if host == "real" else host for host in hosts)
    url = "postgresql://" + template.format(hosts=listed)
    return url + ("&" if not url.endswith("?") else "") + f"target_session_attrs={attrs}"


def test_the_hosts_of_a_url():
    assert dsn_hosts("postgresql://u:p@db1:5433,db2/portal?target_session_attrs=read-write") == [
        ("db1", 5433),
        ("db2", None),
    ]
    assert dsn_hosts("postgres://[2001:db8::1]:5432,%2Frun%2Fpg:5432/p") == [
        ("2001:db8::1", 5432),
        ("/run/pg", 5432),
    ]
    assert dsn_hosts("postgresql://u@db/portal") == [("db", None)]
    assert dsn_hosts("postgresql:///portal?host=/run/pg") == []  # asyncpg gets such a URL as it is
    assert dsn_hosts("postgresql://u@db:port/portal") == []
    assert dsn_hosts("host=db1 dbname=portal") == []


async def test_a_hung_first_host_costs_a_head_start_not_the_connect_timeout(direct_database_url, hung):
    url = _url(direct_database_url, hung, "real")
    chooser = HostChooser(url)
    started = time.monotonic()
    conn = await chooser.connect(url, timeout=20)
    took = time.monotonic() - started
    try:
        assert await conn.fetchval(FIXTURE_SQL.add_one, 1) == 2
    finally:
        await conn.close()
    assert HOST_HEAD_START <= took < HOST_HEAD_START + 3  # asyncpg alone spent all 20 s on the hung one
    assert chooser.last == 1
    started = time.monotonic()  # the host that answered last is tried first
    conn = await chooser.connect(url, timeout=20)
    await conn.close()
    assert time.monotonic() - started < HOST_HEAD_START


async def test_a_pool_on_a_hung_first_host_serves(direct_database_url, hung):
    url = _url(direct_database_url, hung, "real")
    started = time.monotonic()
    pool = await portaldb.create_pool(url, min_size=2, max_size=4, connect_timeout=20, statement_timeout=5)
    try:
        results = await asyncio.gather(*(pool.fetchval(FIXTURE_SQL.add_one, i) for i in range(8)))
        assert results == [i + 1 for i in range(8)]
    finally:
        await pool.close()
    assert time.monotonic() - started < HOST_HEAD_START + 5


async def test_a_refused_first_host_hands_over_at_once(direct_database_url, refused):
    url = _url(direct_database_url, refused, "real")
    started = time.monotonic()
    conn = await HostChooser(url).connect(url, timeout=20)
    await conn.close()
    assert time.monotonic() - started < HOST_HEAD_START


async def test_no_usable_host_is_a_503_within_the_connect_timeout(direct_database_url, hung, refused):
    url = _url(direct_database_url, hung, refused)
    started = time.monotonic()
    with pytest.raises(TimeoutError) as raised:
        await HostChooser(url).connect(url, timeout=1.5)
    assert 1.5 <= time.monotonic() - started < 3
    assert faults.classify(raised.value) is faults.UNAVAILABLE or faults.classify(raised.value) is faults.BUSY
    # no host takes writes (each a standby, as between a primary's death and a promotion): here the
    # run's database twice, asked for a read-only one, which it is not
    url = _url(direct_database_url, "real", "real", attrs="read-only")
    with pytest.raises(asyncpg.exceptions.TargetServerAttributeNotMatched) as not_matched:
        await HostChooser(url).connect(url, timeout=10)
    assert faults.classify(not_matched.value) is faults.UNAVAILABLE  # a 503, not a 500


async def test_when_the_primary_moves_the_connections_to_the_old_one_are_closed(direct_database_url):
    """A frozen old primary's pooled connections would hang a request until the driver's command
    timeout: once a connection opens on another host they are closed, and a statement on one
    fails at once (a 503)."""
    real, _ = _real_host(direct_database_url)
    host, _, port = real.rpartition(":")
    relay = Relay(urllib.parse.unquote(host), int(port))
    async with relay as relayed:
        url = _url(direct_database_url, relayed, "real")
        chooser = HostChooser(url)
        old = await chooser.connect(url, timeout=10)
        assert chooser.last == 0
        relay.freeze()
        stuck = asyncio.ensure_future(old.fetchval(FIXTURE_SQL.add_one, 1))
        # that nothing comes can only be watched for a while: 0.3 s, deliberately
        done, _ = await asyncio.wait([stuck], timeout=0.3)
        assert not done  # the frozen host does not answer
        new = await chooser.connect(url, timeout=10)
        try:
            assert chooser.last == 1
            with pytest.raises(asyncpg.ConnectionDoesNotExistError) as lost:
                await asyncio.wait_for(stuck, 2)
            assert faults.classify(lost.value) is faults.UNAVAILABLE
            assert old.is_closed()
            assert await new.fetchval(FIXTURE_SQL.add_one, 1) == 2
        finally:
            await new.close()
