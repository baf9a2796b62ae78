"""Which traceparent headers are kept with an event (W3C Trace Context level 1)."""

import pytest

from sluicegate.api.ingest.trace_context import valid_traceparent

GOOD = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    "value",
    [GOOD, f" {GOOD} ", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future-field"],
)
def test_a_valid_header_is_kept(value: str) -> None:
    assert valid_traceparent(value) == value.strip()


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        GOOD.upper(),  # lower-case hex only
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff is invalid
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
        f"{GOOD}-extra",  # version 00 has exactly four fields
    ],
)
def test_an_invalid_header_is_ignored(value: str | None) -> None:
    assert valid_traceparent(value) is None
