"""GET /api/study_activities, /api/study_activities/{id} and /api/study_activities/{id}/study_sessions."""

from __future__ import annotations

from ..helpers import Db, History, call


async def test_activities(http_server_client, history: History):
    reply = await call(http_server_client, "GET", "/api/study_activities")
    assert reply.status == 200
    assert [a["name"] for a in reply.json["items"]] == ["Flashcards", "Typing Tutor"]
    assert reply.json["items"][0] == {
        "id": history.flashcards,
        "name": "Flashcards",
        "url": "http://localhost:8082",
        "thumbnail_url": None,
        "description": "",
    }
    assert reply.json["pagination"]["total_items"] == 2


async def test_activities_paged(http_server_client, history: History):
    reply = await call(http_server_client, "GET", "/api/study_activities?per_page=1&page=2")
    assert [a["name"] for a in reply.json["items"]] == ["Typing Tutor"]
    assert reply.json["pagination"]["total_pages"] == 2


async def test_one_activity(http_server_client, history: History):
    reply = await call(http_server_client, "GET", f"/api/study_activities/{history.typing}")
    assert reply.status == 200
    assert reply.json["study_activity"]["name"] == "Typing Tutor"
    assert reply.json["study_activity"]["url"] == "http://localhost:8081"


async def test_unknown_activity_is_404(http_server_client, history: History):
    for suffix in ("", "/study_sessions"):
        reply = await call(http_server_client, "GET", f"/api/study_activities/40{suffix}")
        assert reply.status == 404
        assert reply.json["error"] == "study activity 40 not found"


async def test_bad_activity_id_is_400(http_server_client, history: History):
    for suffix in ("", "/study_sessions"):
        reply = await call(http_server_client, "GET", f"/api/study_activities/0{suffix}")
        assert reply.status == 400
        assert reply.json["error"] == 'study activity id must be an integer from 1 to 2147483647, got "0"'


async def test_sessions_of_an_activity(http_server_client, history: History):
    reply = await call(
        http_server_client, "GET", f"/api/study_activities/{history.flashcards}/study_sessions"
    )
    assert [s["id"] for s in reply.json["items"]] == [history.sessions[2], history.sessions[0]]
    assert {s["activity_name"] for s in reply.json["items"]} == {"Flashcards"}
    typing = await call(http_server_client, "GET", f"/api/study_activities/{history.typing}/study_sessions")
    assert [s["id"] for s in typing.json["items"]] == [history.sessions[1]]
    assert typing.json["items"][0]["review_items_count"] == 2


async def test_no_activities(http_server_client, db: Db):
    reply = await call(http_server_client, "GET", "/api/study_activities")
    assert reply.json["items"] == []
    assert reply.json["pagination"]["total_items"] == 0
