"""The launch page and the study activities served with it: plain files from ``static/`` at ``/``
(index.html) and ``/static/...``; a folder's address serves its index.html (``/static/typing/``,
the Typing Tutor), and the address without the final slash is redirected there, query kept.

The page is not part of the API: no CORS, no request counting. Its answers carry a strict
Content-Security-Policy (scripts, styles and images from this origin only, nothing inline) whose
``connect-src`` is this origin plus the API origins given to :func:`page_routes` (the application's
``page_api_origins``, ``--page-api-origins``), for a page pointed at an API elsewhere with ``?api=``.
Errors (a missing file, a method other than GET/HEAD) are JSON, like every other error here.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Iterable, Sequence
from http.client import responses
from pathlib import Path
from typing import Any

import tornado.web

STATIC_DIR = Path(str(importlib.resources.files("langportal.static")))
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml; charset=utf-8",
    ".png": "image/png",
}


def content_security_policy(api_origins: Iterable[str] = ()) -> str:
    connect = " ".join(["'self'", *api_origins])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


class PageHandler(tornado.web.StaticFileHandler):
    _api_origins: tuple[str, ...] = ()

    def initialize(
        self,
        path: str,
        default_filename: str | None = None,
        allowed_symlink_directory: str | list[str] | None = None,
        *,
        api_origins: Sequence[str] = (),
    ) -> None:
        # Tornado's own third parameter (6.6) is passed on only when given: 6.4 and 6.5 lack it.
        if allowed_symlink_directory is None:
            super().initialize(path, default_filename)
        else:
            super().initialize(path, default_filename, allowed_symlink_directory)  # type: ignore[call-arg,unused-ignore]
        self._api_origins = tuple(api_origins)
        # set_default_headers first ran before initialize (tornado calls it from __init__)
        self.set_header("Content-Security-Policy", content_security_policy(self._api_origins))

    def set_default_headers(self) -> None:
        # Also runs again when an error clears the response, so errors carry these too.
        self.clear_header("Server")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", content_security_policy(self._api_origins))
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Cache-Control", "no-cache")  # revalidate (ETag), so an update shows at once

    @classmethod
    def get_cache_time(cls, path: str, modified: Any, mime_type: str) -> int:
        return 0  # no long caching: the files have no version in their names

    def get_content_type(self) -> str:
        # Fixed types, not the machine's mime.types, and a charset: the files are UTF-8.
        assert self.absolute_path is not None  # set by get() before it asks for the type
        suffix = Path(self.absolute_path).suffix.lower()
        return _CONTENT_TYPES.get(suffix) or super().get_content_type()

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        # StaticFileHandler redirects /static/typing to /static/typing/ but drops the query, which
        # is where an activity is told its group_id and session_id: keep it.
        if self.request.query and "?" not in url:
            url = f"{url}?{self.request.query}"
        super().redirect(url, permanent, status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        if status_code == 404:
            message = f"no file at {self.request.path}"
        elif status_code == 405:
            self.set_header("Allow", "GET, HEAD")
            message = f"{self.request.method} is not allowed on {self.request.path}; use GET, HEAD"
        else:
            message = responses.get(status_code, "request failed").lower()
        self.finish(json.dumps({"error": message}))


def page_routes(
    static_dir: Path = STATIC_DIR, *, api_origins: Sequence[str] = ()
) -> list[tuple[str, type[PageHandler], dict[str, Any]]]:
    """The page's routes; ``api_origins``: the API origins besides its own the page may call."""
    origins = tuple(api_origins)
    return [
        (
            r"/()",
            PageHandler,
            {"path": str(static_dir), "default_filename": "index.html", "api_origins": origins},
        ),
        (
            r"/static/(.+)",
            PageHandler,
            {"path": str(static_dir), "default_filename": "index.html", "api_origins": origins},
        ),
    ]
