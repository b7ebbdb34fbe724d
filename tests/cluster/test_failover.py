"""Failover to a synchronous standby under load (issue 23), in the cluster of deploy/cluster.sh.

Each case builds a cluster of its own: two instances behind HAProxy, a primary and its synchronous
streaming standby on hosts (network namespaces) of their own, the instances reaching the primary
directly (a URL naming both databases, ``target_session_attrs=read-write``) or through PgBouncer
(which reaches it through HAProxy's TCP proxy to whichever database is the primary). A load client
in a namespace of its own sends keyed writes (each failed one retried with its Idempotency-Key);
the primary's host is killed (SIGKILL of every process) or frozen (SIGSTOP: it accepts TCP and
never answers), and the standby is promoted. For each case the test prints, and writes to
``FIGURES``: logical requests, 201s, rows, lost (acknowledged but missing), duplicates, 500s, and
the seconds of failures after the promotion (503s, the instances' own or HAProxy's).
A failover must cost at most 10 s of them, never a 500, and lose or duplicate nothing.

Needs root (``ip netns``), PostgreSQL 15, PgBouncer and HAProxy; skipped, with the reason, where
any is missing. The cluster of each case is removed (``down``) whatever happens.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..helpers import wait_until_sync
from .test_cluster import CANNOT_RUN, Cluster, _counts, _load, _namespaces

# The figures of the last run, one JSON line per case (for a report; pytest -s prints them too).
FIGURES = Path(tempfile.gettempdir()) / "langportal-failover-figures.jsonl"
LOAD_SECONDS = 16  # the load client's run; the failover comes about 1-2 s into it
MOST_FAILING_AFTER_PROMOTION = 10.0


pytestmark = pytest.mark.skipif(CANNOT_RUN is not None, reason=str(CANNOT_RUN))


@pytest.fixture(scope="module", autouse=True)
def figures_file() -> Path:
    FIGURES.write_text("")  # this run's figures only
    return FIGURES


@pytest.fixture
def fresh_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A cluster of two instances, brought up by the test with ``up 2 VIA``; down afterwards, and
    every namespace of its run gone."""
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="langportal-failover-")))
    try:
        yield cluster
    finally:
        cluster.down()
        if cluster.info:
            assert not cluster.namespaces & _namespaces()
        shutil.rmtree(cluster.state, ignore_errors=True)


def _figures(result: dict[str, Any], promoted_at: float, promoted_in: float) -> dict[str, Any]:
    """What the closing note reports, from the load client's result and the promotion's times: when
    the standby was told to promote, and how long until it took writes."""
    failures_after = [at for at, _ in result["timeline"] if at > promoted_at]
    ok_after = [at for at in result["ok_at"] if at > promoted_at]
    last_failure = max(failures_after) if failures_after else promoted_at
    return {
        "logical_requests": result["writes"],
        "201s": result["201s_seen"],
        "acknowledged": result["acknowledged"],
        "rows": result["rows_found"],
        "lost": result["lost"],
        "duplicates": result["duplicates"],
        "reused_ids": result["reused_ids"],
        "unacknowledged": result["unacknowledged"],
        "500s": result["statuses"].get("500", 0),
        "statuses": result["statuses"],
        # from the promotion command (the standby told to promote) to the last failed attempt
        "failing_after_promotion_s": round(last_failure - promoted_at, 2),
        # from the promotion's end (the standby takes writes) to the last failed attempt
        "failing_after_promoted_s": round(max(0.0, last_failure - promoted_at - promoted_in), 2),
        "201s_after_promotion": len(ok_after),
        "failures_before_promotion": sum(1 for at, _ in result["timeline"] if at <= promoted_at),
        "failures_after_promotion": len(failures_after),
        "promotion_took_s": round(promoted_in, 2),
        "load_s": result["seconds"],
    }


@pytest.mark.parametrize("how", ["kill", "freeze"])
@pytest.mark.parametrize("via", ["direct", "pgbouncer"])
def test_a_failover_under_load_loses_nothing_and_costs_seconds_of_503s(fresh_cluster, via, how):
    cluster = fresh_cluster
    cluster.up(2, via)
    assert cluster.haproxy() == {"app1": "UP", "app2": "UP"}
    answered = cluster.answered_by_all()
    # the rows are counted on whichever database is the primary at the end, directly (the client
    # connects to the URL naming both as the service does: past a hung first host)
    with _load(cluster, seconds=LOAD_SECONDS, database=cluster.info["direct"], request_timeout=15) as load:
        cluster.wait_for_answers(answered)
        cluster.run("database", how)  # the primary's host dies, or hangs
        promoted_at = time.time()
        cluster.run("database", "promote")
        promoted_in = time.time() - promoted_at
        result = load.result(timeout=LOAD_SECONDS + 90)
    figures = {
        "case": f"{via}, old primary {'killed' if how == 'kill' else 'frozen'}",
        **_figures(result, promoted_at, promoted_in),
    }
    if promoted_in > 1:  # slow (once 5 s under load): the standby's own account, for the report
        log = (cluster.state / "postgresql2.log").read_text(errors="replace").splitlines()
        figures["standby_log"] = [line for line in log if "LOG:" in line][-12:]
    with FIGURES.open("a") as file:
        file.write(json.dumps(figures) + "\n")
    print(f"\nfailover ({figures['case']}): {json.dumps(figures)}")
    assert figures["500s"] == 0, figures
    # no 500, no request unanswered: every failure is a 503 with Retry-After (the instances' own,
    # or HAProxy's while it has taken them all out)
    assert set(result["statuses"]) <= {"201", "503"}, figures
    assert all(answer["retry_after"] == "1" for answer in result["answers"].values()), figures
    assert result["unacknowledged"] == 0, figures
    assert result["lost"] == 0, figures
    assert result["duplicates"] == 0, figures
    assert result["reused_ids"] == 0, figures
    assert result["rows_found"] == result["acknowledged"] == result["writes"], figures
    # counted from the promotion: from the moment the standby takes writes (the promotion command
    # itself took 0.1-0.4 s, once 5 s under load)
    assert figures["failing_after_promoted_s"] <= MOST_FAILING_AFTER_PROMOTION, figures
    assert figures["201s_after_promotion"] >= 50, figures  # and it took writes again
    cluster.all_up(timeout=30)
    if how == "freeze":
        _the_thawed_old_primary_gets_nothing(cluster, via)


# Which database a new connection reaches: its address, as that server sees it.
REACHED = """
import asyncio, sys, asyncpg
async def main():
    conn = await asyncpg.connect(sys.argv[1], timeout=10)
    try:
        print(await conn.fetchval("SELECT host(inet_server_addr())"))
    finally:
        await conn.close()
asyncio.run(main())
"""


def _the_thawed_old_primary_gets_nothing(cluster: Cluster, via: str) -> None:
    """The frozen old primary thawed after the failover: it still says it is the primary, and
    HAProxy's check takes it in again. Through PgBouncer, a new connection through HAProxy's TCP
    proxy (as PgBouncer opens them) still reaches the new primary (no failback: deploy/haproxy.cfg's
    stick table, which learnt the new primary from PgBouncer's connections after the failover;
    `balance first` alone sends it to the old one, listed first). Either way the running instances
    keep writing to the new primary: writes through the balancer are 201s, stored there."""
    cluster.run("database", "thaw")
    wait_until_sync(lambda: cluster.database_states()["db"] == "UP", 30, "HAProxy to take the old primary in")
    new_primary = cluster.info["standby"].split(":")[0]
    for _ in range(3 if via == "pgbouncer" else 0):  # each a new connection
        reached = cluster.run("exec", "client", sys.executable, "-c", REACHED, cluster.info["proxy"])
        assert reached.strip() == new_primary, cluster.database_states()
    on_new_primary = re.sub(r"@[^/]+/", f"@{cluster.info['standby']}/", cluster.info["direct"]).split("?")[0]
    with _load(cluster, seconds=3, database=on_new_primary) as load:
        result = load.result(timeout=60)
    print(f"after the old primary's thaw: {json.dumps(_counts(result))}")
    assert set(result["statuses"]) == {"201"}, result["statuses"]
    assert result["rows_found"] == result["acknowledged"] > 0, _counts(result)
