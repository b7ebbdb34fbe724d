"""The launch page's files as HTTP serves them: at / and /static/, with security headers.

What the page does in a browser is tests/browser/test_browser.py.
"""

from __future__ import annotations

import re

import pytest

from langportal.handlers import make_app
from langportal.handlers.page import STATIC_DIR, content_security_policy
from langportal.settings import parse_args

from ..helpers import Db, send


@pytest.fixture
def app(pool, db):
    return make_app(pool, page_api_origins=["http://127.0.0.1:5001"])


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


async def test_the_page_is_served_at_the_root(http_server_client, db: Db):
    reply = await send(http_server_client, "GET", "/")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert reply.body == (STATIC_DIR / "index.html").read_bytes()
    assert b'<script src="/static/portal.js" defer></script>' in reply.body
    assert b'<script src="/static/app.js" defer></script>' in reply.body


async def test_the_typing_tutor_is_served_at_its_folder(http_server_client, db: Db):
    reply = await send(http_server_client, "GET", "/static/typing/?group_id=1&session_id=2")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert reply.body == (STATIC_DIR / "typing" / "index.html").read_bytes()
    assert "Content-Security-Policy" in reply.headers


async def test_a_folder_without_its_slash_is_redirected_with_its_query(http_server_client, db: Db):
    """/static/typing?group_id=... must keep the query the activity reads, through the redirect."""
    reply = await send(
        http_server_client, "GET", "/static/typing?group_id=1&session_id=2", follow_redirects=False
    )
    assert reply.status == 301
    assert reply.headers["Location"] == "/static/typing/?group_id=1&session_id=2"
    bare = await send(http_server_client, "GET", "/static/typing", follow_redirects=False)
    assert bare.headers["Location"] == "/static/typing/"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/app.js", "text/javascript"),
        ("/static/portal.js", "text/javascript"),
        ("/static/typing/typing.js", "text/javascript"),
        ("/static/typing/typing.css", "text/css"),
        ("/static/typing/thumbnail.svg", "image/svg+xml"),
        ("/static/style.css", "text/css"),
        ("/static/favicon.svg", "image/svg+xml"),
        ("/static/index.html", "text/html"),
    ],
)
async def test_static_files(http_server_client, db: Db, path, content_type):
    reply = await send(http_server_client, "GET", path)
    assert reply.status == 200
    assert reply.headers["Content-Type"] == f"{content_type}; charset=utf-8"
    assert reply.body == (STATIC_DIR / path.removeprefix("/static/")).read_bytes()


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/static/nothing.js", "/static/typing/"])
async def test_security_headers(http_server_client, db: Db, path):
    reply = await send(http_server_client, "GET", path)
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert "Server" not in reply.headers
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert reply.headers["Referrer-Policy"] == "no-referrer"
    csp = csp_directives(reply.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'", "http://127.0.0.1:5001"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "Access-Control-Allow-Origin" not in reply.headers  # the page is not part of the API


def test_the_policy_without_other_api_origins():
    assert "connect-src 'self';" in content_security_policy()


def test_page_api_origins_flag():
    assert parse_args([]).page_api_origins == ()
    config = parse_args(["--page-api-origins", "http://127.0.0.1:5001, https://api.example/"])
    assert config.page_api_origins == ("http://127.0.0.1:5001", "https://api.example")
    with pytest.raises(SystemExit):
        parse_args(["--page-api-origins", "127.0.0.1:5001"])


PAGES = sorted(STATIC_DIR.rglob("*.html"))
SCRIPTS = sorted(STATIC_DIR.rglob("*.js"))


def test_every_page_and_script_is_checked():
    assert [p.relative_to(STATIC_DIR).as_posix() for p in PAGES] == ["index.html", "typing/index.html"]
    assert {"app.js", "portal.js", "typing/typing.js"} <= {
        p.relative_to(STATIC_DIR).as_posix() for p in SCRIPTS
    }


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(STATIC_DIR).as_posix())
def test_the_pages_have_nothing_inline(page):
    """The policy forbids inline scripts, styles and handlers; the pages must not need them."""
    html = page.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html
    assert not re.search(r"\son[a-z]+=", html)
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"https?://", html)  # no CDN, nothing from elsewhere


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(STATIC_DIR).as_posix())
async def test_what_the_pages_load_is_served_here(http_server_client, db: Db, page):
    """Every script, stylesheet and icon a page names is one of ours, and is served."""
    names = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"', page.read_text())
    assert names
    for name in names:
        assert name.startswith("/static/"), name
        reply = await send(http_server_client, "GET", name)
        assert reply.status == 200, name
        assert reply.body == (STATIC_DIR / name.removeprefix("/static/")).read_bytes()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(STATIC_DIR).as_posix())
def test_the_scripts_never_write_html(script):
    script = script.read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


async def test_a_missing_file_is_a_json_404(http_server_client, db: Db):
    reply = await send(http_server_client, "GET", "/static/nothing.js")
    assert reply.status == 404
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert reply.json == {"error": "no file at /static/nothing.js"}


@pytest.mark.parametrize(
    "path", ["/static/../server.py", "/static/%2e%2e/server.py", "/static/..%2fserver.py"]
)
async def test_nothing_outside_static_is_served(http_server_client, db: Db, path):
    reply = await send(http_server_client, "GET", path)
    assert reply.status in (403, 404)
    assert b"import" not in reply.body


@pytest.mark.parametrize("method", ["POST", "DELETE", "OPTIONS"])
async def test_only_get_and_head(http_server_client, db: Db, method):
    reply = await send(http_server_client, method, "/")
    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, HEAD"
    assert reply.json == {"error": f"{method} is not allowed on /; use GET, HEAD"}
    head = await send(http_server_client, "HEAD", "/")
    assert head.status == 200
