"""What ``sluicegate status`` reports: per queue where the events are, and who consumes it."""

from dataclasses import asdict, dataclass
from typing import Any

import redis
from rich.table import Table

from sluicegate.queue.stats import QueueSnapshot, list_queues, snapshot
from sluicegate.repository import Repository
from sluicegate.worker.lock import LockEntry, lock_holders


@dataclass(frozen=True, slots=True)
class QueueStatus:
    snapshot: QueueSnapshot
    persisted: int  # rows in the database
    worker: LockEntry | None
    worker_ttl_ms: int


def gather(client: "redis.Redis", repository: Repository) -> list[QueueStatus]:
    queues = list_queues(client)
    workers = {entry.queue: (entry, ttl) for entry, ttl in lock_holders(client, queues)}
    statuses = []
    for queue in queues:
        worker, ttl_ms = workers.get(queue, (None, 0))
        statuses.append(
            QueueStatus(snapshot(client, queue), repository.count(queue), worker, ttl_ms)
        )
    return statuses


def as_json(statuses: list[QueueStatus]) -> list[dict[str, Any]]:
    return [
        {
            **asdict(status.snapshot),
            "persisted": status.persisted,
            "worker": asdict(status.worker) if status.worker else None,
            "worker_ttl_ms": status.worker_ttl_ms,
        }
        for status in statuses
    ]


def status_table(statuses: list[QueueStatus]) -> Table:
    """The table ``sluicegate status`` prints: one row a queue."""
    table = Table(
        "queue",
        "queued",
        "in flight",
        "dead",
        "persisted",
        "redeliveries absorbed",
        "worker",
        title="sluicegate status",
    )
    for item in statuses:
        snap = item.snapshot
        table.add_row(
            snap.queue,
            f"{snap.queued:,}",
            f"{snap.in_flight:,}",
            f"{snap.dead_lettered:,}",
            f"{item.persisted:,}",
            f"{snap.duplicates_suppressed:,}",
            _worker_cell(item),
        )
    return table


def _worker_cell(item: QueueStatus) -> str:
    if item.worker is None:
        return "—"
    return f"{item.worker.host}:{item.worker.pid} (ttl {item.worker_ttl_ms / 1000:.1f}s)"
