"""Hostile input, generated: thousands of bodies at POST /api/study_sessions, never a 5xx.

Every answer must be the status an independent oracle expects (201, 400, 404, 413 or 415), with a
JSON body, and the table may only grow by the number of 201s. Run with ``-s`` to see the counts.
"""

from __future__ import annotations

import collections
import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..helpers import Catalog, Db, send

PATH = "/api/study_sessions"
MAX_ID = 2**31 - 1
LIMIT = 64 * 1024

SQL_AND_SCRIPT = [
    "1; DROP TABLE study_sessions; --",
    "' OR '1'='1",
    "1 UNION SELECT * FROM pg_user",
    "$1",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
    "../../etc/passwd",
    "\u0000",
    "\u202e1",
    "\uff11",  # a full-width digit one
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50)
    | st.sampled_from(SQL_AND_SCRIPT)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
ids = (
    st.integers(min_value=-3, max_value=5)
    | st.integers(min_value=MAX_ID - 2, max_value=MAX_ID + 2)
    | st.sampled_from([1.0, 2.0, 1.5, -0.0, 1e300, -1e300, 5e-324, 2.0**31, 2.0**63])
    | scalars
)
near_misses = st.fixed_dictionaries(
    {"group_id": ids, "study_activity_id": ids},
    optional={"extra": json_values, "GROUP_ID": ids, "group_id ": ids, "": json_values},
)
# Well-formed bodies with ids near the ones that exist: 201s and 404s, batched together.
plausible = st.fixed_dictionaries(
    {
        "group_id": st.integers(min_value=0, max_value=4) | st.sampled_from([1.0, 2.0]),
        "study_activity_id": st.integers(min_value=0, max_value=3),
    }
)
# Bodies as text: valid JSON, and near-JSON the encoder would never write.
raw_texts = st.one_of(
    st.builds(json.dumps, json_values | near_misses),
    st.builds(lambda v, n: "[" * n + json.dumps(v) + "]" * n, json_values, st.integers(0, 5000)),
    st.builds(lambda d: '{"group_id": ' + "9" * d + ', "study_activity_id": 1}', st.integers(1, 6000)),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", '{"group_id": 1e999, "study_activity_id": 1}']),
    st.sampled_from(['{"group_id": 1, "group_id": 1, "study_activity_id": 1}', "{", "", " ", "\ufeff{}"]),
    st.text(max_size=200),
    st.builds(
        lambda n: json.dumps({"group_id": 1, "study_activity_id": 1, "pad": "x" * n}),
        st.integers(LIMIT - 100, LIMIT + 100),
    ),
)
raw_bytes = st.binary(max_size=300) | st.builds(
    lambda t: t.encode("utf-8", "surrogatepass"), st.text(max_size=50)
)
content_types = st.sampled_from(
    ["application/json"] * 6
    + [
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "text/plain",
        "application/xml",
        "",
        "application/json; charset=utf-16",
    ]
)


def expected_for(value: object, existing_groups: set[int], existing_activities: set[int]) -> int:
    """What the contract says a JSON value deserves, worked out without the server's code."""
    if not isinstance(value, dict) or set(value) != {"group_id", "study_activity_id"}:
        return 400
    numbers = []
    for v in (value["group_id"], value["study_activity_id"]):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return 400
        if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
            return 400
        if not 1 <= v <= MAX_ID:
            return 400
        numbers.append(int(v))
    group, activity = numbers
    return 201 if group in existing_groups and activity in existing_activities else 404


def test_generated_bodies_never_get_a_5xx(io_loop, http_server_client, db: Db, catalog: Catalog):
    groups, activities = {catalog.group_id, catalog.other_group_id}, {catalog.activity_id}
    seen: collections.Counter[int] = collections.Counter()

    def post(body: bytes, content_type: str):
        headers = {"Content-Type": content_type} if content_type else {}
        return io_loop.run_sync(lambda: send(http_server_client, "POST", PATH, body, headers=headers))

    def check(body: bytes, content_type: str, expected: int | None) -> None:
        before = io_loop.run_sync(db.count_sessions)
        reply = post(body, content_type)
        seen[reply.status] += 1
        assert reply.status < 500, (body[:200], reply.body)
        assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
        answer = json.loads(reply.body)
        media = content_type.split(";")[0].strip().lower()
        charset_ok = "charset" not in content_type or "utf-8" in content_type.lower()
        if len(body) > LIMIT:
            assert reply.status == 413
        elif media != "application/json" or not charset_ok:
            assert reply.status == 415
        elif expected is not None:
            assert reply.status == expected, (body[:200], answer)
        else:
            assert reply.status in (201, 400, 404)
        if reply.status == 201:
            assert answer["study_session"]["group_id"] in groups
        else:
            assert isinstance(answer["error"], str)
            assert answer["error"]
        after = io_loop.run_sync(db.count_sessions)
        assert after - before == (1 if reply.status == 201 else 0)

    def runs(n: int) -> settings:
        return settings(
            max_examples=n,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )

    @runs(1500)
    @given(value=json_values | near_misses | plausible, content_type=content_types)
    def structured(value: object, content_type: str) -> None:
        check(json.dumps(value).encode(), content_type, expected_for(value, groups, activities))

    @runs(600)
    @given(text=raw_texts, content_type=content_types)
    def texts(text: str, content_type: str) -> None:
        try:
            value = json.loads(text)
            expected = expected_for(value, groups, activities)
        except (ValueError, RecursionError):
            expected = 400
        if (
            text.strip() in ("NaN", "Infinity", "-Infinity", "1e400")
            or "1e999" in text
            or text.count('"group_id"') > 1
        ):
            expected = 400  # json.loads takes these; the contract does not
        check(text.encode("utf-8", "surrogatepass"), content_type, expected)

    @runs(400)
    @given(body=raw_bytes, content_type=content_types)
    def binary(body: bytes, content_type: str) -> None:
        check(body, content_type, None)

    structured()
    texts()
    binary()
    print(f"\ngenerated inputs: {sum(seen.values())}; statuses: {dict(sorted(seen.items()))}")
    assert sum(seen.values()) >= 2000
    assert not any(status >= 500 for status in seen)
