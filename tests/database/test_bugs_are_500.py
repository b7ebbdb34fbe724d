"""A failure of the portal's own code inside a database transaction is a bug, not an outage: 500
with a request id, its traceback in the log, nothing stored, no "database trouble" episode, and the
connection kept (the database did nothing wrong). It was a 503 "database unavailable" for any
OSError, which sent operators looking at a healthy database."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from langportal.handlers import make_app
from langportal.portaldb import migrations

from ..helpers import Db, History, send


@pytest.fixture
def app(pool, db):
    return make_app(pool, allow_reset=True)


async def test_a_full_reset_that_cannot_read_its_demo_data_is_a_500(
    http_server_client, db: Db, history: History, monkeypatch, tmp_path: Path, caplog
):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(migrations, "SEED_FILE", tmp_path / "demo.sql")  # not there
    reply = await send(http_server_client, "POST", "/api/full_reset")
    assert reply.status == 500, reply.body
    assert reply.json["error"] == "internal server error"
    request_id = reply.json["request_id"]
    assert request_id == reply.headers["X-Request-Id"]
    failures = [r for r in caplog.records if r.name == "portal.api" and r.exc_info]
    assert len(failures) == 1
    assert request_id in failures[0].getMessage()
    assert isinstance(failures[0].exc_info[1], FileNotFoundError)
    assert not [r for r in caplog.records if r.name == "portaldb.faults"]  # no outage was declared
    assert await db.count_sessions() == 3  # the delete before the read was rolled back
    assert (await send(http_server_client, "GET", "/readyz")).status == 200
