"""Scoped ids: valid event ids, one-to-one, stable, hashed when long."""

import re

from hypothesis import given
from hypothesis import strategies as st

from sluicegate.api.ingest.formats.ids import scoped_id
from sluicegate.api.ingest.rules import EVENT_ID_PATTERN

_VALID = re.compile(EVENT_ID_PATTERN)
text = st.text(min_size=1, max_size=120)


def test_readable_when_short_and_hashed_when_long() -> None:
    assert (
        scoped_id("ce", "https://github.com/x/y", "A 1#2") == "ce:https://github.com/x/y#A%201%232"
    )
    long = scoped_id("ce", "/s" * 100, "1")
    assert long.startswith("ce:sha256:")
    assert len(long) == 10 + 64


@given(text, text)
def test_every_scoped_id_is_a_valid_event_id(scope: str, local: str) -> None:
    assert _VALID.fullmatch(scoped_id("ce", scope, local))


@given(text, text, text, text)
def test_different_pairs_never_share_an_id(a: str, b: str, c: str, d: str) -> None:
    assert (scoped_id("ce", a, b) == scoped_id("ce", c, d)) == ((a, b) == (c, d))
