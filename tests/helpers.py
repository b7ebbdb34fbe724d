"""What tests share besides fixtures: the fixture and fault SQL, a direct handle on the test database,
known data sets, one request helper, the OpenAPI check of every reply, and waiting on a condition.

Fixtures live in ``conftest.py``; test modules import these names from here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from langportal.handlers import build_document
from langportal.portaldb.queries import Queries, parse

FIXTURE_SQL = Queries(parse((Path(__file__).parent / "sql" / "fixtures.sql").read_text(), "fixtures.sql"))
# The trigger that makes the database raise a chosen SQLSTATE (tests/database/test_faults.py), and
# the WAL switch of tests/processes/test_disk_full.py.
FAULT_SQL = Queries(parse((Path(__file__).parent / "sql" / "faults.sql").read_text(), "faults.sql"))


@dataclass
class Db:
    """Direct access to the test database, for arranging data and checking what was stored."""

    pool: asyncpg.Pool

    async def fetchval(self, name: str, *args: Any) -> Any:
        return await self.pool.fetchval(getattr(FIXTURE_SQL, name), *args)

    async def fetchrow(self, name: str, *args: Any) -> Any:
        return await self.pool.fetchrow(getattr(FIXTURE_SQL, name), *args)

    async def count_sessions(self) -> int:
        return await self.fetchval("count_study_sessions")


@dataclass
class Catalog:
    group_id: int
    other_group_id: int
    activity_id: int


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes
    reason: str = ""  # the status line's phrase

    @property
    def json(self) -> Any:
        return json.loads(self.body)


async def send(client: Any, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
    """One request through pytest-tornasync's client; errors are returned, not raised.

    ``body`` may be bytes/str (sent as is) or any other value (sent as JSON); JSON bodies get
    ``Content-Type: application/json`` unless ``headers`` say otherwise.
    """
    headers = dict(kwargs.pop("headers", {}))
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    if body is None and method in ("POST", "PUT", "PATCH") and "body_producer" not in kwargs:
        body = b""
    response = await client.fetch(
        path,
        method=method,
        body=body,
        headers=headers,
        raise_error=False,
        allow_nonstandard_methods=True,
        **kwargs,
    )
    return Reply(response.code, response.headers, response.body or b"", response.reason)


@dataclass
class History:
    """A small, known history: see the ``history`` fixture."""

    verbs: int  # group ids
    food: int
    empty_group: int
    flashcards: int  # study activity ids
    typing: int
    words: dict[str, int]  # kanji -> id
    sessions: list[int]  # oldest first
    times: list[Any]  # each session's created_at, oldest first


T0 = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)


def _openapi_tools() -> tuple[dict[str, Any], Any, list[tuple[Any, str]]]:
    document = build_document()
    registry = Registry().with_resource("urn:openapi", Resource(contents=document, specification=DRAFT202012))

    def validator(pointer: str) -> Draft202012Validator:
        return Draft202012Validator({"$ref": f"urn:openapi#{pointer}"}, registry=registry)

    templates = [
        (re.compile("^" + re.sub(r"\{[^}/]+\}", "[^/]+", template) + "$"), template)
        for template in document["paths"]
    ]
    return document, validator, templates


OPENAPI, _schema_validator, _TEMPLATES = _openapi_tools()


def assert_documented(method: str, path: str, reply: Reply) -> None:
    """The reply's status is documented for this operation and its body matches that schema.

    Statuses the API can give any request (405, 500, 503) may fall to the ``default`` response.
    """
    bare = path.split("?", 1)[0]
    templates = [template for pattern, template in _TEMPLATES if pattern.match(bare)]
    assert templates, f"{bare} is not in the OpenAPI document"
    # a literal path before a template that also matches it (/api/study-sessions/reset, {id})
    templates.sort(key=lambda template: ("{" in template, template))
    templates = [t for t in templates if method.lower() in OPENAPI["paths"][t]] or templates
    operation = OPENAPI["paths"][templates[0]].get(method.lower())
    assert operation is not None, f"{method} {templates[0]} is not in the OpenAPI document"
    status = str(reply.status)
    if status not in operation["responses"]:
        assert reply.status in (405, 500, 503), f"{method} {templates[0]}: {status} is not documented"
        status = "default"
    response = operation["responses"][status]
    if "$ref" in response:
        response = OPENAPI["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    assert reply.headers["Content-Type"].startswith("application/json")
    errors = list(_schema_validator_for(schema).iter_errors(reply.json))
    assert not errors, f"{method} {path} {reply.status}: {[e.message for e in errors]}"


def _schema_validator_for(schema: dict[str, Any]) -> Any:
    if set(schema) == {"$ref"}:
        return _schema_validator(schema["$ref"].removeprefix("#"))
    return Draft202012Validator(schema)


async def call(client: Any, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
    """:func:`send`, then check the reply against the OpenAPI document (status and body)."""
    reply = await send(client, method, path, body, **kwargs)
    assert_documented(method, path, reply)
    return reply


async def wait_until(predicate: Callable[[], Any], within: float, what: str, interval: float = 0.02) -> Any:
    """Poll ``predicate`` (plain or async) until it returns something true, and return that.

    For a test that must wait for something to happen before it counts: it waits for the
    condition itself rather than for a guessed time, so it is neither flaky on a busy machine nor
    slow on an idle one. Fails the test, saying ``what`` was awaited, after ``within`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"waited {within:g} s for {what}; last value: {value!r}")
        await asyncio.sleep(interval)


def wait_until_sync(predicate: Callable[[], Any], within: float, what: str, interval: float = 0.02) -> Any:
    """:func:`wait_until` for a test with no event loop running (``predicate`` plain only): polls,
    blocking, until ``predicate`` returns something true, and returns that; fails the test, saying
    ``what`` was awaited, after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {within:g} s for {what}; last value: {value!r}")
        time.sleep(interval)


SCREENSHOTS: list[Path] = []  # every screenshot taken in this run, listed at the end of the output
