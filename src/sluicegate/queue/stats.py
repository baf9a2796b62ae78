"""A consistent snapshot of where a queue's events are: queued, in flight, dead-lettered, stored.

Everything is read in one MULTI, so the conservation line ``accepted = persisted + queued +
in flight + dead`` is checked on one instant of the server, never on figures read apart.
"""

from dataclasses import asdict, dataclass
from typing import Any, cast

import orjson
import redis
import redis.asyncio
import redis.asyncio.cluster
from redis.exceptions import ResponseError

from sluicegate.queue import keys
from sluicegate.queue.client import as_text, is_cluster_client, node_client

_SCAN_COUNT = 1000  # keys a primary looks at per SCAN call
_READ_COUNT = 5  # reads of a snapshot before the lock slots (see _reads)


@dataclass(frozen=True, slots=True)
class ConsumerInfo:
    """Who holds a queue's lock (read from the lock's JSON value)."""

    host: str
    pid: int
    started_at_ms: int


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
    accepted: int = 0  # counted by the enqueue script, with the events (exact, durable)
    consumers: tuple[ConsumerInfo, ...] = ()

    @property
    def depth(self) -> int:
        return self.queued + self.in_flight

    @property
    def persisted(self) -> int:
        """Entries acknowledged as stored: rows inserted, or already there (redeliveries)."""
        return self.persisted_acks + self.duplicates_suppressed

    @property
    def unaccounted(self) -> int:
        """accepted - (persisted + queued + in flight + dead): 0 whenever nothing was lost."""
        return self.accepted - (self.persisted + self.depth + self.dead_lettered)

    def as_json(self) -> dict[str, Any]:
        """The shape of ``GET /v1/queues/{queue}`` and ``sluicegate status --json``."""
        return {
            "queue": self.queue,
            "accepted": self.accepted,
            "queued": self.queued,
            "in_flight": self.in_flight,
            "dead": self.dead_lettered,
            "persisted": self.persisted,
            "redeliveries_absorbed": self.duplicates_suppressed,
            "reclaimed": self.reclaimed,
            "lag_s": round(self.oldest_age_s, 3),
            "consumers": [asdict(consumer) for consumer in self.consumers],
            "conservation": {
                "holds": self.unaccounted == 0,
                "unaccounted": self.unaccounted,
                "equation": "accepted = persisted + queued + in_flight + dead",
            },
        }


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


async def list_queues_async(client: "redis.asyncio.Redis") -> list[str]:
    """``list_queues`` for the API's asyncio client."""
    if is_cluster_client(client):
        found = client.scan_iter(match=keys.STREAM_PATTERN, count=_SCAN_COUNT, _type="stream")
        return sorted({keys.queue_of_stream(as_text(key)) async for key in found})
    return sorted(as_text(member) for member in await client.smembers(keys.QUEUES_SET))


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


def snapshot(client: "redis.Redis", queue: str, slots: int = 1) -> QueueSnapshot:
    """Read counts in one MULTI, so an ack between two reads cannot make an event vanish.

    Acked entries are deleted, so the stream's first entry is the oldest event not yet stored;
    its id holds the server's clock at XADD, compared with the same server's TIME (no skew; on a
    cluster, whose MULTI takes keyed commands only, TIME is asked of that node right after).
    """
    cluster = is_cluster_client(client)
    with client.pipeline(transaction=True) as pipe:
        _queue_reads(pipe, queue, slots)
        if not cluster:
            pipe.time()
        try:
            replies = pipe.execute()
        except ResponseError:  # the stream does not exist (yet)
            return QueueSnapshot(queue, 0, 0, 0, 0, 0, 0)
    reads = _READ_COUNT + slots
    now = replies[reads] if not cluster else node_client(client, keys.stream_key(queue)).time()
    return _parsed(queue, replies[:reads], now)


def snapshots(client: "redis.Redis", queues: list[str], slots: int = 1) -> list[QueueSnapshot]:
    """``snapshot`` of every queue of ``queues``, in one round trip on a server: every queue's
    reads in one MULTI (one instant for them all). A cluster's MULTI stays in one slot: one
    snapshot per queue there."""
    if is_cluster_client(client):
        return [snapshot(client, queue, slots) for queue in queues]
    reads = _READ_COUNT + slots
    with client.pipeline(transaction=True) as pipe:
        for queue in queues:
            _queue_reads(pipe, queue, slots)
        pipe.time()
        replies = pipe.execute(raise_on_error=False)
    now = replies[-1]
    found = []
    for index, queue in enumerate(queues):
        own = replies[index * reads : (index + 1) * reads]
        if any(isinstance(reply, ResponseError) for reply in own):  # no stream (yet)
            found.append(QueueSnapshot(queue, 0, 0, 0, 0, 0, 0))
        else:
            found.append(_parsed(queue, own, now))
    return found


async def snapshot_async(
    client: "redis.asyncio.Redis", queue: str, slots: int = 1
) -> QueueSnapshot:
    """``snapshot`` for the API's asyncio client: the same reads in one MULTI."""
    cluster = is_cluster_client(client)
    try:
        async with client.pipeline(transaction=True) as pipe:
            _queue_reads(pipe, queue, slots)
            if not cluster:
                pipe.time()
            replies = await pipe.execute()
    except ResponseError:  # the stream does not exist (yet)
        return QueueSnapshot(queue, 0, 0, 0, 0, 0, 0)
    reads = _READ_COUNT + slots
    now = replies[reads] if not cluster else await _node_time(client, keys.stream_key(queue))
    return _parsed(queue, replies[:reads], now)


async def known_snapshot_async(
    client: "redis.asyncio.Redis", queue: str, slots: int = 1
) -> QueueSnapshot | None:
    """``snapshot_async`` of a queue that ever accepted an event; None for one never heard of
    (the API answers 404 for it rather than a snapshot of zeros)."""
    if not await client.exists(keys.stream_key(queue)):
        return None
    return await snapshot_async(client, queue, slots)


async def _node_time(client: "redis.asyncio.Redis", key: str) -> Any:
    cluster = cast(redis.asyncio.cluster.RedisCluster, client)
    return await cluster.execute_command("TIME", target_nodes=cluster.get_node_from_key(key))


def _reads(queue: str, slots: int) -> list[tuple[str, ...]]:
    """What a snapshot reads, in this order; all keys in the queue's slot."""
    stream = keys.stream_key(queue)
    return [
        ("XLEN", stream),
        ("XLEN", keys.dead_letter_key(queue)),
        ("HGETALL", keys.stats_key(queue)),
        ("XINFO", "GROUPS", stream),
        ("XRANGE", stream, "-", "+", "COUNT", "1"),
        *(("GET", key) for key in keys.lock_keys(queue, slots)),
    ]


def _queue_reads(pipe: Any, queue: str, slots: int) -> None:
    for command in _reads(queue, slots):
        pipe.execute_command(*command)


def _parsed(queue: str, replies: list[Any], now: Any) -> QueueSnapshot:
    length, dead, stats, groups, first, *locks = replies
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
        accepted=_stat(stats, keys.STAT_ACCEPTED),
        consumers=tuple(info for lock in locks if (info := _consumer(lock)) is not None),
    )


def _age_s(first: list[tuple[bytes, object]], now: tuple[int, int]) -> float:
    if not first:
        return 0.0
    added_ms = int(as_text(first[0][0]).partition("-")[0])
    now_ms = int(now[0]) * 1000 + int(now[1]) // 1000
    return max(now_ms - added_ms, 0) / 1000


def _consumer(raw: bytes | None) -> ConsumerInfo | None:
    if not raw:
        return None
    try:
        entry = orjson.loads(raw)
        return ConsumerInfo(str(entry["host"]), int(entry["pid"]), int(entry["started_at_ms"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _fields(reply: Any) -> dict[str, Any]:
    """A map reply by field name: parsed already (a server), or flat pairs (a cluster's MULTI,
    where redis-py applies no reply parser)."""
    if isinstance(reply, dict):
        return {as_text(name): value for name, value in reply.items()}
    pairs = iter(reply)
    return {as_text(name): value for name, value in zip(pairs, pairs, strict=True)}


def _stat(stats: dict[str, Any], name: str) -> int:
    return int(stats.get(name, 0))
