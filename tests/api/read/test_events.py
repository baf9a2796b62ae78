"""GET /v1/events/{queue}/{id}, GET /v1/events/{queue} and DELETE /v1/events/{queue}/{id}: one
answer per state, keyset pages, token scopes, and a deletion that sticks. SQLite and PostgreSQL."""

from pathlib import Path

import httpx
import pytest
import redis

from sluicegate.events import Event, new_event_id, now_ms
from sluicegate.queue.reader import QueueReader
from sluicegate.repository import open_repository
from sluicegate.retention import DAY_MS, RetentionPolicy
from sluicegate.settings import Settings
from tests.api.auth.test_bearer import BILLING, WEB, bearer, tokens_file
from tests.api.conftest import running_api

pytestmark = pytest.mark.anyio


async def post(api: httpx.AsyncClient, queue: str, count: int) -> list[str]:
    events = [{"event_id": new_event_id(), "payload": {"n": n}} for n in range(count)]
    response = await api.post(f"/v1/events/{queue}", json=events)
    assert response.status_code == 202, response.text
    ids: list[str] = response.json()["event_ids"]
    return ids


async def test_one_answer_for_every_state(
    backend_settings: Settings, redis_client: redis.Redis
) -> None:
    store = open_repository(backend_settings.resolved_database_url)
    old = Event("orders", new_event_id(), "{}", now_ms() - 3 * DAY_MS)
    store.persist([old])
    store.expire(RetentionPolicy(86_400.0, {}, 7 * 86_400.0), now_ms())
    async with running_api(backend_settings) as api:
        # A request each, so an entry each (a packed entry's events move together).
        ids = [event_id for _ in range(5) for event_id in await post(api, "orders", 1)]
        flying, dead, stored, doomed, waiting = ids
        reader = QueueReader(redis_client, "orders", "host-1:4242")
        first, second, third, fourth = reader.read_new(4, block_ms=10)
        reader.dead_letter(second, "payload refused: no customer", deliveries=5)
        store.persist([third.event, fourth.event])
        reader.ack([third, fourth], persisted=2, duplicates=0)
        deleted = await api.delete(f"/v1/events/orders/{doomed}")
        assert deleted.json() == {
            "queue": "orders",
            "event_id": doomed,
            "state": "deleted",
            "rows": 1,
        }

        async def where(event_id: str) -> dict[str, object]:
            response = await api.get(f"/v1/events/orders/{event_id}")
            assert response.status_code == 200, response.text
            answer: dict[str, object] = response.json()
            return answer

        assert (await where(waiting))["state"] == "queued"  # until it is deleted, below
        in_flight = await where(flying)
        assert (in_flight["state"], in_flight["consumer"], in_flight["deliveries"]) == (
            "in_flight",
            "host-1:4242",
            1,
        )
        dead_answer = await where(dead)
        assert (dead_answer["state"], dead_answer["reason"]) == (
            "dead",
            "payload refused: no customer",
        )
        assert (await where(stored))["state"] == "persisted"
        assert "persisted_at_ms" in await where(stored)
        assert (await where(old.event_id))["state"] == "expired"
        gone = await where(doomed)
        assert (gone["state"], gone["deleted_by"]) == ("deleted", "unauthenticated")
        assert "copy_in_redis" not in gone, "stored, then acked: no copy left"
        queued_then_deleted = await api.delete(f"/v1/events/orders/{waiting}")
        assert queued_then_deleted.json()["rows"] == 0
        still_queued = await where(waiting)
        assert (still_queued["state"], still_queued["copy_in_redis"]) == ("deleted", "queued")
        assert (await where(new_event_id()))["state"] == "never_seen"
        assert (await where(stored))["queue"] == "orders"
        other_queue = await api.get(f"/v1/events/mails/{stored}")
        assert other_queue.json()["state"] == "never_seen", "an id is looked up in its queue only"
    assert first.event.event_id == flying
    store.close()


async def test_pages_in_acceptance_order(api: httpx.AsyncClient, settings: Settings) -> None:
    store = open_repository(settings.resolved_database_url)
    events = [Event("orders", new_event_id(), f'{{"n": {n}}}', 1_000 + n) for n in range(7)]
    store.persist(list(reversed(events)))
    seen: list[dict[str, object]] = []
    cursor: str | None = None
    while True:
        query = {"limit": 3} | ({"after": cursor} if cursor else {})
        page = (await api.get("/v1/events/orders", params=query)).json()
        seen += page["events"]
        cursor = page["next"]
        if cursor is None:
            break
    assert [e["event_id"] for e in seen] == [e.event_id for e in events]
    assert seen[0]["payload"] == {"n": 0}
    bad = await api.get("/v1/events/orders", params={"after": "nonsense!"})
    assert (bad.status_code, bad.json()["type"]) == (400, "urn:sluicegate:problem:bad-cursor")
    assert (await api.get("/v1/events/orders", params={"limit": 0})).status_code == 422
    store.close()


async def test_tokens_scope_reads_and_deletes(
    api_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = api_settings.model_copy(update={"api_tokens_file": tokens_file(tmp_path)})
    async with running_api(settings) as api:
        response = await api.post(
            "/v1/events/orders", json={"payload": {"secret": "s3cr3t"}}, headers=bearer(BILLING)
        )
        [event_id] = response.json()["event_ids"]
        assert (await api.get(f"/v1/events/orders/{event_id}")).status_code == 401
        assert (
            await api.delete(f"/v1/events/orders/{event_id}", headers=bearer(WEB))
        ).status_code == 403
        assert (await api.get("/v1/events/orders", headers=bearer(WEB))).status_code == 403
        deleted = await api.delete(f"/v1/events/orders/{event_id}", headers=bearer(BILLING))
        assert deleted.status_code == 200
        answer = (await api.get(f"/v1/events/orders/{event_id}", headers=bearer(BILLING))).json()
        assert (answer["state"], answer["deleted_by"]) == ("deleted", "billing")
    log = capsys.readouterr()
    assert "events-deleted" in log.out + log.err
    assert "s3cr3t" not in log.out + log.err
