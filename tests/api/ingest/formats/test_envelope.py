"""The envelope's one-pass check of a well-formed batch agrees with the item-by-item one."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.api.ingest.formats import envelope
from sluicegate.api.problems import ProblemError

_IDS = st.one_of(st.none(), st.text(max_size=5), st.integers(), st.just("ok-1"))
_VALUES = st.one_of(st.none(), st.integers(), st.text(max_size=3), st.just({"n": 1}), st.just([]))
_ITEMS = st.one_of(
    st.fixed_dictionaries({"payload": _VALUES}, optional={"event_id": _IDS, "extra": _VALUES}),
    _VALUES,
)


@given(st.lists(_ITEMS, min_size=1, max_size=4))
def test_the_fast_check_passes_exactly_what_the_full_check_passes(items: list[Any]) -> None:
    fast = envelope._well_formed(items)
    if fast is not None:
        assert envelope._check_items(items, envelope.batch_field) == fast
        return
    with pytest.raises(ProblemError) as refused:
        envelope._check_items(items, envelope.batch_field)
    assert refused.value.status == 422


@pytest.mark.parametrize("event_id", ["", "a b", "x" * 500, "line\n"])
def test_a_bad_id_is_named_by_the_full_check(event_id: str) -> None:
    items = [{"payload": {}}, {"event_id": event_id, "payload": {}}]
    assert envelope._well_formed(items) is None
    with pytest.raises(ProblemError, match=r"\[1\]\.event_id"):
        envelope._check_items(items, envelope.batch_field)
