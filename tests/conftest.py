"""Shared fixtures: one real PostgreSQL for the whole run, a clean database for every test.

The database is ``TEST_DATABASE_URL`` when set, otherwise an embedded PostgreSQL started in a
temporary folder (never the data folder of ``python server.py``). Every embedded PostgreSQL a test
needs comes from :func:`embedded_postgres` (``database_url``, ``own_database``), every fresh folder
from :func:`fresh_folder` (``data_dir``). pytest-tornasync drives the app:
its ``http_server_client`` serves the ``app`` fixture below on a random port.

The tests are grouped in folders by what they need (see setup.cfg, ``testpaths``); the header of
every run says which groups it runs and which it leaves out.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import tornado.ioloop
import tornado.testing

from langportal import portaldb
from langportal.handlers import make_app

from .helpers import FIXTURE_SQL, SCREENSHOTS, T0, Catalog, Db, History


@pytest.fixture(scope="session")
def io_loop() -> Iterator[tornado.ioloop.IOLoop]:
    """One event loop for the run, so the session-wide pool lives on the loop that uses it.

    Replaces pytest-tornasync's own, which calls the deprecated ``make_current()``.
    """
    loop = tornado.ioloop.IOLoop(make_current=False)
    asyncio.set_event_loop(loop.asyncio_loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close(all_fds=True)


@pytest.fixture(autouse=True)
def _io_loop_is_current(io_loop: tornado.ioloop.IOLoop) -> None:
    """Every test starts with the run's loop as the current one: a test that ran ``asyncio.run``
    (which ends by unsetting the current loop) once left every later in-process request of the
    run waiting on a loop nobody ran, until its 20 s timeout."""
    asyncio.set_event_loop(io_loop.asyncio_loop)


@contextlib.contextmanager
def fresh_folder(prefix: str) -> Iterator[Path]:
    """A new, empty temporary folder, removed afterwards whatever happened.

    Not pytest's ``tmp_path``: that sits under a private folder the embedded PostgreSQL's
    account cannot enter.
    """
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def embedded_postgres(prefix: str) -> Iterator[portaldb.EmbeddedPostgres]:
    """An embedded PostgreSQL started in a fresh temporary folder; always stopped and the folder
    removed, also when the run is ended by SIGTERM (a CI timeout, `kill`), which unwinds pytest
    like Ctrl-C instead of leaving a server and its folder behind."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with fresh_folder(prefix) as folder:
            database = portaldb.EmbeddedPostgres(folder)
            try:
                with _starting():
                    database.start()
                yield database
            finally:
                database.stop()  # idempotent: does nothing if start() failed
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class _Starts:
    running: int = 0  # embedded PostgreSQL servers starting now
    signals: list[int] = field(default_factory=list)  # SIGTERMs that came meanwhile


_STARTS = _Starts()


@contextlib.contextmanager
def _starting() -> Iterator[None]:
    """A SIGTERM that comes while a server starts waits until ``start()`` returns: cut short
    there, the server would come up unseen, never be stopped, and outlive its removed folder."""
    _STARTS.running += 1
    try:
        yield
    finally:
        _STARTS.running -= 1
        if _STARTS.signals:
            signum = _STARTS.signals[0]
            _STARTS.signals.clear()
            raise KeyboardInterrupt(f"signal {signum}, held while PostgreSQL started")


def _interrupt(signum: int, frame: Any) -> None:
    if _STARTS.running:
        _STARTS.signals.append(signum)
        return
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """The run's database: ``TEST_DATABASE_URL``, else an embedded PostgreSQL for the whole run."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    with embedded_postgres("langportal-test-") as database:
        yield database.dsn


@pytest.fixture(scope="session")
def pooler_mode() -> str:
    """``TEST_DATABASE_POOLER``: ``transaction`` when ``TEST_DATABASE_URL`` is a transaction-pooling
    PgBouncer (issue 10), else ``none``. Every pool the tests open is made for it."""
    mode = os.environ.get("TEST_DATABASE_POOLER") or "none"
    if mode not in portaldb.POOLER_MODES:
        raise pytest.UsageError(f"TEST_DATABASE_POOLER={mode!r}: expected one of {portaldb.POOLER_MODES}")
    return mode


@pytest.fixture(scope="session")
def direct_database_url(database_url: str, pooler_mode: str) -> str:
    """The run's database reached directly, for what a pooler cannot pass on (a connection's
    backend pid, session state): ``TEST_DATABASE_DIRECT_URL``, required with a pooler."""
    if pooler_mode == "none":
        return database_url
    direct = os.environ.get("TEST_DATABASE_DIRECT_URL")
    if not direct:
        raise pytest.UsageError("TEST_DATABASE_POOLER is set: set TEST_DATABASE_DIRECT_URL too")
    return direct


@pytest.fixture
def own_database() -> Iterator[portaldb.EmbeddedPostgres]:
    """An embedded PostgreSQL of the test's own, to stop, restart or inspect (always embedded, even
    with ``TEST_DATABASE_URL`` set)."""
    with embedded_postgres("langportal-own-") as database:
        yield database


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh folder for a server's embedded PostgreSQL (``--data-dir``), removed afterwards."""
    with fresh_folder("langportal-server-") as folder:
        yield folder


@pytest.fixture(scope="session")
def pool(io_loop: tornado.ioloop.IOLoop, database_url: str, pooler_mode: str) -> Iterator[asyncpg.Pool]:
    async def open_pool() -> asyncpg.Pool:
        pool = await portaldb.create_pool(
            database_url,
            min_size=1,
            max_size=10,
            connect_timeout=10,
            statement_timeout=10,
            pooler=pooler_mode,
        )
        role_timeouts = portaldb.statement_timeouts(10) if pooler_mode != "none" else None
        async with pool.acquire() as conn:
            await portaldb.migrate(conn, portaldb.load_queries(), role_timeouts=role_timeouts)
        return pool

    pool = io_loop.run_sync(open_pool)
    yield pool
    io_loop.run_sync(pool.close)


def small_pool(
    io_loop: tornado.ioloop.IOLoop, database_url: str, pooler_mode: str, size: int
) -> asyncpg.Pool:
    """A pool of exactly ``size`` connections on the run's database."""
    return io_loop.run_sync(
        lambda: portaldb.create_pool(
            database_url,
            min_size=size,
            max_size=size,
            connect_timeout=5,
            statement_timeout=5,
            pooler=pooler_mode,
        )
    )


@pytest.fixture
def one_connection(
    io_loop: tornado.ioloop.IOLoop, database_url: str, pooler_mode: str
) -> Iterator[asyncpg.Pool]:
    """A pool of one connection on the run's database, for tests that hold it to make others wait."""
    pool = small_pool(io_loop, database_url, pooler_mode, 1)
    yield pool
    io_loop.run_sync(pool.close)


@pytest.fixture
def two_connections(
    io_loop: tornado.ioloop.IOLoop, database_url: str, pooler_mode: str
) -> Iterator[asyncpg.Pool]:
    """A pool of two connections: one of them free while the other runs a statement."""
    pool = small_pool(io_loop, database_url, pooler_mode, 2)
    yield pool
    io_loop.run_sync(pool.close)


@pytest.fixture
def db(io_loop: tornado.ioloop.IOLoop, pool: asyncpg.Pool) -> Db:
    """A clean database (every table emptied, ids restarting at 1) for each test."""
    io_loop.run_sync(lambda: pool.execute(FIXTURE_SQL.truncate_all))
    return Db(pool)


@pytest.fixture
def catalog(io_loop: tornado.ioloop.IOLoop, db: Db) -> Catalog:
    """Two groups and one study activity."""

    async def insert() -> Catalog:
        group = await db.fetchval("insert_group", "Core Verbs")
        other = await db.fetchval("insert_group", "Food and Drink")
        activity = await db.fetchval("insert_study_activity", "Flashcards", "http://localhost:8082")
        return Catalog(group, other, activity)

    return io_loop.run_sync(insert)


@pytest.fixture
def app(pool: asyncpg.Pool, db: Db) -> Any:
    return make_app(pool)


@pytest.fixture
def unused_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    sock, port = tornado.testing.bind_unused_port()
    sock.close()
    return port


# -- added for the portal's read endpoints (issue 5) ------------------------------------------------


@pytest.fixture
def demo(io_loop: tornado.ioloop.IOLoop, db: Db) -> Db:
    """The demo data set (sql/seed/demo.sql), loaded the way POST /api/full_reset loads it."""

    async def load() -> None:
        async with db.pool.acquire() as conn:
            await portaldb.restore_demo(conn, portaldb.load_queries())

    io_loop.run_sync(load)
    return db


@pytest.fixture
def history(io_loop: tornado.ioloop.IOLoop, db: Db) -> History:
    """Three groups (one empty), two activities, four words, three sessions and their reviews.

    Words: 食べる, 飲む (Verbs), 水 (Food), 魚 (Verbs and Food). Sessions, an hour apart from T0:
    s1 Verbs/Flashcards: 食べる right, 食べる wrong, 飲む right (last review at T0 + 30 min);
    s2 Food/Typing: 水 wrong, 魚 right;  s3 Verbs/Flashcards: no reviews.
    """

    async def insert() -> History:
        verbs = await db.fetchval("insert_group", "Verbs")
        food = await db.fetchval("insert_group", "Food")
        empty = await db.fetchval("insert_group", "Empty")
        flashcards = await db.fetchval("insert_study_activity", "Flashcards", "http://localhost:8082")
        typing = await db.fetchval("insert_study_activity", "Typing Tutor", "http://localhost:8081")
        words = {}
        for kanji, romaji, english, groups in [
            ("食べる", "taberu", "to eat", [verbs]),
            ("飲む", "nomu", "to drink", [verbs]),
            ("水", "mizu", "water", [food]),
            ("魚", "sakana", "fish", [verbs, food]),
        ]:
            parts = json.dumps([{"kanji": ch, "romaji": []} for ch in kanji])
            words[kanji] = await db.fetchval("insert_word", kanji, romaji, english, parts)
            for group in groups:
                await db.pool.execute(FIXTURE_SQL.add_word_to_group, words[kanji], group)
        times = [T0 + dt.timedelta(hours=h) for h in range(3)]
        s1 = await db.fetchval("insert_study_session_at", verbs, flashcards, times[0])
        s2 = await db.fetchval("insert_study_session_at", food, typing, times[1])
        s3 = await db.fetchval("insert_study_session_at", verbs, flashcards, times[2])
        for session, kanji, correct, minutes in [
            (s1, "食べる", True, 10),
            (s1, "食べる", False, 20),
            (s1, "飲む", True, 30),
            (s2, "水", False, 70),
            (s2, "魚", True, 80),
        ]:
            at = T0 + dt.timedelta(minutes=minutes)
            await db.fetchval("insert_review_at", session, words[kanji], correct, at)
        return History(verbs, food, empty, flashcards, typing, words, [s1, s2, s3], times)

    return io_loop.run_sync(insert)


# -- the browser tests' screenshots (tests/browser/test_browser.py) ----------------------------------------


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCREENSHOTS:
        terminalreporter.write_sep("-", "browser screenshots")
        for path in SCREENSHOTS:
            terminalreporter.write_line(str(path))


# -- which groups of tests a run runs ----------------------------------------------------------------

TESTS = Path(__file__).resolve().parent
# The quick groups first: setup.cfg's testpaths, what a plain `pytest` runs.
GROUP_ORDER = ("unit", "database", "examples", "processes", "browser", "cluster")


def all_groups() -> list[str]:
    """Every folder of tests/ that holds test modules, the quick groups first."""
    found = {path.parent.name for path in TESTS.glob("*/test_*.py")}
    return [g for g in GROUP_ORDER if g in found] + sorted(found - set(GROUP_ORDER))


def groups_of_run(config: pytest.Config) -> list[str]:
    """The groups the run's paths reach: ``tests`` (or the checkout) all of them, ``tests/unit``
    (or a module or test in it) one."""
    everything = all_groups()
    chosen: list[str] = []
    for arg in config.args:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == TESTS or TESTS.is_relative_to(path):
            chosen += everything
        elif path.is_relative_to(TESTS) and path.relative_to(TESTS).parts[0] in everything:
            chosen.append(path.relative_to(TESTS).parts[0])
    return list(dict.fromkeys(chosen))


def pytest_report_header(config: pytest.Config) -> str:
    chosen = groups_of_run(config)
    left = [g for g in all_groups() if g not in chosen]
    line = f"test groups: {', '.join(chosen) or 'none'}"
    if config.option.markexpr:
        line += f", only the tests of -m {config.option.markexpr!r}"
    if left:
        line += f" (not run: {', '.join(left)}; `pytest tests` runs every group)"
    return line


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks ``run_database`` every test whose fixtures reach the run's database (``database_url``):
    CI runs those of the slow groups again against the machine's PostgreSQL and through PgBouncer."""
    for item in items:
        if "database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.run_database)
