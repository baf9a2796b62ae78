"""Redis's side of "where is my event?": queued, in flight (which consumer, how many
deliveries) or dead-lettered (why), found by the event id.

A stream has no index by a field's value, so the queue's stream and then its dead letters are
read in ranges of ``_RANGE`` entries until the id turns up: the cost grows with the queue's depth
(about 1 ms per thousand entries here; docs/retention.md). Acked entries are deleted, so a
persisted event is found in the database, not here.
"""

from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio

from sluicegate.queue import keys
from sluicegate.queue.client import as_text

_RANGE = 1000
_ID = keys.FIELD_EVENT_ID.encode()
RedisStatus = Literal["queued", "in_flight", "dead"]


@dataclass(frozen=True, slots=True)
class InRedis:
    status: RedisStatus
    entry_id: str
    accepted_at_ms: int
    consumer: str | None = None  # in flight: the consumer that holds it
    deliveries: int | None = None  # in flight or dead: times it was handed to a consumer
    idle_ms: int | None = None  # in flight: since its last delivery
    reason: str | None = None  # dead: why the database refused it
    dead_at_ms: int | None = None


async def find(client: "redis.asyncio.Redis", queue: str, event_id: str) -> InRedis | None:
    """The event in ``queue``'s stream or dead letters, or None."""
    entry = await _scan(client, keys.stream_key(queue), event_id)
    if entry is not None:
        return await _in_stream(client, queue, *entry)
    dead = await _scan(client, keys.dead_letter_key(queue), event_id)
    if dead is not None:
        entry_id, fields = dead
        return InRedis(
            "dead",
            entry_id,
            int(fields[keys.FIELD_ACCEPTED_AT.encode()]),
            deliveries=int(fields[keys.FIELD_DELIVERIES.encode()]),
            reason=as_text(fields[keys.FIELD_REASON.encode()]),
            dead_at_ms=int(fields[keys.FIELD_DEAD_AT.encode()]),
        )
    return None


async def _scan(
    client: "redis.asyncio.Redis", key: str, event_id: str
) -> tuple[str, dict[bytes, bytes]] | None:
    wanted, start = event_id.encode(), "-"
    while True:
        rows: Any = await client.xrange(key, min=start, count=_RANGE)
        for entry_id, fields in rows:
            if fields.get(_ID) == wanted:
                return as_text(entry_id), fields
        if len(rows) < _RANGE:
            return None
        start = "(" + as_text(rows[-1][0])


async def _in_stream(
    client: "redis.asyncio.Redis", queue: str, entry_id: str, fields: dict[bytes, bytes]
) -> InRedis:
    accepted_at_ms = int(fields[keys.FIELD_ACCEPTED_AT.encode()])
    stream = keys.stream_key(queue)
    try:
        pending: Any = await client.xpending_range(
            stream, keys.CONSUMER_GROUP, min=entry_id, max=entry_id, count=1
        )
    except redis.ResponseError:  # no consumer group yet: nobody ever read the queue
        pending = []
    if not pending:
        return InRedis("queued", entry_id, accepted_at_ms)
    held = pending[0]
    return InRedis(
        "in_flight",
        entry_id,
        accepted_at_ms,
        consumer=as_text(held["consumer"]),
        deliveries=int(held["times_delivered"]),
        idle_ms=int(held["time_since_delivered"]),
    )
