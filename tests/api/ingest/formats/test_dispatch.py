"""Which adapter reads a body: chosen by Content-Type (and ce-specversion), else 415."""

import pytest

from sluicegate.api.ingest.formats import cloudevents, envelope, ndjson
from sluicegate.api.ingest.formats.dispatch import adapter_for
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
    adapter_for({} if value is None else {"content-type": value})


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
        adapter_for({} if value is None else {"content-type": value})
    assert caught.value.status == 415


@pytest.mark.parametrize(
    ("headers", "adapter"),
    [
        ({"content-type": "application/json"}, envelope.parse_request),
        ({"content-type": "application/x-ndjson"}, ndjson.parse),
        ({"content-type": "application/cloudevents+json"}, cloudevents.structured),
        ({"content-type": "application/cloudevents-batch+json"}, cloudevents.batch),
        ({"content-type": "text/plain", "ce-specversion": "1.0"}, cloudevents.binary),
        ({"ce-specversion": "1.0"}, cloudevents.binary),
    ],
)
def test_each_format_has_its_adapter(headers: dict[str, str], adapter: object) -> None:
    assert adapter_for(headers) is adapter
