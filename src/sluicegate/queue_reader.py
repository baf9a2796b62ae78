"""A consumer's side of one queue: read, reclaim, acknowledge and dead-letter stream entries."""

from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import ResponseError

from sluicegate import keys
from sluicegate.events import Delivery, Event, now_ms


def ensure_group(client: "redis.Redis", queue: str) -> None:
    """Create the consumer group from the stream's start, so nothing added before is skipped."""
    try:
        client.xgroup_create(keys.stream_key(queue), keys.CONSUMER_GROUP, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


class QueueReader:
    """Group operations for one (queue, consumer name) pair."""

    def __init__(self, client: "redis.Redis", queue: str, consumer: str) -> None:
        self.client = client
        self.queue = queue
        self.consumer = consumer
        self._stream = keys.stream_key(queue)

    def read_own_pending(self, count: int) -> list[Delivery]:
        """Entries delivered to this consumer name and never acked (read with id 0)."""
        return self._read("0", count, block_ms=None)

    def read_new(self, count: int, block_ms: int) -> list[Delivery]:
        return self._read(">", count, block_ms)

    def _read(self, start: str, count: int, block_ms: int | None) -> list[Delivery]:
        try:
            reply: Any = self.client.xreadgroup(
                keys.CONSUMER_GROUP,
                self.consumer,
                {self._stream: start},
                count=count,
                block=block_ms,
            )
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            ensure_group(self.client, self.queue)  # the server lost its data: start again
            return []
        return self._deliveries(reply[0][1]) if reply else []

    def length(self) -> int:
        """Entries still in the stream: queued, or pending with some consumer."""
        return int(self.client.xlen(self._stream))

    def reclaim(self, min_idle_s: float, count: int) -> list[Delivery]:
        """Take over entries another consumer left idle (it died, or lost its lock)."""
        try:
            reply: Any = self.client.xautoclaim(
                self._stream,
                keys.CONSUMER_GROUP,
                self.consumer,
                min_idle_time=int(min_idle_s * 1000),
                start_id="0-0",
                count=count,
            )
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            return []
        return self._deliveries(reply[1])

    def _deliveries(self, entries: Sequence[Any]) -> list[Delivery]:
        # XAUTOCLAIM reports entries deleted meanwhile as (id, None); there is nothing to deliver.
        return [
            Delivery(entry_id=entry_id.decode(), event=Event.from_fields(self.queue, fields))
            for entry_id, fields in entries
            if fields
        ]

    def ack(self, deliveries: Sequence[Delivery], persisted: int, duplicates: int) -> None:
        """Acknowledge and delete persisted entries, atomically, so memory stays bounded."""
        if not deliveries:
            return
        ids = [delivery.entry_id for delivery in deliveries]
        stats = keys.stats_key(self.queue)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.xack(self._stream, keys.CONSUMER_GROUP, *ids)
            pipe.xdel(self._stream, *ids)
            pipe.hincrby(stats, keys.STAT_PERSISTED, persisted)
            pipe.hincrby(stats, keys.STAT_DUPLICATES_SUPPRESSED, duplicates)
            pipe.execute()

    def delivery_counts(self, deliveries: Sequence[Delivery]) -> dict[str, int]:
        """How many times each entry has been delivered (for the dead-letter threshold)."""
        counts: dict[str, int] = {}
        with self.client.pipeline(transaction=False) as pipe:
            for delivery in deliveries:
                pipe.xpending_range(
                    self._stream,
                    keys.CONSUMER_GROUP,
                    min=delivery.entry_id,
                    max=delivery.entry_id,
                    count=1,
                )
            for delivery, rows in zip(deliveries, pipe.execute(), strict=True):
                counts[delivery.entry_id] = int(rows[0]["times_delivered"]) if rows else 0
        return counts

    def dead_letter(self, delivery: Delivery, reason: str, deliveries: int) -> None:
        """Move one entry to the dead-letter stream with its reason, in one transaction."""
        event = delivery.event
        fields: dict[str, str | int] = {
            **event.to_fields(),
            keys.FIELD_REASON: reason[:2000],
            keys.FIELD_DELIVERIES: deliveries,
            keys.FIELD_DEAD_AT: now_ms(),
        }
        with self.client.pipeline(transaction=True) as pipe:
            pipe.xadd(keys.dead_letter_key(self.queue), fields)  # type: ignore[arg-type]
            pipe.xack(self._stream, keys.CONSUMER_GROUP, delivery.entry_id)
            pipe.xdel(self._stream, delivery.entry_id)
            pipe.hincrby(keys.stats_key(self.queue), keys.STAT_DEAD_LETTERED, 1)
            pipe.execute()

    def count_reclaimed(self, count: int) -> None:
        if count:
            self.client.hincrby(keys.stats_key(self.queue), keys.STAT_RECLAIMED, count)

    def forget_idle_consumers(self, idle_s: float) -> None:
        """Remove consumers of dead processes that hold nothing any more, to keep the group tidy."""
        for info in self.client.xinfo_consumers(self._stream, keys.CONSUMER_GROUP):
            name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
            if name != self.consumer and info["pending"] == 0 and info["idle"] > idle_s * 1000:
                self.client.xgroup_delconsumer(self._stream, keys.CONSUMER_GROUP, name)
