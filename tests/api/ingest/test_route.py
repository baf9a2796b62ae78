"""The ingest endpoint's happy paths and its answers under backpressure and Redis outages."""

import uuid

import httpx
import orjson
import pytest
import redis

from sluicegate.embedded.server import EmbeddedServer
from sluicegate.events import Event
from sluicegate.queue import keys
from sluicegate.queue.stats import snapshot
from sluicegate.settings import Settings
from tests.api.conftest import running_api
from tests.loading import events_in_stream
from tests.waiting import eventually

pytestmark = pytest.mark.anyio
URL = "/v1/events/orders"


def stream(redis_client: redis.Redis, queue: str = "orders") -> list[Event]:
    return events_in_stream(redis_client, queue)


def assert_uuid7(value: str) -> None:
    parsed = uuid.UUID(value)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


async def test_single_event_is_queued_as_sent(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    response = await api.post(URL, json={"event_id": "order-1", "payload": {"b": [1, 2], "a": "é"}})

    assert response.status_code == 202
    assert response.json() == {"queue": "orders", "accepted": 1, "event_ids": ["order-1"]}
    [stored] = stream(redis_client)
    assert stored.event_id == "order-1"
    assert stored.payload == '{"b":[1,2],"a":"é"}'  # compact JSON, key order kept
    assert stored.accepted_at_ms > 1_700_000_000_000
    assert redis_client.sismember(keys.QUEUES_SET, "orders")


@pytest.mark.parametrize(
    ("header", "stored"),
    [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", True),
        ("00-not-a-trace-01", False),  # ignored, never refused
    ],
)
async def test_the_requests_traceparent_travels_with_its_events(
    api: httpx.AsyncClient, redis_client: redis.Redis, header: str, stored: bool
) -> None:
    events = [{"payload": {"n": 1}}, {"payload": {"n": 2}}]
    response = await api.post(URL, json=events, headers={"traceparent": header})
    assert response.status_code == 202
    expected = header if stored else None
    assert [event.traceparent for event in stream(redis_client)] == [expected, expected]


async def test_missing_event_id_gets_a_uuid7(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    response = await api.post(URL, json={"payload": {}})

    [event_id] = response.json()["event_ids"]
    assert_uuid7(event_id)
    assert [event.event_id for event in stream(redis_client)] == [event_id]


async def test_idempotency_key_names_the_event(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    response = await api.post(
        URL, json={"payload": {"x": 1}}, headers={"Idempotency-Key": "key-42"}
    )

    assert response.json()["event_ids"] == ["key-42"]
    assert [event.event_id for event in stream(redis_client)] == ["key-42"]


async def test_idempotency_key_may_repeat_the_event_id(api: httpx.AsyncClient) -> None:
    response = await api.post(
        URL, json={"event_id": "same", "payload": {}}, headers={"Idempotency-Key": "same"}
    )
    assert response.json()["event_ids"] == ["same"]


async def test_batch_is_queued_in_order(api: httpx.AsyncClient, redis_client: redis.Redis) -> None:
    batch = [
        {"event_id": "b0", "payload": {"i": 0}},
        {"payload": {"i": 1}},
        {"event_id": "b2", "payload": {"i": 2}},
    ]

    response = await api.post(URL, json=batch)

    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 3
    assert body["event_ids"][0] == "b0"
    assert body["event_ids"][2] == "b2"
    assert_uuid7(body["event_ids"][1])
    stored = stream(redis_client)
    assert [event.event_id for event in stored] == body["event_ids"]
    assert [orjson.loads(event.payload) for event in stored] == [item["payload"] for item in batch]
    assert len({event.accepted_at_ms for event in stored}) == 1


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "application/vnd.acme.event+json", "APPLICATION/JSON"],
)
async def test_json_media_types_are_accepted(api: httpx.AsyncClient, content_type: str) -> None:
    response = await api.post(
        URL, content=b'{"payload": {}}', headers={"content-type": content_type}
    )
    assert response.status_code == 202


async def test_integers_beyond_64_bits_are_kept_exactly(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    body = b'{"payload": {"big": 123456789012345678901234567890, "f": 0.5, "s": "\\u00e9"}}'
    response = await api.post(URL, content=body, headers={"content-type": "application/json"})

    assert response.status_code == 202
    [stored] = stream(redis_client)
    assert stored.payload == '{"big":123456789012345678901234567890,"f":0.5,"s":"é"}'


async def test_full_queue_answers_429(api_settings: Settings, redis_client: redis.Redis) -> None:
    async with running_api(api_settings.model_copy(update={"queue_max_depth": 2})) as api:
        assert (await api.post(URL, json=[{"payload": {}}, {"payload": {}}])).status_code == 202

        response = await api.post(URL, json={"payload": {}})

    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    assert "orders" in response.json()["detail"]
    assert snapshot(redis_client, "orders").queued == 2  # events, however many entries


async def test_redis_down_answers_503_then_recovers(
    api: httpx.AsyncClient, redis_server: EmbeddedServer, redis_client: redis.Redis
) -> None:
    assert (await api.post(URL, json={"event_id": "before", "payload": {}})).status_code == 202
    redis_server.kill()

    response = await api.post(URL, json={"event_id": "during", "payload": {}})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    assert (await api.get("/readyz")).status_code == 503

    redis_server.start()

    async def accepted() -> bool:
        reply = await api.post(URL, json={"event_id": "after", "payload": {}})
        return reply.status_code == 202

    await eventually(accepted, message="a 202 after Redis restarted")
    assert (await api.get("/readyz")).status_code == 200
    ids = [event.event_id for event in stream(redis_client)]
    assert ids[0] == "before"  # survived the SIGKILL: appendfsync always + WAITAOF
    assert "after" in ids


async def test_redis_away_at_startup_is_not_fatal(
    api_settings: Settings, redis_server: EmbeddedServer
) -> None:
    redis_server.kill()
    async with running_api(api_settings) as api:
        assert (await api.get("/livez")).status_code == 200
        assert (await api.get("/readyz")).status_code == 503
        assert (await api.post(URL, json={"payload": {}})).status_code == 503

        redis_server.start()

        async def ready() -> bool:
            return (await api.get("/readyz")).status_code == 200

        await eventually(ready, message="readyz after Redis started")
        assert (await api.post(URL, json={"payload": {}})).status_code == 202
