"""GET /v1/queues: where every accepted event is, and the conservation line, counted exactly."""

from pathlib import Path

import httpx
import pytest

from sluicegate.queue.lock import Lock, new_lock_entry
from sluicegate.queue.reader import QueueReader
from sluicegate.settings import Settings
from tests.api.auth.test_bearer import BILLING, WEB, bearer, tokens_file
from tests.api.conftest import running_api

pytestmark = pytest.mark.anyio
BATCH = [{"payload": {"n": n}} for n in range(5)]


async def test_every_accepted_event_is_accounted_for_at_every_step(api, redis_client) -> None:
    for event in BATCH:  # one entry each: the reader below takes them one by one
        assert (await api.post("/v1/events/orders", json=event)).status_code == 202
    reader = QueueReader(redis_client, "orders", "c1")
    first_two = reader.read_new(2, block_ms=10)
    view = (await api.get("/v1/queues/orders")).json()
    assert (view["accepted"], view["queued"], view["in_flight"], view["persisted"]) == (5, 3, 2, 0)
    assert view["conservation"]["holds"]
    assert view["lag_s"] >= 0
    reader.ack(first_two, persisted=1, duplicates=1)  # one row new, one redelivery absorbed
    [poison] = reader.read_new(1, block_ms=10)
    reader.dead_letter(poison, "refused", deliveries=5)
    lock = Lock(redis_client, new_lock_entry("orders"), ttl_s=30)
    assert lock.acquire()
    view = (await api.get("/v1/queues/orders")).json()
    assert view["persisted"] == 2
    assert view["redeliveries_absorbed"] == 1
    assert (view["queued"], view["in_flight"], view["dead"]) == (2, 0, 1)
    assert view["conservation"] == {
        "holds": True,
        "unaccounted": 0,
        "equation": "accepted = persisted + queued + in_flight + dead",
    }
    assert [c["pid"] for c in view["consumers"]] == [lock.entry.pid]
    listing = (await api.get("/v1/queues")).json()
    assert [q["queue"] for q in listing["queues"]] == ["orders"]
    assert listing["total"]["accepted"] == 5
    assert listing["total"]["conservation"]["holds"]


async def test_an_event_that_vanished_breaks_the_line(api, redis_client) -> None:
    await api.post("/v1/events/orders", json=BATCH)
    [entry_id, *_] = [entry for entry, _ in redis_client.xrange("sluicegate:{orders}:events")]
    redis_client.xdel("sluicegate:{orders}:events", entry_id)  # what a lost batch looks like
    view = (await api.get("/v1/queues/orders")).json()
    assert view["conservation"]["holds"] is False
    assert view["conservation"]["unaccounted"] == len(BATCH)  # the request's one entry


async def test_unknown_queue_is_404_and_bad_name_422(api) -> None:
    assert (await api.get("/v1/queues/nothing-here")).status_code == 404
    assert (await api.get("/v1/queues/Bad Name")).status_code == 422
    assert (await api.get("/v1/queues")).json()["queues"] == []


async def test_with_tokens_a_caller_sees_only_its_queues(
    api_settings: Settings, tmp_path: Path
) -> None:
    settings = api_settings.model_copy(update={"api_tokens_file": tokens_file(tmp_path)})
    async with running_api(settings) as guarded:
        for queue in ("orders", "web"):
            await guarded.post(f"/v1/events/{queue}", json=BATCH, headers=_any_token(queue))
        assert (await guarded.get("/v1/queues")).status_code == 401
        listing = await guarded.get("/v1/queues", headers=bearer(BILLING))
        assert [q["queue"] for q in listing.json()["queues"]] == ["orders"]
        forbidden = await guarded.get("/v1/queues/web", headers=bearer(BILLING))
        assert forbidden.status_code == 403


def _any_token(queue: str) -> dict[str, str]:
    return bearer(BILLING if queue == "orders" else WEB)


async def test_redis_away_is_503(api_settings: Settings, redis_server) -> None:
    async with running_api(api_settings) as client:
        redis_server.kill()
        response = await client.get("/v1/queues")
        assert response.status_code == 503
        assert isinstance(httpx.Headers(response.headers).get("retry-after"), str)
