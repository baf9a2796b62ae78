"""A queue's stream read as it stands, oldest entry first, without a consumer group: what
``sluicegate replay`` takes from Redis while the events are still there (nothing is delivered,
acknowledged or moved). A packed entry gives its events in order (``queue/entry_format.py``)."""

from collections.abc import Iterator
from typing import Any

import redis

from sluicegate.events import Event
from sluicegate.queue import keys
from sluicegate.queue.client import as_text
from sluicegate.queue.entry_format import events_of_fields


def stream_events(client: "redis.Redis", queue: str, page: int) -> Iterator[list[Event]]:
    """Every event in ``queue``'s stream, in stream order: a list per XRANGE of ``page``
    entries (more events than that when some entries are packed)."""
    start = "-"
    while True:
        rows: Any = client.xrange(keys.stream_key(queue), min=start, count=page)
        if rows:
            yield [event for _, fields in rows for event in events_of_fields(queue, fields)]
        if len(rows) < page:
            return
        start = "(" + as_text(rows[-1][0])
