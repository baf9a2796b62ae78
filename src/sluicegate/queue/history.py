"""A queue's stream read as it stands, oldest entry first, without a consumer group: what
``sluicegate replay`` takes from Redis while the events are still there (nothing is delivered,
acknowledged or moved)."""

from collections.abc import Iterator
from typing import Any

import redis

from sluicegate.events import Event
from sluicegate.queue import keys
from sluicegate.queue.client import as_text


def stream_events(client: "redis.Redis", queue: str, page: int) -> Iterator[list[Event]]:
    """Every event in ``queue``'s stream, ``page`` entries per XRANGE, in stream order."""
    start = "-"
    while True:
        rows: Any = client.xrange(keys.stream_key(queue), min=start, count=page)
        if rows:
            yield [Event.from_fields(queue, fields) for _, fields in rows]
        if len(rows) < page:
            return
        start = "(" + as_text(rows[-1][0])
