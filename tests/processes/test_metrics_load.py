"""GET /metrics under load with `python server.py --processes 2` (issue 9): the whole server's
numbers (prometheus_client's multiprocess mode), checked against the requests sent."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from pathlib import Path

import tornado.httpclient
import tornado.testing
from prometheus_client.parser import text_string_to_metric_families

from ..helpers import wait_until
from ..servers import Server

CREATES = 300
READS = 300
CONCURRENCY = 16
DURATIONS = ("portal_request_duration_seconds_count", (("route", "/api/study_sessions"),))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def count(found, route: str, method: str, status: int) -> float:
    labels = (("method", method), ("route", route), ("scheme", "http"), ("status", str(status)))
    return found.get(("portal_requests_total", labels), 0)


async def load_and_scrape(port: int) -> tuple[list[int], list[dict], dict]:
    """CREATES posts and READS gets, CONCURRENCY at a time, scraping /metrics meanwhile; the
    statuses, the scrapes taken during the load, and one after it."""
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=CONCURRENCY + 2)
    base = f"http://127.0.0.1:{port}"
    statuses: list[int] = []
    scrapes: list[dict] = []
    jobs = [("POST", "/api/study_sessions")] * CREATES + [("GET", "/api/groups/1")] * READS
    jobs = [job for pair in zip(jobs[:CREATES], jobs[CREATES:], strict=True) for job in pair]
    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def worker() -> None:
        while not queue.empty():
            method, path = queue.get_nowait()
            body = json.dumps({"group_id": 1, "study_activity_id": 1}) if method == "POST" else None
            reply = await client.fetch(
                base + path,
                method=method,
                body=body,
                headers={"Content-Type": "application/json"},
                raise_error=False,
                request_timeout=30,
            )
            statuses.append(reply.code)

    async def scraper(done: asyncio.Event) -> None:
        while not done.is_set():
            reply = await client.fetch(base + "/metrics", request_timeout=30)
            scrapes.append({"sent": len(statuses), "found": samples(reply.body.decode())})
            await asyncio.sleep(0.05)

    try:
        done = asyncio.Event()
        watching = asyncio.ensure_future(scraper(done))
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(CONCURRENCY))), timeout=120)
        done.set()
        await asyncio.wait_for(watching, timeout=30)
        # each process hands its counts to the shared files every SAMPLE_SECONDS (handlers/
        # metrics.py; the scraping one at the scrape): wait until every answer is counted (no
        # fewer), then the test checks that the totals are exact
        created, read = statuses.count(201), statuses.count(200)

        async def all_counted() -> dict | None:
            found = samples((await client.fetch(base + "/metrics", request_timeout=30)).body.decode())
            counted = (
                count(found, "/api/study_sessions", "POST", 201) >= created
                and count(found, "/api/groups/{id}", "GET", 200) >= read
                and found.get(DURATIONS, 0) >= created
                and found.get(("portal_batch_size_sum", ()), 0) >= created
            )
            return found if counted else None

        final = await wait_until(all_counted, 30, "every answer counted by /metrics", interval=0.1)
    finally:
        client.close()
    return statuses, scrapes, final


def processes_in(folder: Path) -> set[int]:
    return {int(m.group(1)) for p in folder.iterdir() if (m := re.search(r"_(\d+)\.db$", p.name))}


def live_processes_in(folder: Path) -> set[int]:
    return {
        int(m.group(1)) for p in folder.iterdir() if (m := re.fullmatch(r"gauge_livesum_(\d+)\.db", p.name))
    }


def test_metrics_count_a_load_on_two_processes(data_dir: Path, unused_port: int):
    server = Server(
        "--data-dir", str(data_dir), "--port", str(unused_port), "--processes", "2", "--log-level", "INFO"
    )
    try:
        folder = Path(server.wait_for(r"metrics: the 2 processes' numbers are added up in (\S+)").group(1))
        server.wait_for("listening on")
        assert folder.is_dir()
        assert oct(folder.stat().st_mode & 0o777) == "0o700"

        statuses, scrapes, final = asyncio.run(load_and_scrape(unused_port))
        assert statuses.count(201) == CREATES, sorted(set(statuses))
        assert statuses.count(200) == READS

        # during the load: never more counted than answered, and the count only grows
        assert len(scrapes) >= 2
        seen = 0.0
        for scrape in scrapes:
            counted = count(scrape["found"], "/api/study_sessions", "POST", 201) + count(
                scrape["found"], "/api/groups/{id}", "GET", 200
            )
            assert seen <= counted <= CREATES + READS
            seen = counted
        assert any(0 < count(s["found"], "/api/study_sessions", "POST", 201) < CREATES for s in scrapes)

        # after it: exactly what was sent, from both processes together
        assert count(final, "/api/study_sessions", "POST", 201) == CREATES
        assert count(final, "/api/groups/{id}", "GET", 200) == READS
        assert final[DURATIONS] == CREATES
        assert final[("portal_batch_size_sum", ())] == CREATES  # every create in exactly one batch

        # the gauges: each process samples its own every SAMPLE_SECONDS (and the scraping one at
        # once), so they settle within a sample or two after the load
        async def gauges_settled() -> dict | None:
            found = await load_and_scrape_once(unused_port)
            idle = found.get(("portal_pool_idle", ()))
            settled = (
                found.get(("portal_requests_in_flight", ())) == 0
                and found.get(("portal_pool_waiting", ())) == 0
                and idle is not None
                and idle == found.get(("portal_pool_size", ()))
            )
            return found if settled else None

        settled = asyncio.run(
            wait_until(gauges_settled, 30, "the gauges settled after the load", interval=0.1)
        )
        assert settled[("portal_requests_in_flight", ())] == 0
        assert settled[("portal_pool_waiting", ())] == 0
        assert settled[("portal_pool_size", ())] >= 4  # both processes' pools, 2 connections at least each
        assert settled[("portal_pool_idle", ())] == settled[("portal_pool_size", ())]
        children = live_processes_in(folder)
        assert len(children) == 2, sorted(folder.iterdir())

        # a process that dies: its live gauges go, its counts stay in the totals
        dead = min(children)
        os.kill(dead, signal.SIGKILL)
        server.wait_for(rf"server process {dead} ended unexpectedly")
        server.wait_for(r"listening on", timeout=5)
        for _ in range(100):
            if dead not in live_processes_in(folder) and len(live_processes_in(folder)) == 2:
                break
            asyncio.run(asyncio.sleep(0.1))
        assert dead not in live_processes_in(folder)
        assert dead in processes_in(folder)  # its counter file is kept
        after = asyncio.run(load_and_scrape_once(unused_port))
        assert count(after, "/api/study_sessions", "POST", 201) == CREATES

        server.process.send_signal(signal.SIGTERM)
        code, log = server.finish()
        assert code == 0, log
        assert not folder.exists()  # removed at stop
    finally:
        server.kill()


async def load_and_scrape_once(port: int) -> dict:
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    try:
        reply = await client.fetch(f"http://127.0.0.1:{port}/metrics", request_timeout=30)
        return samples(reply.body.decode())
    finally:
        client.close()


def test_metrics_on_their_own_port_are_not_on_the_api_port(data_dir: Path, unused_port: int):
    sock, metrics_port = tornado.testing.bind_unused_port()
    sock.close()
    server = Server(
        "--data-dir", str(data_dir), "--port", str(unused_port), "--metrics-port", str(metrics_port)
    )
    try:
        server.wait_for("listening on")

        async def fetch(port: int, path: str) -> tornado.httpclient.HTTPResponse:
            client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
            try:
                return await client.fetch(
                    f"http://127.0.0.1:{port}{path}", raise_error=False, request_timeout=10
                )
            finally:
                client.close()

        assert asyncio.run(fetch(unused_port, "/healthz")).code == 200
        on_api_port = asyncio.run(fetch(unused_port, "/metrics"))
        assert on_api_port.code == 404
        scraped = asyncio.run(fetch(metrics_port, "/metrics"))
        assert scraped.code == 200
        assert count(samples(scraped.body.decode()), "/healthz", "GET", 200) == 1
        assert count(samples(scraped.body.decode()), "unmatched", "GET", 404) == 1  # the API port's /metrics
        elsewhere = asyncio.run(fetch(metrics_port, "/api/groups"))
        assert elsewhere.code == 404
        assert b"serves /metrics only" in elsewhere.body
        for answer in (scraped, elsewhere):  # the secure defaults of the API port (test_exposure.py)
            assert "Server" not in answer.headers
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
        server.process.send_signal(signal.SIGTERM)
        code, log = server.finish()
        assert code == 0, log
    finally:
        server.kill()
