"""The load client of the cluster tests (tests/cluster/test_cluster.py, test_failover.py) and of
bench/failover.py, run inside the cluster's client namespace (``deploy/cluster.sh exec client ...``).

    python -m tests.cluster_client BALANCER_URL DATABASE_URL SECONDS OUT.json [REQUEST_TIMEOUT]

``CONCURRENCY`` workers POST /api/study_sessions through the balancer for ``SECONDS`` (and at most
``MAX_WRITES`` writes), each write with an Idempotency-Key of its own. A write that fails (a
connection cut off, a 5xx, no answer within REQUEST_TIMEOUT seconds, 5 by default) is sent again
with the same key until it is acknowledged (201) or 30 s have passed. Then it reads the new rows
from the database and writes the counts: 201s seen, writes acknowledged, rows found, lost
(acknowledged writes whose row is not there: its id missing, or holding another session, stored
at another time), reused ids (of those, the ids now holding another session), duplicates (rows
no acknowledged write accounts for), writes never
acknowledged, and when the failed attempts began and ended (seconds from the start;
``failing_for_s`` between the first and the last). ``answers`` holds the first answer of each
failing status: its ``Retry-After`` header and body. ``timeline`` lists every failed attempt as
[wall-clock time it ended, status] and ``ok_at`` the wall-clock time of every 201, so a test can
count them from a moment of its own (a promotion).

DATABASE_URL may name several hosts (a primary and its standby): the connections for the counts
are made as the server makes them, on the first usable host, without waiting on a hung one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import tornado.httpclient

from langportal.portaldb.hosts import connect
from langportal.portaldb.queries import Queries, parse
from tests.helpers import FIXTURE_SQL

FAILOVER_SQL = Queries(parse((Path(__file__).parent / "cluster" / "failover.sql").read_text(), "failover"))

CONCURRENCY = 16
MAX_WRITES = 20000
GIVE_UP = 30.0


async def run(balancer: str, database: str, seconds: float, request_timeout: float = 5) -> dict[str, Any]:
    db = await connect(database, statement_cache_size=0, timeout=30)
    try:
        before = await db.fetchval(FIXTURE_SQL.cluster_last_study_session_id)
    finally:
        await db.close()
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=CONCURRENCY)
    counts = {"201s_seen": 0, "attempts": 0, "failed_attempts": 0, "statuses": {}}
    answers: dict[str, dict[str, str | None]] = {}  # the first answer of each failing status
    acknowledged: dict[str, int] = {}
    stored_at: dict[str, dt.datetime] = {}  # each acknowledged key's created_at, as the 201 said
    timeline: list[tuple[float, int]] = []  # each failed attempt: when it ended (wall clock), status
    ok_at: list[float] = []  # when each 201 came (wall clock)
    unacknowledged: list[str] = []
    stop_at = time.monotonic() + seconds
    next_key = iter(range(MAX_WRITES))
    failed_at: list[float] = []  # when each failed attempt ended, seconds from the start
    started = time.monotonic()

    async def write(key: str) -> None:
        give_up = time.monotonic() + GIVE_UP
        while time.monotonic() < give_up:
            counts["attempts"] += 1
            try:
                reply = await client.fetch(
                    f"{balancer}/api/study_sessions",
                    method="POST",
                    body=json.dumps({"group_id": 1, "study_activity_id": 1}),
                    headers={"Content-Type": "application/json", "Idempotency-Key": key},
                    request_timeout=request_timeout,
                    raise_error=False,
                )
                status = reply.code
            except Exception as exc:  # cut off: a connection reset or a timeout (which, named here)
                status = 599
                kind = f"{type(exc).__name__}: {exc}"[:80]
                counts.setdefault("cut_off", {})[kind] = counts.get("cut_off", {}).get(kind, 0) + 1
            counts["statuses"][str(status)] = counts["statuses"].get(str(status), 0) + 1
            if status == 201:
                counts["201s_seen"] += 1
                session = json.loads(reply.body)["study_session"]
                acknowledged[key] = session["id"]
                stored_at[key] = dt.datetime.fromisoformat(session["created_at"])
                ok_at.append(round(time.time(), 3))
                return
            counts["failed_attempts"] += 1
            if status != 599 and str(status) not in answers:
                answers[str(status)] = {
                    "retry_after": reply.headers.get("Retry-After"),
                    "body": reply.body.decode(errors="replace")[:300],
                }
            failed_at.append(time.monotonic() - started)
            timeline.append((round(time.time(), 3), status))
            await asyncio.sleep(0.1)
        unacknowledged.append(key)

    async def worker(n: int) -> None:
        for i in next_key:
            if time.monotonic() >= stop_at:
                return
            await write(f"cluster-{before}-{i}")

    await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))
    elapsed = time.monotonic() - started
    client.close()
    db = await connect(database, statement_cache_size=0, timeout=30)
    try:
        stored = {r["id"]: r["created_at"] for r in await db.fetch(FAILOVER_SQL.study_sessions_after, before)}
    finally:
        await db.close()
    rows = list(stored)
    found = set(rows)
    # an acknowledged write is there when its id holds the session stored when the 201 said
    kept = {key for key, i in acknowledged.items() if stored.get(i) == stored_at[key]}
    lost = [key for key in acknowledged if key not in kept]
    lost_at = [stored_at[key].timestamp() for key in lost]
    return {
        **counts,
        "writes": len(acknowledged) + len(unacknowledged),
        "acknowledged": len(acknowledged),
        "unacknowledged": len(unacknowledged),
        "rows_found": len(rows),
        "lost": len(lost),
        "duplicates": len(rows) - len(kept),
        "distinct_ids": len(set(acknowledged.values())) == len(acknowledged),
        "reused_ids": sum(1 for key in lost if acknowledged[key] in found),
        # when the acknowledged writes now missing were stored (wall clock): the loss window
        "lost_between": [min(lost_at), max(lost_at)] if lost_at else None,
        "first_failure_s": round(min(failed_at), 2) if failed_at else None,
        "last_failure_s": round(max(failed_at), 2) if failed_at else None,
        "failing_for_s": round(max(failed_at) - min(failed_at), 2) if failed_at else 0,
        "seconds": round(elapsed, 2),
        "answers": answers,
        "req_s": round(counts["attempts"] / elapsed, 1),
        "timeline": timeline,
        "ok_at": ok_at,
    }


def main(argv: list[str]) -> int:
    balancer, database, seconds, out, *request_timeout = argv
    result = asyncio.run(run(balancer, database, float(seconds), *map(float, request_timeout)))
    with open(out, "w") as file:
        json.dump(result, file)
    print(json.dumps({k: v for k, v in result.items() if k not in ("timeline", "ok_at")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
