"""The launch page in a real browser: headless Chromium, driven over the DevTools protocol.

The API runs on pytest-tornasync's server (one port) and the page is served by a second small
Tornado server (another port, so another origin), as a page hosted apart from the API would be:
the browser itself does the CORS preflight and enforces the page's Content-Security-Policy.
Nothing about headers is asserted here; tests/test_http_contract.py and tests/test_page.py do that.

Needs Debian's ``chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it). Without it
these tests fail, saying so; ``LANGPORTAL_SKIP_BROWSER=1`` skips them on purpose, and
``pytest -m 'not browser'`` leaves them out. ``LANGPORTAL_CHROMIUM`` names another executable.
Screenshots go to ``test-artifacts/browser/`` (or ``$LANGPORTAL_ARTIFACTS/browser/``) and are
listed at the end of pytest's output.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import tornado.httpserver
import tornado.testing
import tornado.web

from langportal.handlers import make_app
from langportal.handlers.page import page_routes

from .cdp import Chromium, Page
from .helpers import SCREENSHOTS, Db

pytestmark = pytest.mark.browser

PROJECT_DIR = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("LANGPORTAL_ARTIFACTS") or PROJECT_DIR / "test-artifacts") / "browser"
INSTALL = "install chromium: apt-get install -y chromium"


def chromium_executable() -> str:
    if os.environ.get("LANGPORTAL_SKIP_BROWSER") == "1":
        pytest.skip("LANGPORTAL_SKIP_BROWSER=1: the browser tests are skipped on purpose")
    given = os.environ.get("LANGPORTAL_CHROMIUM")
    if given:
        if not (shutil.which(given) or Path(given).is_file()):
            pytest.fail(f"LANGPORTAL_CHROMIUM={given} is not an executable; {INSTALL}", pytrace=False)
        return given
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(
            f"the browser tests need Chromium, which is not on this machine: {INSTALL} "
            "(Debian's package; .ci/run installs it). Set LANGPORTAL_SKIP_BROWSER=1 to skip them.",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    browser = Chromium.launch(chromium_executable(), tmp_path_factory.mktemp("chromium") / "profile")
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


async def screenshot(page: Page, request: pytest.FixtureRequest) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
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
    assert parse_qs(link.query) == {"lang": ["ja"], "group_id": [group_id], "session_id": [str(session_id)]}
    assert await page.text("#session-link") == "Open Kana Quiz"

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
    await page.select_option("#activity", "Typing Tutor")
    assert await page.text("#activity-description") == "Type the romaji of each word as it appears."
    await page.select_option("#group", "Core Verbs (35 words)")
    await page.click("#launch")
    await page.wait_for(SESSION_SHOWN, "the created session to show")
    href = await page.evaluate("document.getElementById('session-link').href")
    assert href == "http://localhost:8081/?group_id=1&session_id=1"
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
