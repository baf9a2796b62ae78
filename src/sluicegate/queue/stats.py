"""A consistent snapshot of where a queue's events are: queued, in flight, dead-lettered."""

from dataclasses import dataclass

import redis
from redis.exceptions import ResponseError

from sluicegate.queue import keys
from sluicegate.queue.client import as_text


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    queue: str
    queued: int  # in the stream, never delivered
    in_flight: int  # delivered to a consumer, not acknowledged
    dead_lettered: int
    persisted_acks: int  # events a consumer acknowledged after persisting (from the stats hash)
    duplicates_suppressed: int
    reclaimed: int
    oldest_age_s: float = 0.0  # the lag: how long the oldest event not yet stored has waited

    @property
    def depth(self) -> int:
        return self.queued + self.in_flight


def list_queues(client: "redis.Redis") -> list[str]:
    return sorted(member.decode() for member in client.smembers(keys.QUEUES_SET))  # type: ignore[union-attr]


def queues_with_work(client: "redis.Redis") -> list[str]:
    """Queues whose stream holds entries, queued or pending with some consumer."""
    queues = list_queues(client)
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.xlen(keys.stream_key(queue))
        lengths = pipe.execute()
    return [queue for queue, length in zip(queues, lengths, strict=True) if length]


def snapshot(client: "redis.Redis", queue: str) -> QueueSnapshot:
    """Read counts in one MULTI, so an ack between two reads cannot make an event vanish.

    Acked entries are deleted, so the stream's first entry is the oldest event not yet stored;
    its id holds the server's clock at XADD, compared with the same server's TIME (no skew).
    """
    stream = keys.stream_key(queue)
    with client.pipeline(transaction=True) as pipe:
        pipe.xlen(stream)
        pipe.xlen(keys.dead_letter_key(queue))
        pipe.hgetall(keys.stats_key(queue))
        pipe.xinfo_groups(stream)
        pipe.xrange(stream, count=1)
        pipe.time()
        try:
            length, dead, stats, groups, first, now = pipe.execute()
        except ResponseError:  # the stream does not exist (yet)
            length, dead, stats, groups, first, now = 0, 0, {}, [], [], (0, 0)
    pending = sum(
        int(group["pending"]) for group in groups if as_text(group["name"]) == keys.CONSUMER_GROUP
    )
    return QueueSnapshot(
        queue=queue,
        queued=int(length) - pending,
        in_flight=pending,
        dead_lettered=int(dead),
        persisted_acks=_stat(stats, keys.STAT_PERSISTED),
        duplicates_suppressed=_stat(stats, keys.STAT_DUPLICATES_SUPPRESSED),
        reclaimed=_stat(stats, keys.STAT_RECLAIMED),
        oldest_age_s=_age_s(first, now),
    )


def _age_s(first: list[tuple[bytes, object]], now: tuple[int, int]) -> float:
    if not first:
        return 0.0
    added_ms = int(as_text(first[0][0]).partition("-")[0])
    now_ms = now[0] * 1000 + now[1] // 1000
    return max(now_ms - added_ms, 0) / 1000


def _stat(stats: dict[bytes, bytes], name: str) -> int:
    return int(stats.get(name.encode(), 0))
