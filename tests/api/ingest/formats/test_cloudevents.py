"""CloudEvents 1.0 over HTTP: the three modes, required attributes, dedup on (source, id)."""

import base64

import httpx
import orjson
import pytest
import redis

from sluicegate.api.ingest.formats.ids import scoped_id
from tests.api.ingest.test_route import stream

pytestmark = pytest.mark.anyio
URL = "/v1/events/orders"
STRUCTURED = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}


def cloud_event(number: int, source: str = "/shop", **extra: object) -> dict[str, object]:
    return {"specversion": "1.0", "id": f"e-{number}", "source": source, "type": "order", **extra}


async def test_structured_event_is_stored_whole(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    event = cloud_event(1, subject="o-1", traceparent="00-ab", data={"total": 2})
    response = await api.post(URL, content=orjson.dumps(event), headers=STRUCTURED)

    assert response.status_code == 202, response.text
    assert response.json()["event_ids"] == ["ce:/shop#e-1"]
    [stored] = stream(redis_client)
    assert orjson.loads(stored.payload) == event


async def test_the_pair_source_id_is_the_identity(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    """Same id from two sources: two events; the same pair again: the same event id."""
    batch = [cloud_event(1, "/a"), cloud_event(1, "/b")]
    first = await api.post(URL, content=orjson.dumps(batch), headers=BATCH)
    again = await api.post(URL, content=orjson.dumps(batch[0]), headers=STRUCTURED)

    assert first.json()["event_ids"] == ["ce:/a#e-1", "ce:/b#e-1"]
    assert again.json()["event_ids"] == ["ce:/a#e-1"]  # a retry: one row downstream
    duplicate = await api.post(URL, content=orjson.dumps([batch[0]] * 2), headers=BATCH)
    assert duplicate.status_code == 422
    assert "[1].id: duplicates the source and id of [0]" in duplicate.json()["detail"]


async def test_a_batch_with_one_bad_event_stores_nothing(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    bad = {"specversion": "0.3", "id": "", "source": "/shop"}
    batch = [cloud_event(0), bad, cloud_event(2)]
    response = await api.post(URL, content=orjson.dumps(batch), headers=BATCH)

    assert response.status_code == 422
    fields = {error["field"]: error["message"] for error in response.json()["errors"]}
    assert fields == {
        "[1].specversion": "must be '1.0'",
        "[1].id": "must be a non-empty string",
        "[1].type": "Field required",
    }
    assert stream(redis_client) == []


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"specversion": "1.0", "source": "/s", "type": "t"}, "id"),
        ({"specversion": "1.0", "id": "1", "type": "t"}, "source"),
        ({"id": "1", "source": "/s", "type": "t"}, "specversion"),
        ({**cloud_event(1), "Bad_Name": "x"}, "Bad_Name"),
        ({**cloud_event(1), "ext": {"nested": 1}}, "ext"),
        ({**cloud_event(1), "data": 1, "data_base64": "AA=="}, "data_base64"),
        ({**cloud_event(1), "time": "2018-04-05"}, "time"),  # a date is not a timestamp
        ({**cloud_event(1), "time": "2018-04-05T17:31:00"}, "time"),  # no offset
        ({**cloud_event(1), "time": "2018-04-05T25:31:00Z"}, "time"),  # no such hour
    ],
)
async def test_a_bad_attribute_is_named(
    api: httpx.AsyncClient, event: dict[str, object], field: str
) -> None:
    response = await api.post(URL, content=orjson.dumps(event), headers=STRUCTURED)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


@pytest.mark.parametrize(
    "time", ["2018-04-05T17:31:00Z", "2018-04-05t17:31:00.123456z", "2018-04-05T17:31:00+02:00"]
)
async def test_rfc3339_times_are_accepted(api: httpx.AsyncClient, time: str) -> None:
    event = cloud_event(1, time=time)
    response = await api.post(URL, content=orjson.dumps(event), headers=STRUCTURED)
    assert response.status_code == 202


async def test_data_base64_is_kept_as_sent(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    event = cloud_event(1, data_base64="AAEC/w==", datacontenttype="application/octet-stream")
    await api.post(URL, content=orjson.dumps(event), headers=STRUCTURED)
    assert orjson.loads(stream(redis_client)[0].payload)["data_base64"] == "AAEC/w=="


async def test_binary_mode_percent_decodes_headers_and_keeps_the_body(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "42",
        "ce-source": "/caf%C3%A9%20bar",  # "/café bar", as the binding's example encodes it
        "ce-type": "com.example.%22quoted%22",
        "ce-comexampleextension": "value",
        "content-type": "application/json",
    }
    response = await api.post(URL, content=b'{"big": 12345678901234567890123}', headers=headers)

    assert response.status_code == 202, response.text
    assert response.json()["event_ids"] == [scoped_id("ce", "/café bar", "42")]
    stored = orjson.loads(stream(redis_client)[0].payload)
    assert stored["source"] == "/café bar"
    assert stored["type"] == 'com.example."quoted"'
    assert stored["comexampleextension"] == "value"
    assert stored["datacontenttype"] == "application/json"
    assert '"data":{"big":12345678901234567890123}' in stream(redis_client)[0].payload


@pytest.mark.parametrize(
    ("content_type", "body", "stored"),
    [
        ("text/plain; charset=utf-8", "héllo".encode(), {"data": "héllo"}),
        ("application/octet-stream", b"\x00\xff", {"data_base64": base64.b64encode(b"\x00\xff")}),
    ],
)
async def test_binary_mode_data_that_is_not_json(
    api: httpx.AsyncClient,
    redis_client: redis.Redis,
    content_type: str,
    body: bytes,
    stored: dict[str, object],
) -> None:
    headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}
    response = await api.post(URL, content=body, headers={**headers, "content-type": content_type})
    assert response.status_code == 202, response.text
    payload = orjson.loads(stream(redis_client)[0].payload)
    expected = {k: v.decode() if isinstance(v, bytes) else v for k, v in stored.items()}
    assert {k: payload[k] for k in expected} == expected


async def test_binary_mode_names_the_missing_header(api: httpx.AsyncClient) -> None:
    headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s"}
    response = await api.post(URL, content=b"{}", headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"] == "ce-type: Field required"


async def test_an_empty_batch_is_accepted_as_nothing(api: httpx.AsyncClient) -> None:
    response = await api.post(URL, content=b"[]", headers=BATCH)
    assert response.status_code == 202
    assert response.json() == {"queue": "orders", "accepted": 0, "event_ids": []}
