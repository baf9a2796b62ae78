"""Where a queue's ids are: read from the stream itself, the dead letters and the database.

Read in the order that makes the checker's arithmetic safe while events move (stream -> DB): the
stream first (XRANGE for every entry, XPENDING for the delivered ones), then the dead letters, then
the database. Redis calls are retried through a restart of the server (the redis-restart fault).

The drill is the auditor, so this module reads Redis on its own on purpose (XRANGE, XPENDING on
the key names of ``sluicegate.queue.keys``) rather than through the queue layer's reader: a bug
in how the queue layer reads or acknowledges entries must not also blind the check. It borrows
only the read-only helpers whose answers it reports as they are (``queue.stats.snapshot`` for the
counts, ``queue.lock.held_slots`` for the lock slots).
"""

import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TypeVar

from redis.exceptions import ResponseError

from sluicegate.drill import database
from sluicegate.drill.checker import Holdings, merged
from sluicegate.errors import DrillError
from sluicegate.queue import keys
from sluicegate.queue.client import (
    TRANSIENT_REDIS_ERRORS,
    as_text,
    refresh_topology,
    sync_client,
    topology_from_environment,
)
from sluicegate.queue.lock import LockEntry, held_slots
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
    ) -> None:
        """``topology``: the system's seeds or sentinels (None: as the environment says)."""
        where = topology_from_environment(redis_url) if topology is None else topology
        self.client = sync_client(redis_url, socket_timeout_s=5.0, topology=where)
        self.database_url = database_url
        self.queues = [queues] if isinstance(queues, str) else list(queues)
        self.queue = self.queues[0]  # the one a cluster fault aims at (its slot's primary)
        self.redis_timeout_s = redis_timeout_s
        self.slots = slots  # QUEUE_CONSUMERS: each queue's lock slots

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
        if len(self.queues) == 1:
            return [self._redis(lambda: snapshot(self.client, self.queue))]
        return self._redis(lambda: snapshots(self.client, self.queues))

    def lock_holders(self) -> dict[str, list[LockEntry]]:
        """Queue -> who holds its consumer lock slots (every one of QUEUE_CONSUMERS), in one
        round trip for every queue."""
        return self._redis(lambda: held_slots(self.client, self.queues, self.slots))

    def pending_by_consumer(self) -> dict[str, int]:
        """Group consumer name -> entries it holds, summed over the queues (a consumer process
        serves several queues under one name)."""
        return self._redis(self._pending_by_consumer)

    def _pending_by_consumer(self) -> dict[str, int]:
        with self.client.pipeline(transaction=False) as pipe:
            for queue in self.queues:
                pipe.xpending(keys.stream_key(queue), keys.CONSUMER_GROUP)
            replies = pipe.execute(raise_on_error=False)
        held: Counter[str] = Counter()
        for summary in replies:
            if isinstance(summary, ResponseError):  # no stream or no group yet
                continue
            for row in summary.get("consumers") or []:
                held[as_text(row["name"])] += int(row["pending"])
        return dict(held)

    def holdings(self) -> Holdings:
        """Where the ids of all the queues are, together."""
        return merged(self.holdings_by_queue().values())

    def holdings_by_queue(self) -> dict[str, Holdings]:
        """Where each queue's ids are, read stream -> pending -> dead letters -> database."""
        streams = [keys.stream_key(queue) for queue in self.queues]
        entries = self._redis(lambda: self._scan(streams))
        pending = self._redis(lambda: self._pending_entry_ids(streams))
        dead_keys = [keys.dead_letter_key(queue) for queue in self.queues]
        dead = self._redis(lambda: self._scan(dead_keys))
        rows = database.rows_by_queue(self.database_url, self.queues)
        found = {}
        for queue, stream, dead_key in zip(self.queues, streams, dead_keys, strict=True):
            own = entries[stream]
            in_flight = {
                event_id for entry_id, event_id in own.items() if entry_id in pending[stream]
            }
            counted = Counter(rows[queue])
            found[queue] = Holdings(
                queued=frozenset(set(own.values()) - in_flight),
                in_flight=frozenset(in_flight),
                dead=frozenset(dead[dead_key].values()),
                persisted=frozenset(counted),
                duplicated=frozenset(event_id for event_id, n in counted.items() if n > 1),
                rows=len(rows[queue]),
            )
        return found

    def _scan(self, streams: list[str]) -> dict[str, dict[str, str]]:
        """Stream -> (entry id -> event id) for every entry of each stream: one pipelined XRANGE
        per page, for all the streams with more to read."""
        found: dict[str, dict[str, str]] = {stream: {} for stream in streams}
        starts = dict.fromkeys(streams, "-")
        while starts:
            with self.client.pipeline(transaction=False) as pipe:
                for stream, start in starts.items():
                    pipe.xrange(stream, min=start, max="+", count=PAGE)
                pages = pipe.execute()
            for stream, page in zip(list(starts), pages, strict=True):
                for entry_id, fields in page:
                    found[stream][as_text(entry_id)] = as_text(fields[keys.FIELD_EVENT_ID.encode()])
                if len(page) < PAGE:
                    del starts[stream]
                else:
                    starts[stream] = "(" + as_text(page[-1][0])
        return found

    def _pending_entry_ids(self, streams: list[str]) -> dict[str, set[str]]:
        """Stream -> ids of its delivered, unacknowledged entries (pipelined, page by page)."""
        found: dict[str, set[str]] = {stream: set() for stream in streams}
        starts = dict.fromkeys(streams, "-")
        while starts:
            with self.client.pipeline(transaction=False) as pipe:
                for stream, start in starts.items():
                    pipe.xpending_range(stream, keys.CONSUMER_GROUP, min=start, max="+", count=PAGE)
                pages = pipe.execute(raise_on_error=False)
            for stream, page in zip(list(starts), pages, strict=True):
                if isinstance(page, ResponseError):  # no stream or no group yet
                    del starts[stream]
                    continue
                found[stream].update(as_text(row["message_id"]) for row in page)
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


def total(counts: Iterable[QueueSnapshot]) -> QueueSnapshot:
    """Several queues' snapshots added up (the oldest event's age: the worst of them)."""
    counts = list(counts)
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
