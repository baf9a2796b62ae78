"""Payload JSON survives the trip exactly, whichever parser path it takes."""

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sluicegate.api.ingest import jsontext

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60)
@given(st.dictionaries(st.text(st.characters(exclude_categories=("Cs",))), json_values))
def test_round_trip_is_exact(payload: dict[str, Any]) -> None:
    raw = json.dumps(payload).encode()
    value, exact = jsontext.loads(raw)
    assert value == payload
    assert json.loads(jsontext.dumps(value, exact)) == payload


def test_big_integers_take_the_exact_path() -> None:
    value, exact = jsontext.loads(b'{"n": 99999999999999999999}')
    assert exact
    assert jsontext.dumps(value, exact) == '{"n":99999999999999999999}'


def test_ordinary_bodies_take_the_fast_path() -> None:
    _, exact = jsontext.loads(b'{"n": 12, "s": "short"}')
    assert not exact
