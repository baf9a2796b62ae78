"""Reading and replaying the dead-letter stream of a queue (``sluicegate dlq``)."""

from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio

from sluicegate.events import Event
from sluicegate.queue import keys
from sluicegate.queue.scripts import REPLAY_DEAD_LETTER, lua


@dataclass(frozen=True, slots=True)
class DeadLetter:
    entry_id: str
    event: Event
    reason: str
    deliveries: int
    dead_at_ms: int


def list_dead(client: "redis.Redis", queue: str, limit: int = 100) -> list[DeadLetter]:
    rows: Any = client.xrange(keys.dead_letter_key(queue), count=limit)
    return [_decode(queue, entry_id, fields) for entry_id, fields in rows]


def replay(client: "redis.Redis", queue: str, entry_ids: list[str]) -> int:
    """Move dead letters back into the queue, each atomically (never in both, never in neither)."""
    script = client.register_script(lua(REPLAY_DEAD_LETTER).source)
    stream, dead = keys.stream_key(queue), keys.dead_letter_key(queue)
    return sum(int(script(keys=[stream, dead], args=[entry_id])) for entry_id in entry_ids)


async def list_dead_async(
    client: "redis.asyncio.Redis", queue: str, limit: int = 100
) -> list[DeadLetter]:
    """``list_dead`` for the API's asyncio client (the dashboard)."""
    rows: Any = await client.xrange(keys.dead_letter_key(queue), count=limit)
    return [_decode(queue, entry_id, fields) for entry_id, fields in rows]


async def replay_async(client: "redis.asyncio.Redis", queue: str, entry_ids: list[str]) -> int:
    """``replay`` for the API's asyncio client: each dead letter moved atomically."""
    script = client.register_script(lua(REPLAY_DEAD_LETTER).source)
    stream, dead = keys.stream_key(queue), keys.dead_letter_key(queue)
    moved = 0
    for entry_id in entry_ids:
        moved += int(await script(keys=[stream, dead], args=[entry_id]))
    return moved


def _decode(queue: str, entry_id: bytes, fields: dict[bytes, bytes]) -> DeadLetter:
    return DeadLetter(
        entry_id=entry_id.decode(),
        event=Event.from_fields(queue, fields),
        reason=fields[keys.FIELD_REASON.encode()].decode(),
        deliveries=int(fields[keys.FIELD_DELIVERIES.encode()]),
        dead_at_ms=int(fields[keys.FIELD_DEAD_AT.encode()]),
    )
