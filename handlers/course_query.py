"""The query strings of the course frontend's routes (course.py), read as the course's Flask
template reads them: leniently. A page, page size, sort column or direction that is missing or not
understood falls back to its default, never a 400:

- ``page``: an integer from 1; less than 1 counts as 1, more than 2147483647 as 2147483647, and
  anything else (``abc``, ``1.5``, empty) as 1;
- ``per_page`` (the ``/api/study-sessions`` and ``/api/study-activities`` lists): 1 to 500; more
  than 500 counts as 500, anything else as the default (10);
- ``sort_by``: one of the route's columns (``sorts``), else its default column;
- ``order``: ``asc`` or ``desc``, else the route's default direction.

Given twice, a parameter's first value counts (Flask's ``request.args.get``). Unknown parameters
are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tornado import httputil

from .base import MAX_INT32

MAX_PER_PAGE = 500
_DIGITS = frozenset("0123456789")


@dataclass(frozen=True)
class CoursePage:
    page: int
    per_page: int
    sort_by: str
    descending: bool

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def total_pages(self, total: int) -> int:
        return -(-total // self.per_page)


def _first(request: httputil.HTTPServerRequest, name: str) -> str | None:
    values = request.query_arguments.get(name)
    if not values:
        return None
    try:
        return values[0].decode("utf-8").strip()
    except UnicodeDecodeError:
        return None


def _integer(text: str | None) -> int | None:
    """A decimal integer (with an optional sign), or None."""
    if text is None:
        return None
    digits = text[1:] if text[:1] in ("-", "+") else text
    if not digits or len(digits) > 30 or not set(digits) <= _DIGITS:
        return None
    return int(text)


def course_page(
    request: httputil.HTTPServerRequest,
    *,
    per_page: int,
    sorts: Mapping[str, str] | None = None,
    default_sort: str = "",
    descending: bool = False,
    per_page_param: bool = False,
) -> CoursePage:
    """The page asked for: ``per_page`` is the route's page size, read from the query only when
    ``per_page_param``; ``sorts`` maps each ``sort_by`` the route understands to its column."""
    page = _integer(_first(request, "page"))
    page = 1 if page is None else min(max(page, 1), MAX_INT32)
    if per_page_param:
        asked = _integer(_first(request, "per_page"))
        if asked is not None and asked >= 1:
            per_page = min(asked, MAX_PER_PAGE)
    sort_by = default_sort
    if sorts:
        sort_by = sorts.get(_first(request, "sort_by") or "", default_sort)
    order = _first(request, "order")
    if order in ("asc", "desc"):
        descending = order == "desc"
    return CoursePage(page=page, per_page=per_page, sort_by=sort_by, descending=descending)
