"""Where a queue's ids are: read from the stream itself, the dead letters and the database.

Read in the order that makes the checker's arithmetic safe while events move (stream -> DB): the
stream first (XRANGE for every entry, XPENDING for the delivered ones), then the dead letters, then
the database. Redis calls are retried through a restart of the server (the redis-restart fault).

The drill is the auditor, so this module reads Redis on its own on purpose (XRANGE, XPENDING on
the key names of ``sluicegate.queue.keys``) rather than through the queue layer's reader: a bug
in how the queue layer reads or acknowledges entries must not also blind the check. It borrows
only the read-only helpers whose answers it reports as they are (``queue.stats.snapshot`` for the
counts, ``queue.lock.held_slots`` for the lock slots), and ``queue.entry_format.entry_event_ids``
for the ids an entry holds (several in a packed entry; why: in ``_scan``).
"""

import time
from collections import Counter
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeVar

from redis.exceptions import ResponseError

from sluicegate.drill.checker import Holdings, merged
from sluicegate.drill.destinations import Destination
from sluicegate.errors import DrillError
from sluicegate.queue import keys
from sluicegate.queue.client import (
    TRANSIENT_REDIS_ERRORS,
    as_text,
    refresh_topology,
    sync_client,
    topology_from_environment,
)
from sluicegate.queue.entry_format import entry_event_ids
from sluicegate.queue.lanes import Lane
from sluicegate.queue.lock import LockEntry, held_lane_slots
from sluicegate.queue.stats import QueueSnapshot, snapshot, snapshots
from sluicegate.queue.topology import Topology

T = TypeVar("T")
PAGE = 10_000
_TRANSIENT = TRANSIENT_REDIS_ERRORS
_RETRY_S = 0.05


class Observer:
    """Reads the drill's queues: every read covers all of them in one pipelined round trip (or
    one per page), and the database in one query, so 500 queues cost about what one does."""

    def __init__(
        self,
        redis_url: str,
        database_url: str,
        queues: str | list[str],
        redis_timeout_s: float = 30.0,
        slots: int = 1,
        topology: Topology | None = None,
        destinations: list[Destination] | None = None,
    ) -> None:
        """``topology``: the system's seeds or sentinels (None: as the environment says);
        ``destinations``: each with its consumer group and store (None: sql, the database)."""
        where = topology_from_environment(redis_url) if topology is None else topology
        self.client = sync_client(redis_url, socket_timeout_s=5.0, topology=where)
        self.database_url = database_url
        self.queues = [queues] if isinstance(queues, str) else list(queues)
        self.queue = self.queues[0]  # the one a cluster fault aims at (its slot's primary)
        self.redis_timeout_s = redis_timeout_s
        self.slots = slots  # QUEUE_CONSUMERS: each queue's lock slots
        self.destinations = destinations or [Destination("sql", "sql", database_url)]

    def close(self) -> None:
        self.client.close()

    def _redis(self, operation: Callable[[], T]) -> T:
        """Run a Redis read, riding through a restarting server or a failover until the
        timeout."""
        deadline = time.monotonic() + self.redis_timeout_s
        while True:
            try:
                return operation()
            except _TRANSIENT as error:
                if time.monotonic() > deadline:
                    raise DrillError(
                        f"Redis unreachable for {self.redis_timeout_s:.0f} s: {error}"
                    ) from error
                time.sleep(_RETRY_S)
                # A node that died and stays down (drill --cluster --fault seed-kill): the
                # per-primary reads must learn who serves its slots now.
                refresh_topology(self.client)

    def counts(self) -> QueueSnapshot:
        """The counts of all the queues together (one queue's as they are)."""
        return total(self.counts_by_queue())

    def counts_by_queue(self) -> list[QueueSnapshot]:
        """Each queue's snapshot: its first destination's figures, the others' in ``lanes``."""
        names = [d.name for d in self.destinations]
        if len(self.queues) == 1:
            return [self._redis(lambda: snapshot(self.client, self.queue, destinations=names))]
        return self._redis(lambda: snapshots(self.client, self.queues))

    def stream_lengths(self) -> dict[str, int]:
        """Entries each queue's stream holds (XLEN, one pipelined round trip): what Redis still
        keeps of them, for any destination. Entries, not events (a packed entry holds several):
        the memory check only asks whether a drained stream is empty."""
        return self._redis(self._stream_lengths)

    def _stream_lengths(self) -> dict[str, int]:
        with self.client.pipeline(transaction=False) as pipe:
            for queue in self.queues:
                pipe.xlen(keys.stream_key(queue))
            lengths = pipe.execute()
        return {queue: int(length) for queue, length in zip(self.queues, lengths, strict=True)}

    def lock_holders(self) -> dict[str, list[LockEntry]]:
        """Queue -> who holds its consumer lock slots (every one of QUEUE_CONSUMERS, of every
        destination), in one round trip for every queue."""
        lanes = [Lane(queue, d.name) for queue in self.queues for d in self.destinations]
        held = self._redis(lambda: held_lane_slots(self.client, lanes, self.slots))
        found: dict[str, list[LockEntry]] = {queue: [] for queue in self.queues}
        for lane, entries in held.items():
            found[lane.queue] += entries
        return found

    def pending_by_consumer(self) -> dict[str, int]:
        """Group consumer name -> events it holds (delivered, not acknowledged), summed over the
        queues and destinations (a consumer process serves several queues under one name). A
        packed entry holds its request's events; an entry gone from the stream still counts one,
        so that "holds nothing" means it."""
        return self._redis(self._pending_by_consumer)

    def _pending_by_consumer(self) -> dict[str, int]:
        streams = [keys.stream_key(queue) for queue in self.queues]
        held: Counter[str] = Counter()
        for destination in self.destinations:
            owners = self._pending_entries(streams, destination.group)
            with self.client.pipeline(transaction=False) as pipe:
                for stream, entries in owners.items():
                    for entry in entries:
                        pipe.xrange(stream, min=entry, max=entry)
                found = iter(pipe.execute())
            for entries in owners.values():
                for consumer in entries.values():
                    rows = next(found)
                    held[consumer] += len(entry_event_ids(rows[0][1])) if rows else 1
        return dict(held)

    def holdings(self) -> Holdings:
        """Where the ids of all the queues are, together (for the first destination)."""
        return merged(self.holdings_by_queue().values())

    def holdings_by_queue(self) -> dict[str, Holdings]:
        """Where each queue's ids are, for the first destination (the only one by default)."""
        return next(iter(self.holdings_by_destination().values()))

    def holdings_by_destination(self) -> dict[str, dict[str, Holdings]]:
        """Destination -> queue -> where its ids are for that destination, read stream -> each
        group's position -> each group's pending -> dead letters -> each store. Queued: entries
        its group has not been handed yet; in flight: its group's pending ones; an entry handed
        and no longer pending was acknowledged, so it must be in the store (or dead). A packed
        entry's events share its place: all queued, or all in flight."""
        streams = [keys.stream_key(queue) for queue in self.queues]
        entries = self._redis(lambda: self._scan(streams))
        positions = self._redis(lambda: self._positions(streams))
        pending = {
            d.name: self._redis(partial(self._pending_entry_ids, streams, d.group))
            for d in self.destinations
        }
        dead_keys = {
            d.name: [keys.dead_letter_key(queue, d.name) for queue in self.queues]
            for d in self.destinations
        }
        dead = self._redis(lambda: self._scan([k for each in dead_keys.values() for k in each]))
        rows = {d.name: d.rows_by_queue(self.queues) for d in self.destinations}
        return {
            d.name: {
                queue: _holdings(
                    entries[stream],
                    positions[stream].get(d.group, "0-0"),
                    pending[d.name][stream],
                    dead[dead_key],
                    rows[d.name][queue],
                )
                for queue, stream, dead_key in zip(
                    self.queues, streams, dead_keys[d.name], strict=True
                )
            }
            for d in self.destinations
        }

    def lags_s(self) -> dict[str, float]:
        """Destination -> its lag: the age of the oldest entry its group has not acknowledged
        (pending, or not handed yet), the worst over the queues; 0 when it has them all."""
        return self._redis(self._lags_s)

    def _lags_s(self) -> dict[str, float]:
        streams = [keys.stream_key(queue) for queue in self.queues]
        positions = self._positions(streams)
        with self.client.pipeline(transaction=False) as pipe:
            for stream in streams:
                for d in self.destinations:
                    pipe.xpending(stream, d.group)
                    after = positions[stream].get(d.group, "0-0")
                    pipe.xrange(stream, min="(" + after, max="+", count=1)
            pipe.time()
            replies = pipe.execute(raise_on_error=False)
        seconds, micros = replies.pop()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        oldest: dict[str, int] = {}
        for index, (summary, first) in enumerate(zip(replies[::2], replies[1::2], strict=True)):
            name = self.destinations[index % len(self.destinations)].name
            for entry in _oldest_unacknowledged(summary, first):
                ms = int(entry.partition("-")[0])
                oldest[name] = min(oldest.get(name, ms), ms)
        return {
            d.name: max(0, now_ms - oldest[d.name]) / 1000 if d.name in oldest else 0.0
            for d in self.destinations
        }

    def _positions(self, streams: list[str]) -> dict[str, dict[str, str]]:
        """Stream -> group -> the last entry id handed to the group (XINFO GROUPS)."""
        with self.client.pipeline(transaction=False) as pipe:
            for stream in streams:
                pipe.xinfo_groups(stream)
            replies = pipe.execute(raise_on_error=False)
        found: dict[str, dict[str, str]] = {}
        for stream, reply in zip(streams, replies, strict=True):
            groups = [] if isinstance(reply, ResponseError) else reply  # no stream yet
            found[stream] = {
                as_text(group["name"]): as_text(group["last-delivered-id"]) for group in groups
            }
        return found

    def _scan(self, streams: list[str]) -> dict[str, dict[str, list[str]]]:
        """Stream -> (entry id -> its event ids) for every entry of each stream: one pipelined
        XRANGE per page, for all the streams with more to read."""
        found: dict[str, dict[str, list[str]]] = {stream: {} for stream in streams}
        starts = dict.fromkeys(streams, "-")
        while starts:
            with self.client.pipeline(transaction=False) as pipe:
                for stream, start in starts.items():
                    pipe.xrange(stream, min=start, max="+", count=PAGE)
                pages = pipe.execute()
            for stream, page in zip(list(starts), pages, strict=True):
                for entry_id, fields in page:
                    # One id, or a packed entry's several. Borrowed from queue.entry_format
                    # rather than parsed again here: it is the format's definition (field names,
                    # separator), a pure function of what XRANGE returned, sharing no code with
                    # the consumers' read path (decode_entries reads by position). An id it
                    # misread would show as lost, failing the check loudly; it cannot hide an
                    # event the consumers lost: an acknowledged entry is gone, whoever reads.
                    found[stream][as_text(entry_id)] = entry_event_ids(fields)
                if len(page) < PAGE:
                    del starts[stream]
                else:
                    starts[stream] = "(" + as_text(page[-1][0])
        return found

    def _pending_entry_ids(self, streams: list[str], group: str) -> dict[str, set[str]]:
        """Stream -> ids of its entries handed to ``group`` and not acknowledged."""
        return {stream: set(held) for stream, held in self._pending_entries(streams, group).items()}

    def _pending_entries(self, streams: list[str], group: str) -> dict[str, dict[str, str]]:
        """Stream -> its entries handed to ``group`` and not acknowledged, each with the consumer
        holding it (pipelined, page by page)."""
        found: dict[str, dict[str, str]] = {stream: {} for stream in streams}
        starts = dict.fromkeys(streams, "-")
        while starts:
            with self.client.pipeline(transaction=False) as pipe:
                for stream, start in starts.items():
                    pipe.xpending_range(stream, group, min=start, max="+", count=PAGE)
                pages = pipe.execute(raise_on_error=False)
            for stream, page in zip(list(starts), pages, strict=True):
                if isinstance(page, ResponseError):  # no stream or no group yet
                    del starts[stream]
                    continue
                found[stream].update(
                    (as_text(row["message_id"]), as_text(row["consumer"])) for row in page
                )
                if len(page) < PAGE:
                    del starts[stream]
                else:
                    starts[stream] = "(" + as_text(page[-1]["message_id"])
        return found

    def wait_until(
        self, condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.05
    ) -> bool:
        """Poll ``condition`` until it holds or ``timeout_s`` passes; True if it held."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(interval_s)
        return True


def _holdings(
    entries: dict[str, list[str]],
    handed: str,
    pending: set[str],
    dead: dict[str, list[str]],
    rows: list[str],
) -> Holdings:
    """One queue's ids for one destination: ``entries`` (entry id -> its event ids) of the
    stream, the last entry ``handed`` to its group, its group's ``pending`` entries, its dead
    letters, and the ids of its store's rows."""
    in_flight = {event_id for entry in pending for event_id in entries.get(entry, ())}
    queued = {
        event_id
        for entry, event_ids in entries.items()
        if _after(entry, handed)
        for event_id in event_ids
    }
    counted = Counter(rows)
    return Holdings(
        queued=frozenset(queued - in_flight),
        in_flight=frozenset(in_flight),
        dead=frozenset(event_id for event_ids in dead.values() for event_id in event_ids),
        persisted=frozenset(counted),
        duplicated=frozenset(event_id for event_id, n in counted.items() if n > 1),
        rows=len(rows),
    )


def _oldest_unacknowledged(summary: Any, first: Any) -> list[str]:
    """The oldest pending entry (XPENDING's summary) and the next one not handed yet (an XRANGE
    of one), those that exist."""
    found = []
    if not isinstance(first, ResponseError) and first:
        found.append(as_text(first[0][0]))
    if not isinstance(summary, ResponseError) and summary.get("min"):
        found.append(as_text(summary["min"]))
    return found


def _after(entry_id: str, handed: str) -> bool:
    """Entry ids compare as (milliseconds, sequence)."""
    ms, _, seq = entry_id.partition("-")
    last_ms, _, last_seq = handed.partition("-")
    return (int(ms), int(seq or 0)) > (int(last_ms), int(last_seq or 0))


def total(counts: Iterable[QueueSnapshot]) -> QueueSnapshot:
    """Several queues' snapshots added up, every destination's lane of each (the oldest event's
    age: the worst of them): queued and in flight count what any destination still has to do."""
    counts = [lane for snap in counts for lane in snap.lanes]
    if len(counts) == 1:
        return counts[0]
    return QueueSnapshot(
        queue=f"<{len(counts)} queues>",
        queued=sum(c.queued for c in counts),
        in_flight=sum(c.in_flight for c in counts),
        dead_lettered=sum(c.dead_lettered for c in counts),
        persisted_acks=sum(c.persisted_acks for c in counts),
        duplicates_suppressed=sum(c.duplicates_suppressed for c in counts),
        reclaimed=sum(c.reclaimed for c in counts),
        oldest_age_s=max((c.oldest_age_s for c in counts), default=0.0),
        accepted=sum(c.accepted for c in counts),
        consumers=tuple(consumer for c in counts for consumer in c.consumers),
    )
