"""Every label of /metrics that comes from a request is bounded: a client cannot add series.

A made-up method is counted as ``other``; a scheme a trusted proxy forwards that is neither
``http`` nor ``https`` is not believed; a path no route matches is ``unmatched``, never the raw
path.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from langportal.handlers import make_app
from langportal.handlers.forwarded import parse_networks

from ..helpers import Db, send
from .test_metrics import requests, scrape


@pytest.fixture
def options() -> dict[str, Any]:
    return {}


@pytest.fixture
def app(pool, db, options):
    return make_app(pool, **options)


def request_series(found) -> set[tuple[tuple[str, str], ...]]:
    return {labels for (name, labels) in found if name == "portal_requests_total"}


async def test_made_up_methods_are_one_series_named_other(http_server_client, db: Db):
    before = request_series(await scrape(http_server_client))
    for method in ("M1", "M2", "M3", "M4", "BREW"):
        reply = await send(http_server_client, method, "/api/groups")
        assert reply.status == 405, reply.body
    found = await scrape(http_server_client)
    assert requests(found, "/api/groups", "other", 405) == 5
    added = request_series(found) - before
    methods = {dict(labels)["method"] for labels in added}
    assert methods == {"other"}, added  # (the scrapes themselves are not counted)
    assert not any(dict(labels)["method"].startswith("M") for labels in request_series(found))


async def test_unmatched_paths_are_one_series(http_server_client, db: Db):
    for n in range(5):
        assert (await send(http_server_client, "GET", f"/nothing/here/{n}")).status == 404
    found = await scrape(http_server_client)
    routes = {dict(labels)["route"] for labels in request_series(found)}
    assert requests(found, "unmatched", "GET", 404) == 5
    assert not any("nothing" in route for route in routes), routes


@pytest.mark.parametrize("options", [{"trusted_proxies": parse_networks("127.0.0.1/32")}])
async def test_a_made_up_forwarded_scheme_adds_no_series(http_server_client, db: Db, options):
    for scheme in ("gopher", "x-1", "x-2"):
        headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": scheme}
        assert (await send(http_server_client, "GET", "/healthz", headers=headers)).status == 200
    found = await scrape(http_server_client)
    assert requests(found, "/healthz", "GET", 200, scheme="http") == 3  # the connection's own
    schemes = {dict(labels)["scheme"] for labels in request_series(found)}
    assert schemes == {"http"}, schemes


async def test_each_route_is_its_own_series(http_server_client, db: Db):
    """The course frontend's paths that the /api handlers serve too are counted under their own
    route, not under the /api one (or the other way round)."""
    for path in ("/api/words/1", "/words/1", "/words/1", "/groups/1/words/raw", "/api/groups/1/words/raw"):
        await send(http_server_client, "GET", path)
    found = await scrape(http_server_client)
    assert requests(found, "/api/words/{id}", "GET", 404) == 1
    assert requests(found, "/words/{id}", "GET", 404) == 2
    assert requests(found, "/groups/{id}/words/raw", "GET", 404) == 1
    assert requests(found, "/api/groups/{id}/words/raw", "GET", 404) == 1


def test_a_handler_serving_two_routes_is_refused(pool):
    from langportal.handlers.app import AppConfig, PortalApplication
    from langportal.handlers.base import NotFoundHandler
    from langportal.handlers.words import WordHandler

    routes = [(r"/api/words/([^/]+)", WordHandler), (r"/words/([^/]+)", WordHandler)]
    with pytest.raises(
        ValueError, match=re.escape("WordHandler serves both /api/words/{id} and /words/{id}")
    ):
        PortalApplication(pool, AppConfig(), routes, default_handler_class=NotFoundHandler)
