"""NDJSON bodies: one event per line, all-or-nothing, errors name the line."""

import httpx
import pytest
import redis

from tests.api.ingest.test_route import stream

pytestmark = pytest.mark.anyio
URL = "/v1/events/orders"
NDJSON = {"content-type": "application/x-ndjson"}


async def test_lines_become_events_in_order(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    body = b'{"event_id": "a", "payload": {"n": 1}}\n\n{"payload": {"n": 2}}\r\n'
    response = await api.post(URL, content=body, headers=NDJSON)

    assert response.status_code == 202, response.text
    assert response.json()["event_ids"][0] == "a"
    assert [event.payload for event in stream(redis_client)] == ['{"n":1}', '{"n":2}']


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b'{"payload": {}}\n\n{"payload": 3}\n', 422, "line 3: payload: Input should be"),
        (b'{"payload": {}}\n{"payload": \n', 400, "line 2 is not valid JSON"),
        (b'{"event_id": "x", "payload": {}}\n' * 2, 422, "line 2: event_id: duplicates"),
        (b"[1]\n", 422, "line 1: Input should be a valid dictionary"),
        (b'{"payload": {}}\n' * 6, 413, "6 events; the limit is 5"),
        (b"\n\n", 422, "at least one"),
    ],
)
async def test_a_bad_line_refuses_the_body(
    api: httpx.AsyncClient, redis_client: redis.Redis, body: bytes, status: int, says: str
) -> None:
    response = await api.post(URL, content=body, headers=NDJSON)
    assert response.status_code == status
    assert says in response.json()["detail"]
    assert stream(redis_client) == []
