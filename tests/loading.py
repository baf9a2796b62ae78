"""Putting events into a queue the way the API does, for tests that are not about the API."""

import asyncio

import orjson

from sluicegate.events import Event, new_event_id, now_ms
from sluicegate.queue.client import async_client, is_cluster
from sluicegate.queue.writer import DurabilityMode, QueueWriter


def make_events(queue: str, count: int, payload: dict[str, object] | None = None) -> list[Event]:
    return [
        Event(queue, new_event_id(), orjson.dumps(payload or {"n": n}).decode(), now_ms())
        for n in range(count)
    ]


def enqueue(url: str, events: list[Event], batch: int = 500) -> list[str]:
    """Append ``events`` in batches, durably, each batch as one request (with the trace context
    of its first event); returns their ids in order."""

    async def run() -> None:
        client = async_client(url, cluster=is_cluster(url))
        writer = QueueWriter(
            client, DurabilityMode.WAITAOF, max_depth=10**9, durability_timeout_s=5
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
