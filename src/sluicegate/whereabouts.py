""" "Where is my event?": one answer from the database and Redis, for ``GET
/v1/events/{queue}/{event_id}`` and ``sluicegate events show``.

The database is asked first: a stored, expired or deleted event is that, whatever copy Redis
still holds (a deleted event still queued will store nothing; the answer names that copy's state
in ``copy_in_redis``, so an erasure can be followed until the copy is gone). Otherwise Redis
says queued, in flight or dead; otherwise the id was never seen, or was forgotten DEDUP_WINDOW
after it was stored or deleted (docs/retention.md).
"""

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import redis.asyncio

from sluicegate.queue.whereabouts import InRedis, find
from sluicegate.repository.lifecycle import StoredState

NEVER_SEEN = "never_seen"


async def where_is(
    client: "redis.asyncio.Redis",
    stored: Callable[[str], Awaitable[StoredState | None]],
    queue: str,
    event_id: str,
) -> dict[str, Any]:
    """The answer's JSON; ``stored`` looks the id up in the database (a thread, for the API)."""
    found = await stored(event_id)
    if found is not None and found.queue == queue and found.status != "deleted":
        return _answer(queue, event_id, found.status, _stored_fields(found))
    in_redis = await find(client, queue, event_id)
    if found is not None and found.queue == queue:  # deleted: is a copy still on its way?
        copy = {"copy_in_redis": in_redis.status} if in_redis is not None else {}
        return _answer(queue, event_id, found.status, _stored_fields(found) | copy)
    if in_redis is not None:
        return _answer(queue, event_id, in_redis.status, _redis_fields(in_redis))
    return _answer(queue, event_id, NEVER_SEEN, {})


def _answer(queue: str, event_id: str, state: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"queue": queue, "event_id": event_id, "state": state, **fields}


def _stored_fields(found: StoredState) -> dict[str, Any]:
    fields = asdict(found)
    del fields["status"], fields["queue"]
    return {name: value for name, value in fields.items() if value is not None}


def _redis_fields(found: InRedis) -> dict[str, Any]:
    fields = asdict(found)
    del fields["status"]
    return {name: value for name, value in fields.items() if value is not None}
