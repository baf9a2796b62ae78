"""Reading and replaying the dead-letter stream of a queue (``sluicegate dlq``)."""

from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio

from sluicegate.events import Event
from sluicegate.queue import keys
from sluicegate.queue.keys import DEFAULT_DESTINATION
from sluicegate.queue.scripts import REPLAY_DEAD_LETTER, lua


@dataclass(frozen=True, slots=True)
class DeadLetter:
    entry_id: str
    event: Event
    reason: str
    deliveries: int
    dead_at_ms: int


def list_dead(
    client: "redis.Redis", queue: str, limit: int = 100, destination: str = DEFAULT_DESTINATION
) -> list[DeadLetter]:
    """``destination``'s dead letters of ``queue`` (the default one's hold the quarantined)."""
    rows: Any = client.xrange(keys.dead_letter_key(queue, destination), count=limit)
    return [_decode(queue, entry_id, fields) for entry_id, fields in rows]


def replay(
    client: "redis.Redis",
    queue: str,
    entry_ids: list[str],
    destination: str = DEFAULT_DESTINATION,
) -> int:
    """Move dead letters back into the queue, each atomically (never in both, never in neither).
    Every destination of the queue gets them again; those that have them already absorb them
    (``lua/replay_dead_letter.lua`` keeps each destination's count exact meanwhile)."""
    script = client.register_script(lua(REPLAY_DEAD_LETTER).source)
    script_keys = keys.dead_letter_move_keys(queue, destination)
    group = keys.consumer_group(destination)
    return sum(int(script(keys=script_keys, args=[entry, group])) for entry in entry_ids)


async def list_dead_async(
    client: "redis.asyncio.Redis",
    queue: str,
    limit: int = 100,
    destination: str = DEFAULT_DESTINATION,
) -> list[DeadLetter]:
    """``list_dead`` for the API's asyncio client (the dashboard)."""
    rows: Any = await client.xrange(keys.dead_letter_key(queue, destination), count=limit)
    return [_decode(queue, entry_id, fields) for entry_id, fields in rows]


async def replay_async(
    client: "redis.asyncio.Redis",
    queue: str,
    entry_ids: list[str],
    destination: str = DEFAULT_DESTINATION,
) -> int:
    """``replay`` for the API's asyncio client (the dashboard)."""
    script = client.register_script(lua(REPLAY_DEAD_LETTER).source)
    script_keys = keys.dead_letter_move_keys(queue, destination)
    group = keys.consumer_group(destination)
    moved = 0
    for entry_id in entry_ids:
        moved += int(await script(keys=script_keys, args=[entry_id, group]))
    return moved


def _decode(queue: str, entry_id: bytes, fields: dict[bytes, bytes]) -> DeadLetter:
    return DeadLetter(
        entry_id=entry_id.decode(),
        event=Event.from_fields(queue, fields),
        reason=fields[keys.FIELD_REASON.encode()].decode(),
        deliveries=int(fields[keys.FIELD_DELIVERIES.encode()]),
        dead_at_ms=int(fields[keys.FIELD_DEAD_AT.encode()]),
    )
