"""Finding an event in Redis by its id: inside a packed entry (one request's events) too, where
the answer is the entry's (queued, or in flight with its consumer, deliveries and idle time)."""

import asyncio
from dataclasses import replace

import redis

from sluicegate.embedded.server import EmbeddedServer
from sluicegate.queue import keys
from sluicegate.queue.client import async_client
from sluicegate.queue.reader import QueueReader
from sluicegate.queue.whereabouts import InRedis, find
from tests.loading import enqueue, make_events


def found(server: EmbeddedServer, event_ids: list[str]) -> list[InRedis | None]:
    async def run() -> list[InRedis | None]:
        client = async_client(server.url)
        try:
            return [await find(client, "q", event_id) for event_id in event_ids]
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_an_event_inside_a_packed_entry_is_found_queued_then_in_flight(
    redis_server: EmbeddedServer, redis_client: redis.Redis
) -> None:
    events = make_events("q", 5)
    first = enqueue(redis_server.url, events[:3], packing=True)
    second = enqueue(redis_server.url, events[3:], packing=True)
    accepted_at_ms = events[0].accepted_at_ms
    entry, next_entry = [e.decode() for e, _ in redis_client.xrange(keys.stream_key("q"))]
    queued = InRedis("queued", entry, accepted_at_ms)
    assert found(redis_server, first) == [queued] * 3
    reader = QueueReader(redis_client, "q", consumer="c1")
    delivered = reader.read_new(1, block_ms=None)  # one entry: the first request's
    assert [d.event.event_id for d in delivered] == first
    in_flight = InRedis("in_flight", entry, accepted_at_ms, "c1", deliveries=1, idle_ms=0)
    answers = found(redis_server, first)
    assert [replace(answer, idle_ms=0) for answer in answers if answer] == [in_flight] * 3
    assert found(redis_server, second) == [replace(queued, entry_id=next_entry)] * 2
    assert found(redis_server, ["not-there"]) == [None]


def test_a_refused_event_of_a_packed_entry_is_dead_and_its_stored_siblings_gone(
    redis_server: EmbeddedServer, redis_client: redis.Redis
) -> None:
    ids = enqueue(redis_server.url, make_events("q", 3), packing=True)
    reader = QueueReader(redis_client, "q", consumer="c1")
    entry = reader.read_new(1, block_ms=None)
    reader.dead_letter_entry(entry, [(entry[1], "refused")], deliveries=5, stored=2, duplicates=0)
    stored, dead, _ = found(redis_server, ids)
    assert stored is None, "acknowledged with its entry: the database has it"
    assert (dead and dead.status, dead and dead.reason) == ("dead", "refused")
