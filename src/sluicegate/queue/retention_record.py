"""What the last maintenance pass found, kept in Redis for ``sluicegate status`` and the agent's
``/metrics``: each queue's oldest stored event and the rows retention dropped (a running total).

One hash (``keys.RETENTION``), fields ``<queue>:oldest_ms`` and ``<queue>:dropped``; the pass
runs as a CronJob (``sluicegate maintain``), the readers are elsewhere.
"""

from dataclasses import dataclass

import redis

from sluicegate.queue import keys
from sluicegate.queue.client import as_text


@dataclass(frozen=True, slots=True)
class QueueRetention:
    oldest_ms: int | None  # accepted_at of the oldest stored event; None: none stored
    dropped: int  # rows expired by retention, all passes together


def record_pass(
    client: "redis.Redis", oldest_ms: dict[str, int | None], dropped: dict[str, int]
) -> None:
    with client.pipeline(transaction=False) as pipe:
        for queue, oldest in oldest_ms.items():
            if oldest is None:
                pipe.hdel(keys.RETENTION, f"{queue}:oldest_ms")
            else:
                pipe.hset(keys.RETENTION, f"{queue}:oldest_ms", oldest)
        for queue, rows in dropped.items():
            pipe.hincrby(keys.RETENTION, f"{queue}:dropped", rows)
        pipe.execute()


def read_retention(client: "redis.Redis") -> dict[str, QueueRetention]:
    raw: dict[bytes, bytes] = client.hgetall(keys.RETENTION)  # type: ignore[assignment]
    fields = {as_text(name): int(value) for name, value in raw.items()}
    queues = {name.rpartition(":")[0] for name in fields}
    return {
        queue: QueueRetention(fields.get(f"{queue}:oldest_ms"), fields.get(f"{queue}:dropped", 0))
        for queue in queues
    }
