"""A consistent snapshot of where a queue's events are: queued, in flight, dead-lettered, stored.

Everything is read in one MULTI, so the conservation line ``accepted = persisted + queued +
in flight + dead`` is checked on one instant of the server, never on figures read apart; it
holds for each destination of the queue (each has its own consumer group, dead letters and
counters; ``accepted`` is the queue's).
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import orjson
import redis
import redis.asyncio
import redis.asyncio.cluster
from redis.exceptions import ResponseError

from sluicegate.queue import keys
from sluicegate.queue.client import as_text, is_cluster_client
from sluicegate.queue.lanes import parse_state
from sluicegate.queue.scripts import LANES, lua

_SCAN_COUNT = 1000  # keys a primary looks at per SCAN call


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
    destination: str = keys.DEFAULT_DESTINATION
    others: tuple["QueueSnapshot", ...] = ()  # the queue's other destinations (``snapshot``)

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

    @property
    def lanes(self) -> tuple["QueueSnapshot", ...]:
        """This destination's snapshot and the queue's other destinations'."""
        return (replace(self, others=()), *self.others)

    def as_json(self) -> dict[str, Any]:
        """The shape of ``GET /v1/queues/{queue}`` and ``sluicegate status --json``: the first
        destination's figures, and with several destinations each one's under ``destinations``."""
        found = self._figures()
        if self.others:
            found["destinations"] = [lane._figures() for lane in self.lanes]
        return found

    def _figures(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "destination": self.destination,
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


def snapshot(
    client: "redis.Redis", queue: str, slots: int = 1, destinations: Sequence[str] = ()
) -> QueueSnapshot:
    """Read counts in one MULTI, so an ack between two reads cannot make an event vanish.

    One lane per destination (``destinations``, else the queue's consumer groups): the first
    destination's snapshot, the others in its ``others``. A destination's oldest event not yet
    stored is the oldest entry its group has not acknowledged (``lua/lanes.lua``); its id holds
    the server's clock at XADD, compared with the same server's TIME (no skew).
    """
    names = list(destinations) or _discovered(client, [queue])[queue]
    with client.pipeline(transaction=True) as pipe:
        _queue_reads(pipe, queue, slots, names)
        try:
            replies = pipe.execute()
        except ResponseError:  # a key of another type under the name: nothing to show
            return QueueSnapshot(queue, 0, 0, 0, 0, 0, 0)
    return _parsed(queue, replies, names, slots)


def snapshots(client: "redis.Redis", queues: list[str], slots: int = 1) -> list[QueueSnapshot]:
    """``snapshot`` of every queue of ``queues``, in two round trips on a server: every queue's
    reads in one MULTI (one instant for them all). A cluster's MULTI stays in one slot: one
    snapshot per queue there."""
    if is_cluster_client(client):
        return [snapshot(client, queue, slots) for queue in queues]
    names = _discovered(client, queues)
    with client.pipeline(transaction=True) as pipe:
        for queue in queues:
            _queue_reads(pipe, queue, slots, names[queue])
        replies = pipe.execute(raise_on_error=False)
    found = []
    start = 0
    for queue in queues:
        count = _read_count(names[queue], slots)
        own = replies[start : start + count]
        start += count
        if any(isinstance(reply, ResponseError) for reply in own):
            found.append(QueueSnapshot(queue, 0, 0, 0, 0, 0, 0))
        else:
            found.append(_parsed(queue, own, names[queue], slots))
    return found


async def snapshot_async(
    client: "redis.asyncio.Redis", queue: str, slots: int = 1
) -> QueueSnapshot:
    """``snapshot`` for the API's asyncio client: the same reads in one MULTI."""
    names = await _discovered_async(client, queue)
    try:
        async with client.pipeline(transaction=True) as pipe:
            _queue_reads(pipe, queue, slots, names)
            replies = await pipe.execute()
    except ResponseError:  # a key of another type under the name: nothing to show
        return QueueSnapshot(queue, 0, 0, 0, 0, 0, 0)
    return _parsed(queue, replies, names, slots)


async def known_snapshot_async(
    client: "redis.asyncio.Redis", queue: str, slots: int = 1
) -> QueueSnapshot | None:
    """``snapshot_async`` of a queue that ever accepted an event; None for one never heard of
    (the API answers 404 for it rather than a snapshot of zeros)."""
    if not await client.exists(keys.stream_key(queue)):
        return None
    return await snapshot_async(client, queue, slots)


def _discovered(client: "redis.Redis", queues: Sequence[str]) -> dict[str, list[str]]:
    """Each queue's destinations, as its stream's consumer groups say (one round trip)."""
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.xinfo_groups(keys.stream_key(queue))
        replies = pipe.execute(raise_on_error=False)
    return {queue: _destinations(reply) for queue, reply in zip(queues, replies, strict=True)}


async def _discovered_async(client: "redis.asyncio.Redis", queue: str) -> list[str]:
    try:
        groups: Any = await client.xinfo_groups(keys.stream_key(queue))
    except ResponseError:  # no stream yet
        groups = []
    return _destinations(groups)


def _destinations(groups: Any) -> list[str]:
    """The destinations of the groups, the default one first; a stream without a group has the
    default destination's lane (its group comes with the first read)."""
    if isinstance(groups, Exception):  # no stream yet
        groups = []
    found = {keys.destination_of_group(as_text(_fields(group)["name"])) for group in groups}
    if not found:
        return [keys.DEFAULT_DESTINATION]
    first = [keys.DEFAULT_DESTINATION] if keys.DEFAULT_DESTINATION in found else []
    return first + sorted(found - {keys.DEFAULT_DESTINATION})


def _read_count(destinations: Sequence[str], slots: int) -> int:
    return 2 + len(destinations) * (1 + slots)


def _queue_reads(pipe: Any, queue: str, slots: int, destinations: Sequence[str]) -> None:
    """What a snapshot reads, in this order; all keys in the queue's slot."""
    reads: list[tuple[Any, ...]] = [
        ("EVAL", lua(LANES).source, 3, *keys.counted_keys(queue), "1"),
        ("HGETALL", keys.stats_key(queue)),
    ]
    for destination in destinations:
        reads.append(("XLEN", keys.dead_letter_key(queue, destination)))
        reads.extend(("GET", key) for key in keys.lock_keys(queue, slots, destination))
    for command in reads:
        pipe.execute_command(*command)


def _parsed(
    queue: str, replies: list[Any], destinations: Sequence[str], slots: int
) -> QueueSnapshot:
    state, stats, *per_destination = replies
    lanes = parse_state(state)
    stats = _fields(stats)
    # The quarantined are in the default destination's dead letters; the others count them too.
    quarantined = max(_stat(stats, keys.STAT_QUARANTINED), 0)
    found = []
    for index, destination in enumerate(destinations):
        dead, *locks = per_destination[index * (1 + slots) : (index + 1) * (1 + slots)]
        found.append(
            QueueSnapshot(
                queue=queue,
                queued=lanes.queued_events(destination),
                in_flight=lanes.in_flight_events(destination),
                dead_lettered=int(dead)
                + (0 if destination == keys.DEFAULT_DESTINATION else quarantined),
                persisted_acks=_stat(stats, keys.STAT_PERSISTED, destination),
                duplicates_suppressed=_stat(stats, keys.STAT_DUPLICATES_SUPPRESSED, destination),
                reclaimed=_stat(stats, keys.STAT_RECLAIMED, destination),
                oldest_age_s=lanes.oldest_age_s(destination),
                accepted=_stat(stats, keys.STAT_ACCEPTED),
                consumers=tuple(info for lock in locks if (info := _consumer(lock)) is not None),
                destination=destination,
            )
        )
    first, *others = found
    return replace(first, others=tuple(others))


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


def _stat(stats: dict[str, Any], name: str, destination: str = keys.DEFAULT_DESTINATION) -> int:
    return int(stats.get(keys.stat_field(name, destination), 0))
