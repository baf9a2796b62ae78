"""Contracts on the ingest route: every format checked in one place; reject answers 422 naming each
violation, quarantine accepts into the dead letters and keeps the accounting whole."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from sluicegate.api import create_app
from sluicegate.errors import ConfigurationError
from sluicegate.queue import keys
from sluicegate.queue.dead_letters import list_dead
from sluicegate.queue.stats import snapshot
from sluicegate.settings import Settings
from tests.api.conftest import running_api
from tests.api.contracts.orders import GOOD_ORDER, write_schemas
from tests.loading import ids_in_stream

pytestmark = pytest.mark.anyio
BAD_ORDER = {**GOOD_ORDER, "status": "lost", "total": "12"}


@pytest.fixture(params=["reject", "quarantine"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def api(
    api_settings: Settings, tmp_path: Path, mode: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = api_settings.model_copy(
        update={"schemas_file": write_schemas(tmp_path, mode), "max_event_bytes": 4096}
    )
    async with running_api(settings) as client:
        yield client


def batch(*payloads: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"event_id": f"e-{i}", "payload": p} for i, p in enumerate(payloads)]


def queued_ids(redis_client: redis.Redis, queue: str = "orders") -> list[str]:
    return ids_in_stream(redis_client, queue)


async def test_good_events_pass_in_either_mode(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    response = await api.post("/v1/events/orders-eu", json=batch(GOOD_ORDER, GOOD_ORDER))
    assert response.status_code == 202
    assert "quarantined" not in response.json()
    assert queued_ids(redis_client, "orders-eu") == ["e-0", "e-1"]


async def test_a_queue_without_a_contract_takes_anything(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    response = await api.post("/v1/events/billing", json=batch(BAD_ORDER))
    assert response.status_code == 202
    assert queued_ids(redis_client, "billing") == ["e-0"]


@pytest.mark.parametrize("mode", ["reject"], indirect=True)
async def test_reject_refuses_the_whole_batch_naming_each_violation(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    response = await api.post("/v1/events/orders", json=batch(GOOD_ORDER, BAD_ORDER, {"note": 1}))

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:sluicegate:problem:schema-violation"
    assert problem["detail"].startswith(
        "2 of 3 events break the schema orders (orders.json) of queue 'orders': "
    )
    found = {(e["index"], e["event_id"], e["pointer"]) for e in problem["errors"]}
    assert found == {
        (1, "e-1", "/status"),
        (1, "e-1", "/total"),
        (2, "e-2", ""),  # required properties are missing from the whole payload
        (2, "e-2", "/note"),
    }
    status = next(e for e in problem["errors"] if e["pointer"] == "/status")
    assert status == {
        "field": "[1]/status",
        "message": '"lost" is not one of "placed", "paid" or 2 other candidates',
        "index": 1,
        "event_id": "e-1",
        "pointer": "/status",
    }
    assert queued_ids(redis_client) == []  # all or nothing
    assert not redis_client.exists(keys.dead_letter_key("orders"))


@pytest.mark.parametrize("mode", ["quarantine"], indirect=True)
async def test_quarantine_accepts_into_the_dead_letters_with_the_violations(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    headers = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    body = batch(GOOD_ORDER, BAD_ORDER, GOOD_ORDER)
    response = await api.post("/v1/events/orders", json=body, headers=headers)

    assert response.status_code == 202
    assert response.json() == {
        "queue": "orders",
        "accepted": 3,
        "event_ids": ["e-0", "e-1", "e-2"],
        "quarantined": ["e-1"],
    }
    assert queued_ids(redis_client) == ["e-0", "e-2"]
    [letter] = list_dead(redis_client, "orders")
    assert letter.event.event_id == "e-1"
    assert letter.event.payload == orjson.dumps(BAD_ORDER).decode()
    assert letter.event.traceparent == headers["traceparent"]
    assert letter.deliveries == 0
    assert letter.reason.startswith("schema orders (orders.json): ")
    assert '/status: "lost" is not one of' in letter.reason
    assert '/total: "12" is not of type "number"' in letter.reason
    figures = snapshot(redis_client, "orders")
    assert (figures.accepted, figures.queued, figures.dead_lettered) == (3, 2, 1)
    assert figures.unaccounted == 0


async def test_violations_are_counted_per_queue_and_mode(api: httpx.AsyncClient, mode: str) -> None:
    await api.post("/v1/events/orders", json=batch(BAD_ORDER, BAD_ORDER, GOOD_ORDER))
    metrics = (await api.get("/metrics")).text
    line = f'sluicegate_api_schema_violations_total{{mode="{mode}",queue="orders"}} 2.0'
    assert line in metrics


@pytest.mark.parametrize("mode", ["reject"], indirect=True)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", orjson.dumps({"payload": BAD_ORDER})),
        ("application/x-ndjson", b'{"payload": {}}\n' + orjson.dumps({"payload": BAD_ORDER})),
    ],
)
async def test_every_format_is_held_to_the_contract(
    api: httpx.AsyncClient, content_type: str, body: bytes
) -> None:
    response = await api.post(
        "/v1/events/orders", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 422
    assert "/status" in {e["pointer"] for e in response.json()["errors"]}


@pytest.mark.parametrize("mode", ["reject"], indirect=True)
async def test_a_cloudevent_is_checked_as_it_is_stored(api: httpx.AsyncClient) -> None:
    # A CloudEvent is stored whole (attributes and data), so its contract describes that.
    event = {"specversion": "1.0", "id": "1", "source": "/shop", "type": "t", "data": BAD_ORDER}
    response = await api.post(
        "/v1/events/orders",
        content=orjson.dumps(event),
        headers={"content-type": "application/cloudevents+json"},
    )
    assert response.status_code == 422
    assert {e["event_id"] for e in response.json()["errors"]} == {"ce:/shop#1"}


async def test_a_webhook_is_checked_as_it_is_stored(
    api_settings: Settings, tmp_path: Path, redis_client: redis.Redis
) -> None:
    (tmp_path / "hook.json").write_text('{"properties": {"body": {"required": ["action"]}}}')
    schemas = tmp_path / "schemas.toml"
    schemas.write_text(
        '[schemas.hooks]\nqueues = ["gh"]\nschema = "hook.json"\nmode = "quarantine"\n'
    )
    hooks = tmp_path / "webhooks.toml"
    hooks.write_text('[webhooks.gh]\nverify = "none"\n')
    settings = api_settings.model_copy(update={"schemas_file": schemas, "webhooks_file": hooks})
    async with running_api(settings) as client:
        good = await client.post("/v1/webhooks/gh", json={"action": "opened"})
        bad = await client.post("/v1/webhooks/gh", json={"zen": "ok"})
    assert good.status_code == bad.status_code == 202
    assert "quarantined" not in good.json()
    assert bad.json()["quarantined"] == bad.json()["event_ids"]
    [letter] = list_dead(redis_client, "gh")
    assert '/body: "action" is a required property' in letter.reason


def test_a_bad_schema_stops_the_api_before_it_serves(
    api_settings: Settings, tmp_path: Path
) -> None:
    path = write_schemas(tmp_path, "reject")
    (tmp_path / "schemas" / "orders.json").write_text('{"type": "nonsense"}')
    assert api_settings.redis_url is not None
    with pytest.raises(ConfigurationError) as raised:  # serve() logs it and exits 2
        create_app(api_settings.model_copy(update={"schemas_file": path}), api_settings.redis_url)
    message = str(raised.value)
    assert message.startswith(f"SCHEMAS_FILE {path}: [schemas.orders]: schema ")
    assert "orders.json" in message
    assert "\n" not in message
