"""Pagination of the list endpoints: pages by number (``?page=``), pages after a cursor
(``?cursor=``, session lists), and the ``pagination`` object of every list answer.

A list statement returns at least one row: ``total_items`` on every row and the item's columns,
all NULL (``id`` included) when the page is empty (see ``sql/queries/study_sessions.sql``).

Session lists also take ``?cursor=``: the opaque token of the last session of a page, given back
as ``pagination.next_cursor``. The next page is then read from that session on along the index
(keyset pagination), which costs the same at any depth. The token carries the page number it
leads to, so ``current_page`` stays meaningful, and the (created_at, id) of the session it follows.
Deep into the list of every session, ``?page=N`` does not skip index entries one by one either:
the database finds where page N starts from its counts of sessions per stretch of time
(migration 0008; :data:`DEEP_OFFSET`).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import math
import re
from collections.abc import Callable
from typing import Any

from .base import MAX_INT32, APIError

# From the top of the list: every session comes before ('infinity', MAX_INT32).
NO_CURSOR = (datetime.datetime.max.replace(tzinfo=datetime.UTC), MAX_INT32)
_CURSOR = re.compile(r"^([1-9][0-9]{0,9})~([0-9T:.+-]{19,40})~([1-9][0-9]{0,9})$")


def limit_offset(params: dict[str, Any]) -> tuple[int, int]:
    """LIMIT and OFFSET for ``params["page"]`` and ``params["per_page"]``."""
    return params["per_page"], (params["page"] - 1) * params["per_page"]


def page_of(rows: list[Any], params: dict[str, Any], item: Callable[[Any], Any]) -> dict[str, Any]:
    """``{"items", "pagination"}`` from the rows of a list query; ``item`` turns one row into JSON."""
    per_page = params["per_page"]
    total = rows[0]["total_items"] if rows else 0
    return {
        "items": [item(row) for row in rows if row["id"] is not None],
        "pagination": {
            "current_page": params["page"],
            "total_pages": math.ceil(total / per_page),
            "total_items": total,
            "items_per_page": per_page,
        },
    }


def encode_cursor(page: int, created_at: datetime.datetime, session_id: int) -> str:
    text = f"{page}~{created_at.isoformat()}~{session_id}"
    return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")


def _bad_cursor() -> APIError:
    # 422, not 400: the token has a cursor's form (the schema checked it), but this server did
    # not give it, so it cannot say where a page starts.
    return APIError(
        422,
        "cursor is not a cursor this server gave; send the next_cursor of a previous page's "
        "pagination unchanged, or leave cursor out to start from the first page",
        details=[{"field": "cursor", "message": "not a cursor this server gave"}],
    )


def decode_cursor(token: str) -> tuple[int, datetime.datetime, int]:
    """The page number, created_at and id a cursor carries; 400 for anything else."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise _bad_cursor() from None
    match = _CURSOR.match(text)
    if match is None:
        raise _bad_cursor()
    page, session_id = int(match[1]), int(match[3])
    try:
        created_at = datetime.datetime.fromisoformat(match[2])
        if created_at.tzinfo is None:
            raise _bad_cursor()
        # in UTC, as the server writes them: a time near year 1 or 9999 whose offset takes it
        # out of the range of a datetime is no cursor either (its encoding would fail later)
        created_at = created_at.astimezone(datetime.UTC)
    except (ValueError, OverflowError):
        raise _bad_cursor() from None
    if page > MAX_INT32 or session_id > MAX_INT32:
        raise _bad_cursor()
    return page, created_at, session_id


def session_window(params: dict[str, Any], page_given: bool) -> tuple[int, int, datetime.datetime, int]:
    """LIMIT, OFFSET and the cursor (created_at, id) of a session list, from ``page``/``per_page``
    or ``cursor`` (not both: 422, since each is valid alone). With a cursor, ``params["page"]``
    becomes the page it leads to."""
    token = params.get("cursor")
    if token is None:
        return (*limit_offset(params), *NO_CURSOR)
    if page_given:
        raise APIError(
            422,
            "send either page or cursor, not both: cursor already says where the page starts",
            details=[{"field": "page", "message": "not allowed together with cursor"}],
        )
    page, created_at, session_id = decode_cursor(token)
    params["page"] = page
    return params["per_page"], 0, created_at, session_id


# From this many sessions down, a page of the list of every session is found from the counts of
# sessions per stretch of time (``<query>_deep``: about half a millisecond, at any depth) instead
# of an OFFSET walk (about 70 ns a session skipped): the two cost the same near 7,000.
DEEP_OFFSET = 10_000


def session_statement(
    query: str, window: tuple[int, int, datetime.datetime, int], *, counted_by_stretch: bool = False
) -> tuple[str, tuple[Any, ...]]:
    """The named statement and its page arguments for a session list ``query`` and a
    :func:`session_window`: ``<query>_from`` (LIMIT and the cursor) when the page starts at the
    newest session or at a cursor; ``<query>_deep`` (LIMIT, and how many sessions down the page
    starts) from :data:`DEEP_OFFSET` down on a list ``counted_by_stretch`` (migration 0008: the
    list of every session); else ``query`` (LIMIT and OFFSET). See sql/queries/study_sessions.sql."""
    per_page, offset, created_at, session_id = window
    limit = per_page + 1  # one session more than the page: whether a page follows (session_page_of)
    if offset == 0:
        return f"{query}_from", (limit, created_at, session_id)
    if counted_by_stretch and offset >= DEEP_OFFSET:
        return f"{query}_deep", (limit, offset)
    return query, (limit, offset)


def session_page_of(rows: list[Any], params: dict[str, Any], item: Callable[[Any], Any]) -> dict[str, Any]:
    """:func:`page_of` plus ``next_cursor``: the token for the page after this one, or null when
    this page is the last. ``rows`` come from :func:`session_statement`, which asks for one
    session more than the page: that one, when there is one, says a page follows (the session
    after it may be older than any page number or total suggests, once sessions were added or
    deleted since the cursor was given); it is not listed."""
    per_page = params["per_page"]
    more = len(rows) > per_page
    answer = page_of(rows[:per_page], params, item)
    next_cursor = None
    if more:
        last = rows[per_page - 1]
        # a page number past 2147483647 (after a cursor of the last one) is no cursor's: it stays
        next_cursor = encode_cursor(min(params["page"] + 1, MAX_INT32), last["created_at"], last["id"])
    answer["pagination"]["next_cursor"] = next_cursor
    return answer
