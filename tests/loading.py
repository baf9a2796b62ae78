"""Putting events into a queue the way the API does, for tests that are not about the API, and
reading back what its stream holds, whatever the entries' layout."""

import asyncio

import orjson
import redis

from sluicegate.events import Event, new_event_id, now_ms
from sluicegate.queue.client import async_client, is_cluster
from sluicegate.queue.history import stream_events
from sluicegate.queue.writer import DurabilityMode, QueueWriter


def make_events(queue: str, count: int, payload: dict[str, object] | None = None) -> list[Event]:
    """``count`` events accepted at one instant, as one request's are."""
    accepted_at_ms = now_ms()
    return [
        Event(queue, new_event_id(), orjson.dumps(payload or {"n": n}).decode(), accepted_at_ms)
        for n in range(count)
    ]


def enqueue(url: str, events: list[Event], batch: int = 500, packing: bool = False) -> list[str]:
    """Append ``events`` in batches, durably, each batch as one request (with the trace context
    of its first event); returns their ids in order. ``packing``: each batch in one stream entry
    (the API's way); without it one entry per event, which tests of entry mechanics count on."""

    async def run() -> None:
        client = async_client(url, cluster=is_cluster(url))
        writer = QueueWriter(
            client, DurabilityMode.WAITAOF, 10**9, durability_timeout_s=5, packing=packing
        )
        try:
            for start in range(0, len(events), batch):
                chunk = events[start : start + batch]
                result = await writer.enqueue(chunk[0].queue, chunk, chunk[0].traceparent)
                assert result.accepted
        finally:
            await writer.aclose()
            await client.aclose()

    asyncio.run(run())
    return [event.event_id for event in events]


def events_in_stream(client: redis.Redis, queue: str) -> list[Event]:
    """Every event ``queue``'s stream holds, in order, whether its entry holds one or is packed
    (read the way ``sluicegate replay --source redis`` reads them)."""
    return [event for page in stream_events(client, queue, page=1000) for event in page]


def ids_in_stream(client: redis.Redis, queue: str) -> list[str]:
    return [event.event_id for event in events_in_stream(client, queue)]
