"""Deleting stored events on request (an erasure), the same for the CLI and the API: the rows
go, a tombstone stays in the id table so no copy still in Redis (queued, in flight, dead) and no
producer's retry stores the event again within DEDUP_WINDOW; one log line says who deleted what
and how many, never a payload (docs/retention.md)."""

from collections.abc import Sequence

from sluicegate.logs import get_logger
from sluicegate.repository import EventStore


def delete_ids(store: EventStore, queue: str, event_ids: Sequence[str], who: str, via: str) -> int:
    rows = store.delete(queue, event_ids, who)
    get_logger().info(
        "events-deleted", who=who, via=via, queue=queue, event_ids=list(event_ids), rows=rows
    )
    return rows


def delete_before(store: EventStore, queue: str, before_ms: int, who: str, via: str) -> int:
    rows = store.delete_before(queue, before_ms, who)
    get_logger().info(
        "events-deleted", who=who, via=via, queue=queue, accepted_before_ms=before_ms, rows=rows
    )
    return rows
