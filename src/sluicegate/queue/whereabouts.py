"""Redis's side of "where is my event?": queued, in flight (which consumer, how many
deliveries) or dead-lettered (why), found by the event id.

A stream has no index by a field's value, so the queue's stream and then its dead letters are
read in ranges of ``_RANGE`` entries until the id turns up: the cost grows with the queue's depth
(about 1 ms per thousand entries here; docs/retention.md). Acked entries are deleted, so a
persisted event is found in the database, not here. An event of a packed entry (one request's
events: ``queue/entry_format.py``) is where its entry is: queued or in flight with it.
"""

from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio

from sluicegate.queue import keys
from sluicegate.queue.client import as_text
from sluicegate.queue.entry_format import entry_event_ids

_RANGE = 1000
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
    start = "-"
    while True:
        rows: Any = await client.xrange(key, min=start, count=_RANGE)
        for entry_id, fields in rows:
            if event_id in entry_event_ids(fields):
                return as_text(entry_id), fields
        if len(rows) < _RANGE:
            return None
        start = "(" + as_text(rows[-1][0])


async def _in_stream(
    client: "redis.asyncio.Redis", queue: str, entry_id: str, fields: dict[bytes, bytes]
) -> InRedis | None:
    """In flight while pending with a destination's group; queued while some group has not had
    it; else every destination has it and the stream keeps it for none (None: look in the
    database), which happens with several destinations until the stream is trimmed."""
    accepted_at_ms = int(fields[keys.FIELD_ACCEPTED_AT.encode()])
    stream = keys.stream_key(queue)
    groups: Any = await client.xinfo_groups(stream)
    if not groups:  # no consumer group yet: nobody ever read the queue
        return InRedis("queued", entry_id, accepted_at_ms)
    queued = False
    for group in groups:
        pending: Any = await client.xpending_range(
            stream, group["name"], min=entry_id, max=entry_id, count=1
        )
        if pending:
            return _in_flight(entry_id, accepted_at_ms, pending[0])
        queued = queued or _after(entry_id, as_text(group["last-delivered-id"]))
    return InRedis("queued", entry_id, accepted_at_ms) if queued else None


def _after(entry_id: str, delivered_id: str) -> bool:
    """Is stream entry ``entry_id`` later than ``delivered_id`` (never delivered to its group)?"""
    ms, _, seq = entry_id.partition("-")
    delivered_ms, _, delivered_seq = delivered_id.partition("-")
    return (int(ms), int(seq)) > (int(delivered_ms), int(delivered_seq))


def _in_flight(entry_id: str, accepted_at_ms: int, held: Any) -> InRedis:
    return InRedis(
        "in_flight",
        entry_id,
        accepted_at_ms,
        consumer=as_text(held["consumer"]),
        deliveries=int(held["times_delivered"]),
        idle_ms=int(held["time_since_delivered"]),
    )
