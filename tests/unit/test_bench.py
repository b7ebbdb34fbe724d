"""The load benchmark's own pieces that can be checked without load: the pgbench script it builds
from the endpoint's SQL, and its results files (every figure as JSON, the summary as text)."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from bench import report
from bench.phases import CeilingResult, ServerResult, pgbench_script
from langportal import portaldb


def test_pgbench_runs_the_endpoints_own_statement_with_one_random_request():
    script = pgbench_script(100, 10)
    statement = portaldb.load_queries().create_study_sessions.strip().rstrip(";")
    assert "\\set g random(1, 100)\n\\set a random(1, 10)\n" in script
    assert statement.replace("$1", "ARRAY[:g]").replace("$2", "ARRAY[:a]") in script
    assert "$1" not in script
    assert "$2" not in script


def _levels() -> list[dict]:
    ceiling = CeilingResult(clients=256, tps=2000.0, transactions=30000, cpu_ms_per_tx={"database": 0.5})
    server = ServerResult(
        connections=256,
        req_s=1500.0,
        responses=22500,
        statuses={"201": 22500},
        created=22500,
        errors={"connect": 0, "read": 0, "write": 0, "timeout": 0},
        latency_ms={"p50": 20.0, "p99": 80.0},
        rows_added=22510,
        unanswered=10,
        lost_writes=0,
        unexplained_rows=0,
        cpu_ms_per_request={"server": 0.6, "database": 0.1},
    )
    return [{"connections": 256, "order": ["ceiling", "server"], "ceiling": ceiling, "server": server}]


def test_every_figure_is_written_as_json_and_the_summary_as_text_beside_it(tmp_path):
    levels = _levels()
    targets = report.check_targets(levels)
    text = report.summary(levels, targets, 42)
    figures = {"levels": [{name: asdict(level[name]) for name in ("ceiling", "server")} for level in levels]}
    path = report.write_results(figures, text, tmp_path / "run.json", "unused")
    assert path == tmp_path / "run.json"
    assert json.loads(path.read_text()) == figures
    written = (tmp_path / "run.txt").read_text()
    assert written == "\n".join(text) + "\n"
    assert "75.0%" in written  # 1,500 req/s against a ceiling of 2,000 tps
    assert "[PASS] at 256 connections: server req/s >= 50% of the pgbench ceiling" in written
    assert "[PASS] at 256 connections: p99 latency < 100 ms: p99 80.0 ms" in written
    assert "[SKIP] at 1000 connections: zero socket errors: no run at 1000 connections" in written


def test_results_go_to_bench_results_by_default(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path / "results")
    path = report.write_results({"a": 1}, ["table"], None, "20261127T020000Z")
    assert path == tmp_path / "results" / "20261127T020000Z.json"
    assert json.loads(path.read_text()) == {"a": 1}
    assert (tmp_path / "results" / "20261127T020000Z.txt").read_text() == "table\n"


@pytest.mark.parametrize("name", ["figures.txt", "figures"])
def test_the_text_never_overwrites_the_json(tmp_path, name):
    path = report.write_results({"a": 1}, ["table"], tmp_path / name, "unused")
    assert json.loads(path.read_text()) == {"a": 1}
    texts = [p for p in tmp_path.iterdir() if p != path]
    assert [p.read_text() for p in texts] == ["table\n"]


def test_the_large_history_bench_times_every_course_get_in_every_sort_its_pages_send():
    import re

    from tornado.web import RequestHandler

    from bench import list_endpoints as bench
    from langportal.handlers.course import SESSION_SORTS, WORD_SORTS
    from langportal.handlers.routes import course_routes

    templates = [template for template, _ in bench.COURSE_ENDPOINTS]
    ids = {"gid": 1, "aid": 1, "sid": 1, "wid": 1, "gid_course_middle_page": 2, "gid_course_last_page": 3}
    paths = [template.format(**ids).split("?")[0] for template in templates]
    get_routes = [pattern for pattern, handler in course_routes() if handler.get is not RequestHandler.get]
    assert len(get_routes) == 16
    for pattern in get_routes:
        assert any(re.fullmatch(pattern, path) for path in paths), pattern
    assert len(set(templates)) == len(templates)
    queries = {template.split("?", 1)[1] for template in templates if "/study_sessions?" in template}
    for key in bench.SESSION_SORTS:
        assert key in SESSION_SORTS
        assert {f"page=1&sort_by={key}&order=asc", f"page=1&sort_by={key}&order=desc"} <= queries
    assert set(SESSION_SORTS.values()) == {
        SESSION_SORTS[key] for key in (*bench.SESSION_SORTS, "startTime")
    }  # every statement the session table can reach
    assert set(bench.WORD_SORTS) == set(WORD_SORTS)
    defaults = [template for template, goal in bench.COURSE_ENDPOINTS if goal == bench.DEFAULT_ORDER]
    assert "/groups/{gid}/study_sessions?page=1&sort_by=startTime&order=desc" in defaults
    assert "/groups/{gid}/study_sessions?page=1&sort_by=id&order=desc" not in defaults
    assert set(bench.COUNTERPARTS) <= set(templates)
    assert set(bench.COUNTERPARTS.values()) <= set(bench.ENDPOINTS)


@pytest.mark.parametrize(
    ("goal", "p50", "p99", "met"),
    [
        ("default order", 4.9, 19.9, True),
        ("default order", 5.0, 10.0, False),
        ("default order", 3.0, 20.0, False),
        ("other sort", 19.9, 500.0, True),
        ("other sort", 20.0, 20.0, False),
    ],
)
def test_each_path_is_judged_by_its_own_goal(goal, p50, p99, met):
    from bench import list_endpoints as bench

    assert bench.meets(goal, p50, p99) is met
