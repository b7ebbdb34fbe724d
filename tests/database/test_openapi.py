"""GET /api/openapi.json: the document covers every route, its request schemas are the files in
schemas/, and real responses validate against its response schemas."""

from __future__ import annotations

import json
import re

import pytest
from openapi_spec_validator import validate

from langportal import handlers
from langportal.handlers import make_app
from langportal.handlers.validation import SCHEMA_DIR

from ..helpers import OPENAPI, Db, assert_documented, send

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def app(pool, db):
    return make_app(pool, allow_reset=True)  # so the tour below can reach every operation


def served_operations() -> set[tuple[str, str]]:
    """(method, path template) for every route the application serves: the API and the health
    checks (the launch page at / and /static/ is not part of the API; tests/database/test_page.py
    covers it)."""
    operations = set()
    for pattern, handler, *_ in handlers.routes():
        if handler is handlers.PageHandler:
            continue
        template = pattern.replace("([^/]+)", "{id}", 1).replace("([^/]+)", "{word_id}", 1)
        for method in handler.allowed_methods():
            if method.lower() in METHODS:
                operations.add((method.lower(), template))
    return operations


def documented_operations() -> set[tuple[str, str]]:
    return {(method, path) for path, item in OPENAPI["paths"].items() for method in item if method in METHODS}


def test_the_document_is_valid_openapi_3_1():
    assert OPENAPI["openapi"].startswith("3.1.")
    validate(OPENAPI)


def test_every_route_is_documented_and_nothing_else():
    assert served_operations() == documented_operations()


def test_request_schemas_are_the_files_in_schemas():
    components = OPENAPI["components"]["schemas"]
    files = sorted(SCHEMA_DIR.glob("*.json"))
    assert {p.stem for p in files} >= {"study_session_create", "review_create", "page_query", "words_query"}
    for path in files:
        on_disk = json.loads(path.read_text())
        assert components[path.stem] == {k: v for k, v in on_disk.items() if k not in ("$schema", "$id")}
    for path in sorted((SCHEMA_DIR / "responses").glob("*.json")):
        assert components[path.stem] == json.loads(path.read_text())


def test_bodies_and_query_parameters_come_from_the_schemas():
    """Each validated body and query string is documented by reference to (or built from) its file."""
    review = OPENAPI["paths"]["/api/study_sessions/{id}/words/{word_id}/review"]["post"]
    assert review["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/review_create"
    }
    create = OPENAPI["paths"]["/api/study_sessions"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/study_session_create"
    }
    words_query = json.loads((SCHEMA_DIR / "words_query.json").read_text())
    parameters = [p for p in OPENAPI["paths"]["/api/words"]["get"]["parameters"] if p["in"] == "query"]
    assert [p["name"] for p in parameters] == list(words_query["properties"])
    for parameter in parameters:
        spec = dict(words_query["properties"][parameter["name"]])
        assert parameter["description"] == spec.pop("description")
        assert parameter["schema"] == spec


def test_shared_query_properties_agree():
    """page and per_page are written in three files; they must say the same thing."""
    files = ["page_query", "words_query", "groups_query"]
    specs = [json.loads((SCHEMA_DIR / f"{name}.json").read_text())["properties"] for name in files]
    for name in ("page", "per_page"):
        assert specs[0][name] == specs[1][name] == specs[2][name]


def test_every_reference_resolves():
    text = json.dumps(OPENAPI)
    for ref in set(re.findall(r'"\$ref": "#/([^"]+)"', text)):
        node = OPENAPI
        for part in ref.split("/"):
            node = node[part]
    assert '"$id"' not in text


async def test_served_document(http_server_client, db: Db):
    reply = await send(http_server_client, "GET", "/api/openapi.json")
    assert reply.status == 200
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert reply.json == OPENAPI
    assert_documented("GET", "/api/openapi.json", reply)


async def test_tour_of_every_operation_validates(http_server_client, demo: Db):
    """One successful call of every operation on the demo data, each reply checked against the
    document, then the usual errors."""
    J = {"Content-Type": "application/json"}
    calls = [
        ("GET", "/api/study_activities", None),
        ("GET", "/api/study_activities/1", None),
        ("POST", "/api/study_sessions", {"group_id": 1, "study_activity_id": 2}),
        ("POST", "/api/study_sessions/1/words/1/review", {"correct": True}),
        ("POST", "/api/study_sessions/1/words/2/review", {"correct": False}),
        ("GET", "/api/study_activities/2/study_sessions", None),
        ("GET", "/api/groups?sort_by=word_count&order=desc", None),
        ("GET", "/api/groups/3", None),
        ("GET", "/api/groups/1/words?per_page=5&sort_by=correct_count&order=desc", None),
        ("GET", "/api/groups/1/study_sessions", None),
        ("GET", "/api/words?per_page=500", None),
        ("GET", "/api/words/1", None),
        ("GET", "/api/study_sessions", None),
        ("GET", "/api/study_sessions/1", None),
        ("GET", "/api/study_sessions/1/words", None),
        ("GET", "/api/dashboard/last_study_session", None),
        ("GET", "/api/dashboard/study_progress", None),
        ("GET", "/api/dashboard/quick_stats", None),
        ("GET", "/api/openapi.json", None),
        ("GET", "/healthz", None),
        ("GET", "/readyz", None),
        # the course frontend's routes (handlers/course*.py)
        ("GET", "/dashboard/recent-session", None),
        ("GET", "/dashboard/stats", None),
        ("GET", "/groups?page=1&sort_by=word_count&order=desc", None),
        ("GET", "/groups/1", None),
        ("GET", "/groups/1/words?page=1&sort_by=romaji&order=asc", None),
        ("GET", "/groups/1/words/raw", None),
        ("GET", "/api/groups/1/words/raw", None),
        ("GET", "/groups/1/study_sessions?page=1&sort_by=review_items_count&order=desc", None),
        ("GET", "/words?page=1&sort_by=kanji&order=asc", None),
        ("GET", "/words/1", None),
        ("POST", "/study_sessions", {"group_id": 1, "study_activity_id": 1}),
        ("POST", "/study_sessions/1/review", {"word_id": 3, "correct": True}),
        ("GET", "/api/study-sessions?page=1&per_page=10", None),
        ("GET", "/api/study-sessions/1?page=1&per_page=10", None),
        ("GET", "/api/study-activities", None),
        ("GET", "/api/study-activities/1", None),
        ("GET", "/api/study-activities/1/sessions?page=1&per_page=10", None),
        ("GET", "/api/study-activities/1/launch", None),
        ("POST", "/api/study-sessions/reset", None),
        ("GET", "/dashboard/recent-session", None),  # null now
        ("POST", "/api/reset_history", None),
        ("GET", "/api/dashboard/last_study_session", None),  # null now
        ("POST", "/api/full_reset", None),
    ]
    covered = set()
    for method, path, body in calls:
        reply = await send(http_server_client, method, path, body)
        assert 200 <= reply.status < 300, (method, path, reply.body)
        assert_documented(method, path, reply)
        template = next(t for m, t in documented_operations() if _matches(t, path) and m == method.lower())
        covered.add((method.lower(), template))
    assert covered == documented_operations()

    errors = [
        ("GET", "/api/words?page=0", None, 400),
        ("GET", "/api/words/0", None, 400),
        ("GET", "/api/words/999", None, 404),
        ("GET", "/api/groups/999/words", None, 404),
        ("POST", "/api/study_sessions", {"group_id": 999, "study_activity_id": 1}, 404),
        ("POST", "/api/study_sessions", "{", 400),
        ("POST", "/api/study_sessions/1/words/1/review", {"correct": "yes"}, 400),
        ("POST", "/api/study_sessions/999/words/1/review", {"correct": True}, 404),
        ("DELETE", "/api/words/1", None, 405),
    ]
    for method, path, body, status in errors:
        reply = await send(http_server_client, method, path, body, headers=J if body else {})
        assert reply.status == status, (method, path, reply.body)
        if method != "DELETE":
            assert_documented(method, path, reply)


def _matches(template: str, path: str) -> bool:
    pattern = "^" + re.sub(r"\{[^}/]+\}", "[^/]+", template) + "$"
    return re.match(pattern, path.split("?", 1)[0]) is not None
