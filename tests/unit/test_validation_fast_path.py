"""The fast path of the JSON Schema check (jsonschema_rs, handlers/validation.py) agrees with
jsonschema, the judge, on generated valid and invalid bodies for every schema in ``schemas/``."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langportal.handlers.validation import Contract, error_details, load_validators

CONTRACTS = load_validators()

# Any JSON value json.loads can produce: arbitrary integers (beyond 64 bits too), finite floats.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _near(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values at and around what a property allows: its bounds, one beyond, as floats, its enum,
    and the wrong types."""
    options: list[Any] = [None, True, False, "", "1", [], {}]
    for bound in ("minimum", "maximum"):
        if bound in spec:
            value = spec[bound]
            options += [value, value - 1, value + 1, float(value), value + 0.5, value - 0.5, str(value)]
    options += list(spec.get("enum", []))
    options += [name.upper() for name in spec.get("enum", []) if isinstance(name, str)]
    strategies = [st.sampled_from(options), json_scalars]
    if spec.get("type") == "integer":
        low, high = spec.get("minimum", -(2**31)), spec.get("maximum", 2**31)
        strategies += [st.integers(low, high), st.integers(low, high).map(float), st.integers()]
    return st.one_of(strategies)


def _allowed(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values a property allows (as far as these schemas go: integers in bounds, enums, booleans)."""
    if "enum" in spec:
        return st.sampled_from(spec["enum"])
    if spec.get("type") == "boolean":
        return st.booleans()
    if spec.get("type") == "integer":
        ints = st.integers(spec.get("minimum", -(2**63)), spec.get("maximum", 2**63))
        return ints | ints.map(float)
    return json_values


def bodies(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Valid objects; objects made of the schema's own fields (each present or not, valid or
    nearly), sometimes with an unknown field; and any JSON value at all."""
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    valid = st.fixed_dictionaries(
        {name: _allowed(spec) for name, spec in properties.items() if name in required},
        optional={name: _allowed(spec) for name, spec in properties.items() if name not in required},
    )
    fields = st.fixed_dictionaries({}, optional={name: _near(spec) for name, spec in properties.items()})
    extra = st.dictionaries(st.text(max_size=6), json_scalars, max_size=2)
    with_extra = st.tuples(fields, extra).map(lambda pair: {**pair[1], **pair[0]})
    return st.one_of(valid, fields, with_extra, json_values)


def _patterned(contract: Contract, body: Any) -> bool:
    """Whether ``body`` has a property whose value a pattern checks (the fast path leaves it)."""
    return isinstance(body, dict) and not contract.patterned.isdisjoint(body)


def _valid_examples(schema: dict[str, Any]) -> list[Any]:
    return list(schema.get("examples", []))


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_the_schemas_own_examples_pass_both(name):
    contract = CONTRACTS[name]
    assert _valid_examples(contract.schema), f"schemas/{name}.json has no examples"
    for example in _valid_examples(contract.schema):
        # no fast path, or a property with a pattern: jsonschema judges
        assert contract.accepts(example) == (contract.fast is not None and not _patterned(contract, example))
        assert contract.validator.is_valid(example)
        assert error_details(contract, example) == []


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_the_fast_path_agrees_with_jsonschema_on_generated_bodies(name):
    contract = CONTRACTS[name]
    assert contract.fast is not None, f"schemas/{name}.json has no fast path"
    seen = {True: 0, False: 0}

    @settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(bodies(contract.schema))
    def agree(body: Any) -> None:
        judged = contract.validator.is_valid(body)
        expected = judged and not _patterned(contract, body)  # a pattern: jsonschema alone
        assert contract.accepts(body) == expected, f"fast path and jsonschema disagree on {body!r}"
        details = error_details(contract, body)
        assert (details == []) == judged
        seen[judged] += 1

    agree()
    # The generator must reach both sides, or the agreement says little (review_create has only
    # two valid bodies, which hypothesis rarely repeats).
    assert seen[True] >= 8, seen
    assert seen[False] >= 100, seen


@pytest.mark.parametrize(
    "body",
    [
        {"group_id": 1.0, "study_activity_id": 2},  # an integer written as a float: valid in JSON Schema
        {"group_id": 2147483647, "study_activity_id": 1},
    ],
)
def test_integers_written_as_floats_and_the_bounds_are_accepted(body):
    assert CONTRACTS["study_session_create"].accepts(body)


@pytest.mark.parametrize(
    "body",
    [
        {"group_id": True, "study_activity_id": 1},
        {"group_id": 2147483648, "study_activity_id": 1},
        {"group_id": 10**400, "study_activity_id": 1},
        {"group_id": 1.5, "study_activity_id": 1},
        {"group_id": math.ulp(0.0), "study_activity_id": 1},
        {"group_id": 1, "study_activity_id": 1, "extra": None},
        {"group_id": 1},
        [],
    ],
)
def test_invalid_bodies_still_get_jsonschemas_messages(body):
    contract = CONTRACTS["study_session_create"]
    assert not contract.accepts(body)
    details = error_details(contract, body)
    assert details
    assert all(detail["message"] for detail in details)


def test_a_property_with_a_pattern_is_left_to_jsonschema():
    """Python's `$` also matches before a final newline, Rust's does not: jsonschema's verdict stands."""
    contract = Contract(
        {"type": "object", "properties": {"cursor": {"type": "string", "pattern": "^[a-z]+$"}}}
    )
    assert not contract.accepts({"cursor": "abc"})
    assert error_details(contract, {"cursor": "abc\n"}) == []  # as jsonschema judges it
    assert error_details(contract, {"cursor": "ABC"})
    assert error_details(contract, {"cursor": 1})


def test_a_session_page_without_a_cursor_takes_the_fast_path_and_one_with_a_cursor_does_not():
    """The cursor's pattern is checked by jsonschema alone (Python's and Rust's regular
    expressions differ); a query without a cursor is judged by the fast path."""
    contract = CONTRACTS["session_page_query"]
    assert contract.patterned == {"cursor"}
    assert contract.accepts({"per_page": 10})
    assert contract.accepts({"page": 3, "per_page": 500})
    assert not contract.accepts({"per_page": 501})
    assert not contract.accepts({"per_page": 10, "cursor": "Mn4yMDI2"})
    assert contract.is_valid({"per_page": 10, "cursor": "Mn4yMDI2"})
    assert not contract.is_valid({"per_page": 10, "cursor": "not a cursor!"})
    # Python's $ matches before a final newline; whatever jsonschema says is the answer
    assert contract.is_valid({"cursor": "Mn4y\n"}) == contract.validator.is_valid({"cursor": "Mn4y\n"})


def test_a_pattern_anywhere_but_on_a_top_level_property_leaves_the_schema_to_jsonschema():
    nested = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "additionalProperties": {"type": "string", "pattern": "^x$"},
    }
    assert Contract(nested).fast is None
    keyed = {"type": "object", "patternProperties": {"^x": {"type": "integer"}}}
    assert Contract(keyed).fast is None
    top = {
        "type": "object",
        "properties": {"a": {"type": "string", "pattern": "^x$"}, "b": {"type": "integer"}},
    }
    contract = Contract(top)
    assert contract.fast is not None
    assert contract.patterned == {"a"}
    assert contract.accepts({"b": 1})
    assert not contract.accepts({"a": "y", "b": 1})  # the pattern is not skipped: jsonschema judges
    assert not contract.is_valid({"a": "y", "b": 1})


def test_a_reference_back_to_the_root_never_skips_a_pattern():
    """A property with a pattern, reached again through a reference (``$ref: "#"``): the fast
    path must not judge it; here there is none, and jsonschema's verdict stands."""
    recursive = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "cursor": {"type": "string", "pattern": "^[a-z]+$"},
            "children": {"type": "array", "items": {"$ref": "#"}},
        },
    }
    contract = Contract(recursive)
    assert contract.fast is None
    assert not contract.is_valid({"children": [{"cursor": "NOT OK!"}]})
    assert contract.is_valid({"children": [{"cursor": "ok"}]})
    by_pointer = {
        "type": "object",
        "properties": {
            "cursor": {"type": "string", "pattern": "^[a-z]+$"},
            "other": {"$ref": "#/properties/cursor"},
        },
    }
    contract = Contract(by_pointer)
    assert contract.fast is None
    assert not contract.is_valid({"other": "NOT OK!"})
