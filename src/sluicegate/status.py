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
    workers: list[tuple[LockEntry, int]]  # the consumers holding its lock slots, with TTL in ms

    @property
    def worker(self) -> LockEntry | None:
        return self.workers[0][0] if self.workers else None

    @property
    def worker_ttl_ms(self) -> int:
        return self.workers[0][1] if self.workers else 0


def gather(client: "redis.Redis", repository: Repository, slots: int = 1) -> list[QueueStatus]:
    """Every queue; ``slots`` is QUEUE_CONSUMERS (how many lock slots to look at)."""
    queues = list_queues(client)
    workers: dict[str, list[tuple[LockEntry, int]]] = {}
    for entry, ttl_ms in lock_holders(client, queues, slots):
        workers.setdefault(entry.queue, []).append((entry, ttl_ms))
    return [
        QueueStatus(snapshot(client, queue), repository.count(queue), workers.get(queue, []))
        for queue in queues
    ]


def as_json(statuses: list[QueueStatus]) -> list[dict[str, Any]]:
    return [
        {
            **asdict(status.snapshot),
            "persisted": status.persisted,
            "worker": asdict(status.worker) if status.worker else None,
            "worker_ttl_ms": status.worker_ttl_ms,
            "workers": [{**asdict(entry), "ttl_ms": ttl_ms} for entry, ttl_ms in status.workers],
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
    """Every consumer holding one of the queue's lock slots (QUEUE_CONSUMERS of them at most)."""
    cells = [f"{entry.host}:{entry.pid} (ttl {ttl / 1000:.1f}s)" for entry, ttl in item.workers]
    return ", ".join(cells) or "—"
