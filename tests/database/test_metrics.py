"""GET /metrics (issue 9): Prometheus text, counts by route template, not behind CORS, can be turned
off; and, behind a proxy, the client address in the access line and the scheme in the metrics."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from langportal.handlers import make_app
from langportal.handlers.forwarded import parse_networks
from langportal.handlers.metrics import LATENCY_BUCKETS, Metrics

from ..helpers import Catalog, Db, send, wait_until

SESSIONS = "/api/study_sessions"


@pytest.fixture
def options() -> dict[str, Any]:
    return {}


@pytest.fixture
def app(request, pool, db, options):
    options = dict(options)
    if options.pop("one_connection", False):
        pool = request.getfixturevalue("one_connection")
    return make_app(pool, **options)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = await send(client, "GET", "/metrics")
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(reply.body.decode())


def requests(found, route: str, method: str, status: int, scheme: str = "http") -> float:
    labels = (("method", method), ("route", route), ("scheme", scheme), ("status", str(status)))
    return found.get(("portal_requests_total", labels), 0)


def body(catalog: Catalog) -> dict[str, int]:
    return {"group_id": catalog.group_id, "study_activity_id": catalog.activity_id}


async def test_requests_are_counted_by_route_template_method_and_status(
    http_server_client, db: Db, catalog: Catalog
):
    for _ in range(3):
        assert (await send(http_server_client, "POST", SESSIONS, body(catalog))).status == 201
    assert (await send(http_server_client, "GET", f"/api/groups/{catalog.group_id}")).status == 200
    assert (await send(http_server_client, "GET", f"/api/groups/{catalog.other_group_id}")).status == 200
    assert (await send(http_server_client, "GET", "/api/groups/999999")).status == 404
    assert (await send(http_server_client, "GET", "/api/groups/1/words?page=0")).status == 400
    assert (await send(http_server_client, "GET", "/api/no/such/thing")).status == 404

    found = await scrape(http_server_client)

    assert requests(found, SESSIONS, "POST", 201) == 3
    assert requests(found, "/api/groups/{id}", "GET", 200) == 2
    assert requests(found, "/api/groups/{id}", "GET", 404) == 1
    assert requests(found, "/api/groups/{id}/words", "GET", 400) == 1
    assert requests(found, "unmatched", "GET", 404) == 1
    # never a raw path (a series per id would grow without bound)
    assert not [key for key in found if any("999999" in value for _, value in key[1])]
    latency = ("portal_request_duration_seconds_count", (("route", "/api/groups/{id}"),))
    assert found[latency] == 3
    assert found[("portal_request_duration_seconds_count", (("route", SESSIONS),))] == 3
    # each create went out in a group-commit batch: the batch sizes add up to the creates
    assert found[("portal_batch_size_sum", ())] == 3
    assert found[("portal_pool_size", ())] >= 1
    assert found[("portal_pool_idle", ())] <= found[("portal_pool_size", ())]
    assert found[("portal_requests_in_flight", ())] == 0
    assert found[("portal_pool_waiting", ())] == 0


async def test_metrics_are_not_behind_cors_and_are_not_counted_as_api_requests(http_server_client, db: Db):
    reply = await send(http_server_client, "GET", "/metrics", headers={"Origin": "https://elsewhere.example"})
    assert reply.status == 200
    assert not [name for name in reply.headers if name.lower().startswith("access-control-")]
    assert "portal_requests_total" in reply.body.decode()
    refused = await send(http_server_client, "POST", "/metrics", b"")
    assert refused.status == 405
    assert "use GET" in refused.json["error"]
    assert (await send(http_server_client, "GET", "/healthz")).status == 200
    found = await scrape(http_server_client)  # after three requests to /metrics and one API request
    counted = {
        dict(labels)["route"]: value
        for (name, labels), value in found.items()
        if name == "portal_requests_total"
    }
    assert counted == {"/healthz": 1}
    assert not [labels for name, labels in found if dict(labels).get("route") == "/metrics"]


async def test_idempotent_replays_are_counted(http_server_client, db: Db, catalog: Catalog):
    headers = {"Idempotency-Key": "metrics-replay"}
    first = await send(http_server_client, "POST", SESSIONS, body(catalog), headers=headers)
    again = await send(http_server_client, "POST", SESSIONS, body(catalog), headers=headers)
    assert (first.status, again.status) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    found = await scrape(http_server_client)
    assert found[("portal_idempotent_replays_total", ())] == 1
    assert requests(found, SESSIONS, "POST", 201) == 2


@pytest.mark.parametrize("options", [{"pool_timeout": 0.3, "one_connection": True}])
async def test_503_for_no_free_connection_is_counted_with_its_reason(
    http_server_client, app, db: Db, catalog: Catalog, options
):
    async with app.pool.acquire():  # the only connection is busy
        waiting = asyncio.ensure_future(send(http_server_client, "GET", f"/api/groups/{catalog.group_id}"))
        created = asyncio.ensure_future(send(http_server_client, "POST", SESSIONS, body(catalog)))
        await wait_until(
            lambda: app.waiting_for_connection + sum(b.waiting for b in app.batchers()) == 2,
            5,
            "one request in acquire and one queued in the batcher",
        )
        app.metrics.sample(app)
        text = app.metrics.exposition().decode()
        assert samples(text)[("portal_pool_waiting", ())] == 2  # one in acquire, one queued in the batcher
        assert (await waiting).status == 503
        assert (await created).status == 503
    found = samples(app.metrics.exposition().decode())
    assert found[("portal_unavailable_total", (("reason", "pool_timeout"),))] == 2
    assert found[("portal_database_errors_total", (("error", "TimeoutError"),))] == 1
    assert found[("portal_database_errors_total", (("error", "BatchWaitTimeout"),))] == 1
    assert requests(found, "/api/groups/{id}", "GET", 503) == 1


@pytest.mark.parametrize("options", [{"metrics": False}])
async def test_metrics_can_be_turned_off(http_server_client, app, db: Db, options):
    assert app.metrics is None
    reply = await send(http_server_client, "GET", "/metrics")
    assert reply.status == 404
    assert reply.json["error"].startswith("no endpoint at /metrics")


@pytest.mark.parametrize("options", [{"metrics_route": False}])
async def test_metrics_served_elsewhere_are_not_on_the_api_port(http_server_client, db: Db, options):
    assert (await send(http_server_client, "GET", "/metrics")).status == 404


# -- behind a proxy ---------------------------------------------------------------------------------


def access_lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "portal.access"]


@pytest.mark.parametrize("options", [{"trusted_proxies": parse_networks("127.0.0.1/32")}])
async def test_a_trusted_proxy_names_the_client_and_scheme(http_server_client, db: Db, options, caplog):
    caplog.set_level(logging.INFO, logger="portal.access")
    headers = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9", "X-Forwarded-Proto": "https"}
    reply = await send(http_server_client, "GET", "/healthz", headers=headers)
    assert reply.status == 200
    line = access_lines(caplog)[-1]
    # the right-most address not itself a trusted proxy; the size of the body sent
    assert re.fullmatch(rf"203\.0\.113\.9 GET /healthz 200 {len(reply.body)} [0-9.]+ms rid=\w+", line), line
    found = await scrape(http_server_client)
    assert requests(found, "/healthz", "GET", 200, scheme="https") == 1
    assert requests(found, "/healthz", "GET", 200, scheme="http") == 0


@pytest.mark.parametrize("options", [{"trusted_proxies": parse_networks("127.0.0.1, 203.0.113.0/24")}])
async def test_trusted_hops_are_skipped_to_the_first_untrusted_one(
    http_server_client, db: Db, options, caplog
):
    caplog.set_level(logging.INFO, logger="portal.access")
    headers = {"X-Forwarded-For": "10.9.9.9, 198.51.100.7, 203.0.113.9"}
    assert (await send(http_server_client, "GET", "/healthz", headers=headers)).status == 200
    assert access_lines(caplog)[-1].startswith("198.51.100.7 GET /healthz 200 ")


@pytest.mark.parametrize("options", [{"trusted_proxies": parse_networks("10.0.0.0/8")}])
async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(
    http_server_client, db: Db, options, caplog
):
    caplog.set_level(logging.INFO, logger="portal.access")
    headers = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
    reply = await send(http_server_client, "GET", "/healthz", headers=headers)
    line = access_lines(caplog)[-1]
    assert re.fullmatch(rf"127\.0\.0\.1 GET /healthz 200 {len(reply.body)} [0-9.]+ms rid=\w+", line), line
    found = await scrape(http_server_client)
    assert requests(found, "/healthz", "GET", 200, scheme="http") == 1
    assert requests(found, "/healthz", "GET", 200, scheme="https") == 0


async def test_without_trusted_proxies_the_headers_are_ignored(http_server_client, db: Db, caplog):
    caplog.set_level(logging.INFO, logger="portal.access")
    headers = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
    await send(http_server_client, "GET", "/healthz", headers=headers)
    assert access_lines(caplog)[-1].startswith("127.0.0.1 GET /healthz 200 ")


def test_trusted_proxies_must_be_addresses_or_networks():
    assert [str(n) for n in parse_networks(" 10.0.0.5 , 192.168.0.0/16,::1")] == [
        "10.0.0.5/32",
        "192.168.0.0/16",
        "::1/128",
    ]
    with pytest.raises(ValueError, match=r"'proxy\.example' is not an IP address or network"):
        parse_networks("10.0.0.5,proxy.example")


def test_counts_added_at_flush_equal_what_observe_would_have_counted():
    # The hot path adds to plain dicts and flush() hands them to prometheus_client in one call
    # per series (handlers/metrics.py); the exposition must be what inc()/observe() per request
    # would have written: every bucket edge, values past the last bucket, the sum, the counts.
    metrics = Metrics()
    registry = CollectorRegistry()
    reference = Histogram("reference", "", ["route"], buckets=LATENCY_BUCKETS, registry=registry)
    latencies = [0.0, 0.0004, *LATENCY_BUCKETS, *(b * 1.01 for b in LATENCY_BUCKETS), 10.5, 99.0]
    for _ in range(2):  # two flushes: the second adds to the first
        for seconds in latencies:
            for route in ("/api/study_sessions", "/api/groups/{id}"):
                metrics.request(route, "POST", 201, "http", seconds)
                reference.labels(route).observe(seconds)
        metrics.request("unmatched", "GET", 404, "https", 0.002)
        found = samples(metrics.exposition().decode())
    expected = {
        (name.replace("reference", "portal_request_duration_seconds"), labels): value
        for (name, labels), value in samples(generate_latest(registry).decode()).items()
        if not name.endswith("_created")
    }
    assert len(expected) == 2 * (len(LATENCY_BUCKETS) + 1 + 2)  # per route: buckets and +Inf, count, sum
    for key, value in expected.items():
        assert found[key] == pytest.approx(value), key
    assert requests(found, "/api/study_sessions", "POST", 201) == 2 * len(latencies)
    assert requests(found, "unmatched", "GET", 404, "https") == 2
    metrics.flush()  # nothing pending: nothing is added twice
    assert samples(metrics.exposition().decode()) == found
