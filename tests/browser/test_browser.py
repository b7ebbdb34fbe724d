"""The launch page and the Typing Tutor in a real browser: headless Chromium, over the DevTools protocol.

The API runs on pytest-tornasync's server (one port) and the page is served by a second small
Tornado server (another port, so another origin), as a page hosted apart from the API would be:
the browser itself does the CORS preflight and enforces the page's Content-Security-Policy.
Nothing about headers is asserted here; tests/database/test_http_contract.py and
tests/database/test_page.py do that.

Needs Debian's ``chromium`` (``apt-get install -y chromium``). Without it these tests are skipped,
with one line in pytest's summary saying how to install it, unless ``LANGPORTAL_REQUIRE_BROWSER=1``
(set by ``.ci/run``) makes a missing browser a failure. ``LANGPORTAL_SKIP_BROWSER=1`` skips them on
purpose, ``pytest -m 'not browser'`` leaves them out, ``LANGPORTAL_CHROMIUM`` names another
executable. Screenshots go to ``test-artifacts/browser/`` (or ``$LANGPORTAL_ARTIFACTS/browser/``)
and are listed at the end of pytest's output.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import tornado.httpserver
import tornado.testing
import tornado.web

from langportal.handlers import make_app
from langportal.handlers.page import page_routes

from ..cdp import Chromium, Page
from ..chromium import chromium_executable
from ..helpers import FIXTURE_SQL, SCREENSHOTS, Db, call

pytestmark = pytest.mark.browser

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = Path(os.environ.get("LANGPORTAL_ARTIFACTS") or PROJECT_DIR / "test-artifacts") / "browser"
# Decided when the module is imported: without Chromium the whole module is skipped, which pytest's
# summary shows as one line saying how to install it; with LANGPORTAL_REQUIRE_BROWSER=1 every test
# fails instead (in the fixture below, not here: an error while collecting would stop the whole run).
try:
    CHROMIUM: str | None = chromium_executable()
    MISSING = ""
except pytest.skip.Exception as skipped:
    pytest.skip(skipped.msg, allow_module_level=True)
except pytest.fail.Exception as failed:
    CHROMIUM, MISSING = None, failed.msg


@pytest.fixture(scope="session", autouse=True)
def chromium_path() -> str:
    """Autouse and session-wide, so it comes before any other fixture: a required browser that is
    missing fails each test without starting a database first."""
    if CHROMIUM is None:
        pytest.fail(MISSING, pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="module")
def chromium(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    browser = Chromium.launch(chromium_path, tmp_path_factory.mktemp("chromium") / "profile")
    yield browser
    browser.close()


@pytest.fixture
def page(io_loop, chromium: Chromium) -> Iterator[Page]:
    tab = io_loop.run_sync(chromium.new_page)
    yield tab
    io_loop.run_sync(tab.close)


@pytest.fixture
def cors_origins() -> list[str] | None:
    return None  # any origin; a test parametrizes an allowlist


@pytest.fixture
def app(pool, db, cors_origins):
    return make_app(pool, cors_origins=cors_origins)


@pytest.fixture
def api_origin(http_server, http_server_port) -> str:
    return f"http://127.0.0.1:{http_server_port[1]}"


@pytest.fixture
def page_api_origins(api_origin: str) -> list[str]:
    return [api_origin]  # what the page's CSP lets it connect to, beside its own origin


@pytest.fixture
def page_origin(io_loop, page_api_origins: list[str]) -> Iterator[str]:
    """The launch page, served by a second server on another port: another origin than the API."""
    app = tornado.web.Application(
        page_routes(api_origins=page_api_origins), log_function=lambda handler: None
    )
    server = tornado.httpserver.HTTPServer(app)
    sock, port = tornado.testing.bind_unused_port()
    server.add_socket(sock)
    yield f"http://127.0.0.1:{port}"
    server.stop()
    io_loop.run_sync(server.close_all_connections)


async def screenshot(page: Page, request: pytest.FixtureRequest, step: str = "") -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name + (f"-{step}" if step else "")).strip("-")
    path = await page.screenshot(ARTIFACTS / f"{name}.png")
    SCREENSHOTS.append(path)
    print(f"screenshot: {path}")
    return path


LOADED = "!document.getElementById('activity').disabled && !document.getElementById('group').disabled"
SESSION_SHOWN = "!document.getElementById('session').hidden"
ERROR_SHOWN = "!document.getElementById('error').hidden && document.getElementById('error').textContent"


async def test_launch_a_session_from_a_page_on_another_origin(
    page: Page, page_origin: str, api_origin: str, demo: Db, request
):
    # An activity whose address has a query and a fragment: group_id and session_id must be added
    # to the query, not glued onto the end.
    quiz = await demo.fetchval(
        "insert_study_activity", "Kana Quiz", "http://localhost:8084/quiz?lang=ja#start"
    )
    await page.goto(f"{page_origin}/?api={quote(api_origin, safe='')}")
    await page.wait_for(LOADED, "the activities and groups to load")
    assert await page.text("#api-base") == api_origin
    assert await page.text("#status") == "4 activities and 3 groups loaded."

    group_id = await page.select_option("#group", "Food and Drink (33 words)")
    activity_id = await page.select_option("#activity", "Kana Quiz")
    assert activity_id == str(quiz)
    assert await page.text("#activity-description") == ""
    await page.click("#launch")
    await page.wait_for(SESSION_SHOWN, "the created session to show")

    session_id = int((await page.text("#session-id")).removeprefix("#"))
    assert await page.text("#session-group") == "Food and Drink"
    assert await page.text("#session-activity") == "Kana Quiz"
    assert await page.evaluate("document.getElementById('session-created').dateTime")
    assert await page.text("#status") == f"Study session {session_id} started."
    assert await page.evaluate("document.getElementById('error').hidden")

    href = await page.evaluate("document.getElementById('session-link').href")
    link = urlsplit(href)
    assert (link.scheme, link.netloc, link.path, link.fragment) == (
        "http",
        "localhost:8084",
        "/quiz",
        "start",
    )
    # An activity on another origin than the API's is told where the API is, as ?api=.
    assert parse_qs(link.query) == {
        "lang": ["ja"],
        "group_id": [group_id],
        "session_id": [str(session_id)],
        "api": [api_origin],
    }
    assert await page.text("#session-link") == "Open Kana Quiz"
    assert await page.text("#session-where") == (
        "External: runs at http://localhost:8084, and nothing for it is bundled with this server, "
        "so it opens only if something is running there."
    )

    row = await demo.fetchrow("study_session_row", session_id)
    assert row is not None, f"session {session_id} is not in the database"
    assert (row["group_id"], row["study_activity_id"]) == (int(group_id), quiz)
    assert await demo.count_sessions() == 1
    assert page.console_messages() == []
    await screenshot(page, request)


async def test_the_page_served_by_the_api_server_uses_its_own_origin(page: Page, api_origin: str, demo: Db):
    await page.goto(f"{api_origin}/")
    await page.wait_for(LOADED, "the activities and groups to load")
    assert await page.text("#api-base") == api_origin
    await page.select_option("#activity", "Flashcards")
    assert await page.text("#activity-where") == (
        "External: runs at http://localhost:8082, and nothing for it is bundled with this server, "
        "so it opens only if something is running there."
    )
    await page.select_option("#activity", "Typing Tutor")
    assert await page.text("#activity-description") == "Type the romaji of each word as it appears."
    assert await page.text("#activity-where") == "Comes with this server (/static/typing/)."
    await page.select_option("#group", "Core Verbs (35 words)")
    await page.click("#launch")
    await page.wait_for(SESSION_SHOWN, "the created session to show")
    href = await page.evaluate("document.getElementById('session-link').href")
    assert href == f"{api_origin}/static/typing/?group_id=1&session_id=1"
    assert (await demo.fetchrow("study_session_row", 1))["study_activity_id"] == 1


async def test_an_api_error_is_shown_readably(
    page: Page, page_origin: str, api_origin: str, demo: Db, request
):
    gone = await demo.fetchval("insert_study_activity", "Short-lived", "http://localhost:8085")
    await page.goto(f"{page_origin}/?api={api_origin}")
    await page.wait_for(LOADED, "the activities and groups to load")
    await page.select_option("#activity", "Short-lived")
    await page.select_option("#group", "Core Verbs (35 words)")
    await demo.fetchval("delete_study_activity", gone)  # removed after the page listed it
    await page.click("#launch")

    shown = await page.wait_for(ERROR_SHOWN, "the error to show")
    assert f"study activity {gone} not found" in shown
    assert "The API answered 404 to POST /api/study_sessions." in shown
    assert "Request id: " in shown
    assert await page.text("#status") == "The study session was not started."
    assert await page.evaluate("document.getElementById('session').hidden")
    assert not await page.evaluate("document.getElementById('launch').disabled")  # can try again
    assert await demo.count_sessions() == 0
    await screenshot(page, request)


async def test_an_activity_url_that_is_not_a_web_address_is_not_a_link(
    page: Page, page_origin: str, api_origin: str, demo: Db
):
    await demo.fetchval("insert_study_activity", "Odd", "javascript:alert(document.domain)")
    await page.goto(f"{page_origin}/?api={api_origin}")
    await page.wait_for(LOADED, "the activities and groups to load")
    await page.select_option("#activity", "Odd")
    await page.select_option("#group", "Core Verbs (35 words)")
    await page.click("#launch")
    await page.wait_for(SESSION_SHOWN, "the created session to show")
    assert not await page.evaluate("document.getElementById('session-link').hasAttribute('href')")
    assert (
        await page.text("#session-link")
        == "Odd has no web address to open (javascript:alert(document.domain))."
    )


@pytest.mark.parametrize("cors_origins", [["http://portal.example"]])
async def test_an_api_that_refuses_the_pages_origin(
    page: Page, page_origin: str, api_origin: str, cors_origins, request
):
    """The API's CORS allowlist lacks the page's origin: the browser hides the answers from the
    page, which can only say that it could not reach the API, and what to check."""
    await page.goto(f"{page_origin}/?api={api_origin}")
    shown = await page.wait_for(ERROR_SHOWN, "the error to show")
    assert f"Could not reach the API at {api_origin} (Failed to fetch)." in shown
    assert f"allows this page's origin ({page_origin}) in its --cors-origins" in shown
    assert await page.text("#status") == "Could not load the study activities and groups."
    assert await page.evaluate("document.getElementById('launch').disabled")
    assert await page.text("#activity") == "Not available"
    await screenshot(page, request)


async def test_an_api_that_is_down(page: Page, page_origin: str, api_origin: str, http_server):
    http_server.stop()  # nothing listens at the API's address any more
    await http_server.close_all_connections()
    await page.goto(f"{page_origin}/?api={api_origin}")
    shown = await page.wait_for(ERROR_SHOWN, "the error to show")
    assert f"Could not reach the API at {api_origin} (Failed to fetch)." in shown


@pytest.mark.parametrize("page_api_origins", [[]])
async def test_an_api_origin_the_pages_policy_does_not_allow(
    page: Page, page_origin: str, api_origin: str, page_api_origins
):
    await page.goto(f"{page_origin}/?api={api_origin}")
    shown = await page.wait_for(ERROR_SHOWN, "the error to show")
    assert f"This page's security policy does not allow it to call {api_origin}." in shown
    assert f"--page-api-origins {api_origin}" in shown


@pytest.mark.parametrize(
    "given", ["javascript:alert(1)", "ftp://127.0.0.1", "http://127.0.0.1:5000/api", "127.0.0.1:5000"]
)
async def test_an_api_parameter_that_is_not_an_origin(page: Page, page_origin: str, given: str):
    await page.goto(f"{page_origin}/?api={quote(given, safe='')}")
    shown = await page.wait_for(ERROR_SHOWN, "the error to show")
    assert shown == (
        "The api parameter must be an http(s) origin such as http://127.0.0.1:5000 "
        f'(scheme, host and optional port; no path), not "{given}".'
    )
    assert await page.evaluate("document.getElementById('launch').disabled")


# -- the Typing Tutor (static/typing/), the study activity served with the API ----------------------

DRILL_SHOWN = "!document.getElementById('drill').hidden && document.getElementById('kanji').textContent"
RESULT_SHOWN = "!document.getElementById('result').hidden"


async def group_romaji(client, group_id: int) -> dict[str, str]:
    """kanji -> romaji of the group's words, from the API (the demo's kanji are unique)."""
    reply = await call(client, "GET", f"/api/groups/{group_id}/words?per_page=500")
    return {w["kanji"]: w["romaji"] for w in reply.json["items"]}


async def launch(page: Page, activity: str, group: str) -> str:
    """Start a session from the launch page already loaded; the activity link's address."""
    await page.select_option("#activity", activity)
    await page.select_option("#group", group)
    await page.click("#launch")
    await page.wait_for(SESSION_SHOWN, "the created session to show")
    return await page.evaluate("document.getElementById('session-link').href")


async def answer(page: Page, typed: str) -> str:
    """Type an answer and press Enter, as a keyboard-only user; the feedback, once it is saved
    (the focus is then on the Next button)."""
    assert await page.focused() == "answer"
    await page.type_text(typed)
    await page.press("Enter")
    await page.wait_for("document.activeElement.id === 'next'", "the answer to be saved")
    return await page.text("#feedback")


async def test_a_whole_session_in_the_typing_tutor(
    page: Page, page_origin: str, api_origin: str, demo: Db, http_server_client, request
):
    """Launch from a page on another origin, open the activity, answer four words (two right, two
    wrong) with the keyboard only, finish; the API has the session's reviews, its end time and
    the dashboard's new numbers."""
    stats = await call(http_server_client, "GET", "/api/dashboard/quick_stats")
    assert stats.json == {
        "success_rate": None,
        "total_study_sessions": 0,
        "total_active_groups": 0,
        "study_streak_days": 0,
    }
    last = await call(http_server_client, "GET", "/api/dashboard/last_study_session")
    assert last.json == {"last_study_session": None}

    await page.goto(f"{page_origin}/?api={quote(api_origin, safe='')}")
    await page.wait_for(LOADED, "the activities and groups to load")
    href = await launch(page, "Typing Tutor", "Food and Drink (33 words)")
    session_id = int((await page.text("#session-id")).removeprefix("#"))
    # A relative url is resolved against the API's origin, which serves the activity; the activity
    # is then on the API's origin and needs no ?api=.
    assert href == f"{api_origin}/static/typing/?group_id=3&session_id={session_id}"
    assert await page.text("#session-where") == "Comes with this server (/static/typing/)."
    await screenshot(page, request, "launch")

    await page.goto(href)  # the same tab, as a click would (the link opens a new one)
    await page.wait_for(DRILL_SHOWN, "the first word to show")
    assert await page.text("#session-line") == f"Study session #{session_id} · Food and Drink · Typing Tutor"
    assert await page.text("#status") == "33 words to practise."
    assert await page.text("#progress") == "Word 1 of 33"
    assert await page.text("#api-base") == api_origin
    assert await page.focused() == "answer"
    romaji = await group_romaji(http_server_client, 3)
    english = {
        w["kanji"]: w["english"]
        for w in (await call(http_server_client, "GET", "/api/groups/3/words?per_page=500")).json["items"]
    }
    await screenshot(page, request, "start")

    # Enter with nothing typed is not an answer: nothing is posted.
    await page.press("Enter")
    assert await page.text("#feedback") == "Type the romaji first, then press Enter."
    assert await page.focused() == "answer"
    assert await demo.pool.fetchval(FIXTURE_SQL.count_reviews) == 0

    shown = []
    plan = [True, False, True, False]
    for number, right in enumerate(plan, start=1):
        kanji = await page.text("#kanji")
        assert kanji in romaji, kanji
        assert await page.text("#english") == english[kanji]
        shown.append(kanji)
        if right:
            typed = f"  {romaji[kanji].upper()} "  # case and spaces do not count
            expected = f"Right: {kanji} ({english[kanji]}) is {romaji[kanji]}."
        else:
            typed = romaji[kanji] + "x"
            expected = f"Not quite: {kanji} ({english[kanji]}) is {romaji[kanji]}; you typed {typed}."
        assert await answer(page, typed) == expected
        assert await page.evaluate("document.getElementById('feedback').className") == (
            "feedback right" if right else "feedback wrong"
        )
        assert await page.text("#status") == f"Answer {number} saved."
        assert await page.text("#progress") == (
            f"Word {number} of 33 · {sum(plan[:number])} of {number} right so far"
        )
        if number == 2:
            await screenshot(page, request, "after-an-answer")
        if number < len(plan):
            await page.press("Enter")  # the focused Next button
            await page.wait_for(
                f"document.getElementById('progress').textContent.startsWith('Word {number + 1} of 33')",
                "the next word",
            )
            assert await page.focused() == "answer"
            assert await page.evaluate("document.getElementById('answer').value") == ""
    assert len(set(shown)) == len(plan)  # a new word each time

    await page.press("Tab")  # from Next to Finish
    assert await page.focused() == "finish"
    await page.press("Enter")
    await page.wait_for(RESULT_SHOWN, "the score")
    assert await page.focused() == "result"
    assert await page.text("#score") == "You got 2 of 4 right (50%)."
    assert await page.evaluate("document.getElementById('unsaved').hidden")
    items = await page.evaluate("[...document.querySelectorAll('#answers li')].map((li) => li.textContent)")
    assert items == [
        f"{k} {romaji[k]} ({english[k]}): " + ("right" if right else f"wrong, you typed {romaji[k]}x")
        for k, right in zip(shown, plan, strict=True)
    ]
    assert await page.evaluate("document.getElementById('back').getAttribute('href')") == "/"
    assert page.console_messages() == []
    await screenshot(page, request, "end")

    # What the API now says about the session, its words and the dashboard.
    session = (await call(http_server_client, "GET", f"/api/study_sessions/{session_id}")).json[
        "study_session"
    ]
    assert session["review_items_count"] == 4
    assert await demo.pool.fetchval(FIXTURE_SQL.count_reviews) == 4
    assert await demo.pool.fetchval(FIXTURE_SQL.count_idempotency_keys) == 4  # one key per answer
    assert session["end_time"] is not None
    assert session["end_time"] > session["start_time"]
    reviewed = await call(http_server_client, "GET", f"/api/study_sessions/{session_id}/words")
    counts = {w["kanji"]: (w["correct_count"], w["wrong_count"]) for w in reviewed.json["items"]}
    assert counts == {k: (1, 0) if right else (0, 1) for k, right in zip(shown, plan, strict=True)}
    stats = await call(http_server_client, "GET", "/api/dashboard/quick_stats")
    assert stats.json == {
        "success_rate": 50.0,
        "total_study_sessions": 1,
        "total_active_groups": 1,
        "study_streak_days": 1,
    }
    last = (await call(http_server_client, "GET", "/api/dashboard/last_study_session")).json
    assert last["last_study_session"]["id"] == session_id
    assert last["last_study_session"]["review_items_count"] == 4
    assert last["last_study_session"]["end_time"] == session["end_time"]


async def test_an_activity_on_another_origin_is_told_where_the_api_is(
    page: Page, page_origin: str, api_origin: str, demo: Db, http_server_client
):
    """The Typing Tutor served by another server than the API (the page's): the launch link carries
    ?api=, the activity calls the API there, and its way back keeps ?api= too."""
    await demo.fetchval("insert_study_activity", "Typing Tutor elsewhere", f"{page_origin}/static/typing/")
    await page.goto(f"{api_origin}/")
    await page.wait_for(LOADED, "the activities and groups to load")
    href = await launch(page, "Typing Tutor elsewhere", "Core Verbs (35 words)")
    link = urlsplit(href)
    assert (link.scheme, link.netloc, link.path) == ("http", urlsplit(page_origin).netloc, "/static/typing/")
    assert parse_qs(link.query) == {"group_id": ["1"], "session_id": ["1"], "api": [api_origin]}

    await page.goto(href)
    await page.wait_for(DRILL_SHOWN, "the first word to show")
    assert await page.text("#api-base") == api_origin
    romaji = await group_romaji(http_server_client, 1)
    kanji = await page.text("#kanji")
    assert (await answer(page, romaji[kanji])).startswith("Right: ")
    await page.click("#finish")
    await page.wait_for(RESULT_SHOWN, "the score")
    assert await page.text("#score") == "You got 1 of 1 right (100%)."
    back = await page.evaluate("document.getElementById('back').href")
    assert back == f"{page_origin}/?api={quote(api_origin, safe='')}"
    session = (await call(http_server_client, "GET", "/api/study_sessions/1")).json["study_session"]
    assert session["review_items_count"] == 1
    assert page.console_messages() == []


async def test_a_review_the_api_refuses_is_shown_and_not_counted(
    page: Page, api_origin: str, demo: Db, http_server_client, request
):
    """The session is deleted (reset_history) while the learner works: the save fails with the
    API's own message, the answer can be retried, and the score does not count it."""
    await page.goto(f"{api_origin}/")
    await page.wait_for(LOADED, "the activities and groups to load")
    await page.goto(await launch(page, "Typing Tutor", "Core Adjectives (37 words)"))
    await page.wait_for(DRILL_SHOWN, "the first word to show")
    await demo.pool.execute(FIXTURE_SQL.delete_every_session)

    await page.type_text("nani")
    await page.press("Enter")
    shown = await page.wait_for(ERROR_SHOWN, "the error to show")
    assert "study session 1 not found" in shown
    assert "The API answered 404 to POST /api/study_sessions/1/words/" in shown
    assert "Request id: " in shown
    assert await page.text("#status") == "Your answer was not saved."
    assert await page.text("#feedback") != ""  # right or wrong is still shown
    assert await page.focused() == "retry"
    assert await page.evaluate("document.getElementById('next').hidden")
    await screenshot(page, request)

    assert await demo.pool.fetchval(FIXTURE_SQL.count_idempotency_keys) == 1  # the 404 is kept
    await page.press("Enter")  # try again: the same answer, the same Idempotency-Key
    await page.wait_for("document.activeElement.id === 'retry'", "the second try to fail")
    assert "study session 1 not found" in await page.text("#error")
    assert await demo.pool.fetchval(FIXTURE_SQL.count_idempotency_keys) == 1  # replayed, not a new key
    await page.press("Tab")
    assert await page.focused() == "finish"
    await page.press("Enter")
    await page.wait_for(RESULT_SHOWN, "the score")
    assert await page.text("#score") == "No answers were saved in this session."
    assert await page.text("#unsaved") == "1 answer was not saved and not counted."
    assert await demo.pool.fetchval(FIXTURE_SQL.count_reviews) == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "?group_id=1",
            "This activity needs session_id in its address (…/static/typing/?group_id=1&session_id=1). "
            "Open it from the launch page, which starts a study session and adds both.",
        ),
        ("?group_id=1&session_id=0", 'session_id must be a whole number from 1 to 2147483647, not "0".'),
        ("?group_id=1.5&session_id=1", 'group_id must be a whole number from 1 to 2147483647, not "1.5".'),
        (
            "?group_id=1&session_id=2147483648",
            'session_id must be a whole number from 1 to 2147483647, not "2147483648".',
        ),
        ("?group_id=1&session_id=7", "study session 7 not found"),
        ("?group_id=2&session_id=1", "Study session 1 is for group 1 (Core Verbs), not group 2."),
        (
            "?group_id=1&session_id=1&api=ftp%3A%2F%2Fx",
            "The api parameter must be an http(s) origin such as http://127.0.0.1:5000 "
            '(scheme, host and optional port; no path), not "ftp://x".',
        ),
    ],
)
async def test_the_typing_tutor_says_what_is_wrong_with_its_address(
    page: Page, api_origin: str, demo: Db, http_server_client, query: str, message: str
):
    created = await call(
        http_server_client, "POST", "/api/study_sessions", {"group_id": 1, "study_activity_id": 1}
    )
    assert created.status == 201
    await page.goto(f"{api_origin}/static/typing/{query}")
    shown = await page.wait_for(ERROR_SHOWN, "the error to show")
    assert shown.startswith(message)
    assert await page.evaluate("document.getElementById('drill').hidden")
    assert await demo.pool.fetchval(FIXTURE_SQL.count_reviews) == 0


async def test_the_last_word_leads_to_the_score(page: Page, api_origin: str, db: Db, http_server_client):
    """A group of two words, answered to the end: the last Next is "See your score"; an answer
    without letters is not an answer."""
    group = await db.fetchval("insert_group", "Two words")
    activity = await db.fetchval("insert_study_activity", "Typing Tutor", "/static/typing/")
    romaji = {"水": "mizu", "魚": "sakana"}
    for kanji, word in romaji.items():
        word_id = await db.fetchval("insert_word", kanji, word, "water" if word == "mizu" else "fish", "[]")
        await db.pool.execute(FIXTURE_SQL.add_word_to_group, word_id, group)
    created = await call(
        http_server_client, "POST", "/api/study_sessions", {"group_id": group, "study_activity_id": activity}
    )
    session_id = created.json["study_session"]["id"]
    await page.goto(f"{api_origin}/static/typing/?group_id={group}&session_id={session_id}")
    await page.wait_for(DRILL_SHOWN, "the first word to show")

    await page.type_text("123")
    await page.press("Enter")
    assert await page.text("#feedback") == 'Romaji is written with the letters a to z; "123" has none.'
    assert await page.evaluate("document.getElementById('answer').getAttribute('aria-invalid')") == "true"
    await page.evaluate("document.getElementById('answer').value = ''")

    first = await page.text("#kanji")
    assert (await answer(page, romaji[first])).startswith("Right: ")
    assert await page.text("#next") == "Next word"
    await page.press("Enter")
    await page.wait_for(
        "document.getElementById('progress').textContent === 'Word 2 of 2 · 1 of 1 right so far'", "word 2"
    )
    second = await page.text("#kanji")
    assert {first, second} == set(romaji)
    # Letters typed full-width (an input method left on) count as the plain ones.
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in romaji[second].upper())
    assert (await answer(page, full_width)).startswith("Right: ")
    assert await page.text("#next") == "See your score"
    await page.press("Enter")
    await page.wait_for(RESULT_SHOWN, "the score")
    assert await page.text("#score") == "You got 2 of 2 right (100%)."
    session = (await call(http_server_client, "GET", f"/api/study_sessions/{session_id}")).json[
        "study_session"
    ]
    assert session["review_items_count"] == 2
    assert page.console_messages() == []


# The launch as the course's own frontend makes it (lang-portal/frontend-react's launch page, a
# React app on another origin): GET the activity's launch data, POST /study_sessions with a JSON
# body (so the browser sends a preflight first), then new URL(launch_url) with group_id and
# session_id set in its query, opened as it is. Written here as plain fetch calls, run in a page on
# another origin than the API's.
COURSE_LAUNCH = """
(async () => {
  const api = %(api)s;
  const reply = await fetch(`${api}/api/study-activities/%(activity)d/launch`);
  if (!reply.ok) throw new Error(`launch data: ${reply.status}`);
  const launch = await reply.json();
  const group = launch.groups.find((g) => g.name === %(group)s);
  const created = await fetch(`${api}/study_sessions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ group_id: group.id, study_activity_id: launch.activity.id }),
  });
  if (!created.ok) throw new Error(`start: ${created.status}`);
  const result = await created.json();
  const url = new URL(launch.activity.launch_url);
  url.searchParams.set("group_id", String(group.id));
  url.searchParams.set("session_id", String(result.session_id));
  return { url: url.toString(), preview: launch.activity.preview_url, session: result.session_id };
})()
"""

COURSE_SESSION_PAGE = """
(async () => {
  const reply = await fetch(`%(api)s/api/study-sessions/%(session)d?page=1&per_page=10`);
  return { status: reply.status, body: await reply.json() };
})()
"""


async def test_the_course_frontends_launch_opens_the_bundled_typing_tutor(
    page: Page, page_origin: str, api_origin: str, demo: Db, http_server_client, request
):
    """The course frontend's launch loop: its launch data and POST /study_sessions from another
    origin, the launch URL it builds opens the bundled Typing Tutor, an answer there is recorded,
    and the course's session page (GET /api/study-sessions/{id}) lists the word with its count."""
    await page.goto(f"{page_origin}/")  # any page on another origin than the API's
    launched = await page.evaluate(
        COURSE_LAUNCH % {"api": json.dumps(api_origin), "activity": 1, "group": json.dumps("Food and Drink")}
    )
    session_id = launched["session"]
    assert launched["url"] == f"{api_origin}/static/typing/?group_id=3&session_id={session_id}"
    assert launched["preview"] == f"{api_origin}/static/typing/thumbnail.svg"
    preview = await http_server_client.fetch(urlsplit(launched["preview"]).path, raise_error=False)
    assert preview.code == 200

    await page.goto(launched["url"])
    await page.wait_for(DRILL_SHOWN, "the Typing Tutor's first word")
    assert await page.text("#session-line") == f"Study session #{session_id} · Food and Drink · Typing Tutor"
    kanji = await page.text("#kanji")
    romaji = await group_romaji(http_server_client, 3)
    assert await answer(page, romaji[kanji]) == (
        f"Right: {kanji} ({await page.text('#english')}) is {romaji[kanji]}."
    )
    assert page.console_messages() == []
    await screenshot(page, request, "answered")

    await page.goto(f"{page_origin}/")
    shown = await page.evaluate(COURSE_SESSION_PAGE % {"api": api_origin, "session": session_id})
    assert shown["status"] == 200
    assert shown["body"]["session"]["review_items_count"] == 1
    assert [(w["kanji"], w["correct_count"], w["wrong_count"]) for w in shown["body"]["words"]] == [
        (kanji, 1, 0)
    ]
    assert shown["body"]["total"] == 1
