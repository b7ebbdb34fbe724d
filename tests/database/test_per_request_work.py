"""Work done once instead of per request (handlers/headers.py): request ids from a per-process prefix
and a counter, the fixed headers and the Date prepared ahead; the answers are unchanged."""

from __future__ import annotations

import email.utils
import gc
import os
import re
import resource
import subprocess
import sys
import time

from tornado import httputil

from langportal import serving
from langportal.handlers import headers

from ..helpers import Catalog, Db, send

VALID = {"group_id": 1, "study_activity_id": 1}


def test_request_ids_are_32_hex_digits_and_never_repeat():
    ids = [headers.request_ids.next() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_process_makes_ids_of_its_own():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write, headers.request_ids.next().encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    parent = headers.request_ids.next()
    assert len(child) == 32
    assert child[:16] != parent[:16]  # another prefix: the counters may meet, the ids never


def test_the_date_is_the_http_date_of_now():
    before = int(time.time())
    text = headers.http_date()
    after = int(time.time())
    assert text in {httputil.format_timestamp(t) for t in range(before, after + 1)}
    assert email.utils.parsedate_to_datetime(text).timestamp() >= before


async def test_every_answer_carries_the_fixed_headers_once(http_server_client, db: Db, catalog: Catalog):
    for method, path, body in (
        ("POST", "/api/study_sessions", VALID),
        ("POST", "/api/study_sessions", {"group_id": "x"}),
        ("GET", "/api/nothing", None),
    ):
        reply = await send(http_server_client, method, path, body)
        headers = reply.headers
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        assert headers["Cache-Control"] == "no-store"
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert "Server" not in headers
        assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])
        assert email.utils.parsedate_to_datetime(headers["Date"]).timestamp() > time.time() - 60
        assert all(len(headers.get_list(name)) == 1 for name in headers)


def young_collections_while_allocating(objects: int = 60_000) -> int:
    """How many times the collector ran its youngest generation while ``objects`` containers
    (what a request leaves behind: dicts, lists) were made and kept."""
    before = gc.get_stats()[0]["collections"]
    kept = [[] for _ in range(objects)]
    ran = gc.get_stats()[0]["collections"] - before
    del kept
    return ran


def test_the_collector_runs_less_often_and_skips_what_lives_for_ever():
    thresholds = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)  # Python's own defaults
        by_default = young_collections_while_allocating()
        frozen_before = gc.get_freeze_count()
        serving.tune_garbage_collector()
        tuned = young_collections_while_allocating()
        assert by_default >= 50  # once per 700 new containers
        assert tuned <= by_default // 20, (by_default, tuned)  # at least twenty times less often
        # the modules, functions and classes loaded so far are out of the collector's sight
        assert gc.get_freeze_count() - frozen_before > 1000
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_the_open_files_limit_is_raised_for_many_connections():
    code = (
        "import resource; from langportal import serving;"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]));"
        "print(serving.raise_open_files_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    wanted = (
        serving.WANTED_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, serving.WANTED_OPEN_FILES)
    )
    assert result.stdout.split() == ["(256,", f"{wanted})", str(wanted)]
