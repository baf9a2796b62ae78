"""The Content-Length check, before any byte of the body is read."""

import pytest

from sluicegate.api.ingest.body import check_declared_length
from sluicegate.api.problems import ProblemError


def test_declared_length_over_the_cap_is_413() -> None:
    check_declared_length("1024", 1024)
    check_declared_length(None, 1024)
    with pytest.raises(ProblemError) as caught:
        check_declared_length("1025", 1024)
    assert caught.value.status == 413


def test_unreadable_length_is_400() -> None:
    with pytest.raises(ProblemError) as caught:
        check_declared_length("lots", 1024)
    assert caught.value.status == 400
