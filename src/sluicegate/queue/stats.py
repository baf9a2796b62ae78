"""A consistent snapshot of where a queue's events are: queued, in flight, dead-lettered."""

from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import ResponseError

from sluicegate.queue import keys
from sluicegate.queue.client import as_text, is_cluster_client, node_client

_SCAN_COUNT = 1000  # keys a primary looks at per SCAN call


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
    """Every queue that ever received an event.

    Standalone: the set the enqueue script adds to. A cluster has no key that every queue's
    script may touch (a script stays in one slot), so the queues are found by their streams:
    SCAN of every primary. The enqueue script creates the stream with the queue's first event, in
    one step, so no queue holds an event without being found (docs/scaling.md, "Discovery").
    """
    if is_cluster_client(client):
        found = client.scan_iter(match=keys.STREAM_PATTERN, count=_SCAN_COUNT, _type="stream")
        return sorted({keys.queue_of_stream(as_text(key)) for key in found})
    return sorted(member.decode() for member in client.smembers(keys.QUEUES_SET))  # type: ignore[union-attr]


def queues_with_work(client: "redis.Redis") -> list[str]:
    """Queues whose stream holds entries, queued or pending with some consumer."""
    return list(work_by_queue(client))


def work_by_queue(client: "redis.Redis", queues: list[str] | None = None) -> dict[str, int]:
    """Entries (queued or pending) of every queue that has some, in name order; one round trip
    for the lengths however many queues there are."""
    names = list_queues(client) if queues is None else queues
    with client.pipeline(transaction=False) as pipe:
        for queue in names:
            pipe.xlen(keys.stream_key(queue))
        lengths = pipe.execute()
    return {queue: int(length) for queue, length in zip(names, lengths, strict=True) if length}


def snapshot(client: "redis.Redis", queue: str) -> QueueSnapshot:
    """Read counts in one MULTI, so an ack between two reads cannot make an event vanish.

    Acked entries are deleted, so the stream's first entry is the oldest event not yet stored;
    its id holds the server's clock at XADD, compared with the same server's TIME (no skew; on a
    cluster, whose MULTI takes keyed commands only, TIME is asked of that node right after).
    """
    stream = keys.stream_key(queue)
    cluster = is_cluster_client(client)
    with client.pipeline(transaction=True) as pipe:
        pipe.xlen(stream)
        pipe.xlen(keys.dead_letter_key(queue))
        pipe.hgetall(keys.stats_key(queue))
        pipe.xinfo_groups(stream)
        pipe.xrange(stream, count=1)
        if not cluster:
            pipe.time()
        try:
            length, dead, stats, groups, first, *clock = pipe.execute()
        except ResponseError:  # the stream does not exist (yet)
            length, dead, stats, groups, first, clock = 0, 0, {}, [], [], [(0, 0)]
    now = clock[0] if clock else node_client(client, stream).time()
    infos = [_fields(group) for group in groups]
    pending = sum(
        int(info["pending"]) for info in infos if as_text(info["name"]) == keys.CONSUMER_GROUP
    )
    stats = _fields(stats)
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
    now_ms = int(now[0]) * 1000 + int(now[1]) // 1000
    return max(now_ms - added_ms, 0) / 1000


def _fields(reply: Any) -> dict[str, Any]:
    """A map reply by field name: parsed already (a server), or flat pairs (a cluster's MULTI,
    where redis-py applies no reply parser)."""
    if isinstance(reply, dict):
        return {as_text(name): value for name, value in reply.items()}
    pairs = iter(reply)
    return {as_text(name): value for name, value in zip(pairs, pairs, strict=True)}


def _stat(stats: dict[str, Any], name: str) -> int:
    return int(stats.get(name, 0))
