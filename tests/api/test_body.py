"""Content-Type and Content-Length checks, before any byte of the body is read."""

import pytest

from sluicegate.api.body import check_content_type, check_declared_length
from sluicegate.api.problems import ProblemError


@pytest.mark.parametrize(
    "value",
    [
        "application/json",
        "application/json;charset=UTF-8",
        "application/vnd.acme.event+json",
        " Application/JSON ",
    ],
)
def test_json_media_types_pass(value: str) -> None:
    check_content_type(value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "text/json",
        "application/jsonx",
        "application/x-www-form-urlencoded",
        "text/plain+json",
    ],
)
def test_other_media_types_are_415(value: str | None) -> None:
    with pytest.raises(ProblemError) as caught:
        check_content_type(value)
    assert caught.value.status == 415


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
