"""The answers' JSON (handlers/answers.py): orjson, with the json module for what orjson refuses;
timestamps in ``datetime.isoformat()``'s text whichever writes them."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from langportal.handlers.answers import encode_json
from langportal.handlers.words import word_json

UTC = dt.UTC


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2026, 11, 27, 1, 54, 55, 123456, tzinfo=UTC),
        dt.datetime(2026, 11, 27, 1, 54, 55, tzinfo=UTC),  # no fraction when the microseconds are 0
        dt.datetime(2026, 11, 27, 1, 54, 55, 100000, tzinfo=UTC),  # six digits, trailing zeros kept
        dt.datetime(1, 1, 1, tzinfo=UTC),
        dt.datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        dt.datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    ],
)
def test_a_timestamp_is_written_as_isoformat_writes_it(moment):
    assert (
        encode_json({"created_at": moment})
        == json.dumps({"created_at": moment.isoformat()}).replace(" ", "").encode()
    )


@given(st.datetimes(timezones=st.just(UTC)))
def test_any_timestamp_is_written_as_isoformat_writes_it(moment):
    assert json.loads(encode_json([moment])) == [moment.isoformat()]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # orjson refuses these; the json module writes them
        ({"name": "a\ud800b"}, b'{"name":"a\\ud800b"}'),  # a lone surrogate: its JSON escape
        ({"n": 2**64}, b'{"n":18446744073709551616}'),
        ({1: "one"}, b'{"1":"one"}'),
        # with a timestamp beside what orjson refuses
        (
            {"at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "name": "\udfff"},
            b'{"at":"2026-01-02T03:04:05+00:00","name":"\\udfff"}',
        ),
    ],
)
def test_what_orjson_refuses_is_written_by_the_json_module(payload, expected):
    assert encode_json(payload) == expected


def test_the_same_bytes_as_the_json_module_for_an_answer_of_every_kind():
    """Compact, UTF-8 (kanji as they are), the keys in their order, the same escapes."""
    rng = random.Random(7)
    page = {
        "items": [
            {
                "id": rng.randint(1, 2**31 - 1),
                "japanese": "食べる",
                "romaji": 'taberu\n\t"quoted" \\ \x01 \x7f \u2028',
                "correct_count": rng.randint(0, 10**6),
                "success_rate": rng.choice([None, 66.7, 100.0, 0.1]),
                "flag": rng.choice([True, False]),
            }
            for _ in range(50)
        ],
        "pagination": {"current_page": 1, "total_pages": 2, "total_items": 51, "items_per_page": 50},
    }
    reference = json.dumps(page, ensure_ascii=False, separators=(",", ":")).encode()
    assert encode_json(page) == reference


def test_a_number_in_a_words_parts_no_float_can_hold_is_an_error_not_null():
    """orjson writes an infinity as null: a word's parts (jsonb, any JSON) are read with a check."""
    row = {"id": 1, "kanji": "食べる", "romaji": "taberu", "english": "to eat", "correct_count": 0}
    row["wrong_count"] = 0
    assert json.loads(encode_json(word_json({**row, "parts": '[{"n": 0.5}, 1e-5, 7]'})))["parts"] == [
        {"n": 0.5},
        1e-5,
        7,
    ]
    with pytest.raises(ValueError, match="out of range"):
        word_json({**row, "parts": "[1e400]"})


def test_dates_and_times_are_written_alike_by_both_encoders():
    moment = dt.datetime(2026, 11, 27, 1, 2, 3, 4, tzinfo=UTC)
    payload = {"day": moment.date(), "time": moment.time(), "at": moment}
    expected = b'{"day":"2026-11-27","time":"01:02:03.000004","at":"2026-11-27T01:02:03.000004+00:00"}'
    assert encode_json(payload) == expected
    assert encode_json({**payload, "name": "\ud800"}) == expected[:-1] + b',"name":"\\ud800"}'  # json module
