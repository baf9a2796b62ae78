"""A consumer's side of one queue: read, reclaim, acknowledge and dead-letter stream entries."""

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import redis
from redis.exceptions import NoScriptError, ResponseError

from sluicegate.events import Delivery, now_ms
from sluicegate.process.liveness import is_gone
from sluicegate.queue import keys
from sluicegate.queue.client import as_text
from sluicegate.queue.entry_format import decode_entries, events_of_fields
from sluicegate.queue.lanes import Gathering, StreamState, ensure_groups, stream_states
from sluicegate.queue.pending_reply import PendingReply, round_trip
from sluicegate.queue.scripts import ACK, COUNT_RECLAIMED, DEAD_LETTER, FORGET_CONSUMER, lua

_ENTRY_ID = attrgetter("entry_id")


class QueueReader:
    """Group operations for one (queue, destination, consumer name): the destination's consumer
    group. ``starts``: every group of the queue's destinations with its start ('0' or '$'),
    made again together when the server lost them."""

    def __init__(
        self,
        client: "redis.Redis",
        queue: str,
        consumer: str,
        destination: str = keys.DEFAULT_DESTINATION,
        starts: Sequence[tuple[str, str]] = (),
        gathering: Gathering | None = None,
    ) -> None:
        self.client = client
        self.queue = queue
        self.consumer = consumer
        self.destination = destination
        self.group = keys.consumer_group(destination)
        self._suffix = keys.destination_suffix(destination)
        self._starts = list(starts) or [(self.group, "0")]
        self.gathering = gathering
        self._stream = keys.stream_key(queue)
        self._ack_script = client.register_script(lua(ACK).source)
        self._ack_keys = keys.counted_keys(queue)
        self._forget_script = client.register_script(lua(FORGET_CONSUMER).source)
        self._dead_letter_script = client.register_script(lua(DEAD_LETTER).source)
        self._count_reclaimed_script = client.register_script(lua(COUNT_RECLAIMED).source)
        # Events per entry in the last read: a read asks for entries (XREADGROUP's COUNT), the
        # caller for events, and a packed entry holds a whole request's.
        self._events_per_entry = 1.0

    def entries_for(self, events: int) -> int:
        """How many entries to read for about ``events`` events, as the last read went."""
        return max(1, round(events / self._events_per_entry))

    def learn_entry_size(self) -> None:
        """Events per entry as the stream holds them now, for a first read that asks for about
        a batch of events, not a batch of requests (up to 1,000 events each)."""
        state = self._state()
        group = state.groups.get(self.destination)
        if state.length and group is not None and group.events:
            self._events_per_entry = max(group.events / state.length, 1.0)

    def read_own_pending(self, count: int) -> tuple[list[Delivery], bool]:
        """Events of entries delivered to this consumer name and never acked (read with id 0),
        and whether there may be more (the read was full)."""
        entries = self.entries_for(count)
        own = self._send_read_command(self._read_command("0", entries, block_ms=None)).result()
        return own, len(dict.fromkeys(map(_ENTRY_ID, own))) >= entries

    def read_new(self, count: int, block_ms: int | None) -> list[Delivery]:
        """New entries; ``block_ms`` None: answer at once, even with nothing."""
        return self.send_read(">", count, block_ms).result()

    def send_read(
        self, start: str, count: int, block_ms: int | None
    ) -> PendingReply[list[Delivery]]:
        """Send XREADGROUP now, collect the batch later with ``result()``."""
        return self._send_read_command(self._read_command(start, self.entries_for(count), block_ms))

    def _send_read_command(self, command: list[str | int]) -> PendingReply[list[Delivery]]:
        return PendingReply(
            self.client, command, self._parse_read, self._recover_read, key=self._stream
        )

    def _read_command(self, start: str, entries: int, block_ms: int | None) -> list[str | int]:
        block: list[str | int] = ["BLOCK", block_ms] if block_ms is not None else []
        command: list[str | int] = ["XREADGROUP", "GROUP", self.group, self.consumer]
        return [*command, "COUNT", entries, *block, "STREAMS", self._stream, start]

    def _parse_read(self, reply: Any) -> list[Delivery]:
        if not reply:
            return []
        # RESP3 answers a map {stream: entries}; RESP2 a list [[stream, entries]].
        entries = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
        return self._decoded(entries)

    def _decoded(self, entries: Any) -> list[Delivery]:
        deliveries = decode_entries(self.queue, entries)
        if deliveries:
            self._events_per_entry = len(deliveries) / len(entries)
        return deliveries

    def _recover_read(self, error: ResponseError) -> list[Delivery]:
        if "NOGROUP" not in str(error):
            raise error
        self.ensure_groups()  # the server lost its data: start again
        return []

    def ensure_groups(self) -> None:
        """The consumer groups of the queue's destinations, made where missing."""
        ensure_groups(self.client, self.queue, self._starts)

    def upkeep(self, count: int, min_idle_s: float, read_new: bool = True) -> "Upkeep":
        """A visit's maintenance reads in one round trip: this consumer's own pending entries,
        the entries other consumers left idle past ``min_idle_s`` (XAUTOCLAIM takes them over),
        the group's consumers (to take over those of dead ones, and to forget them), and then
        new entries (without blocking; not with ``read_new`` False). Everything in ``own``,
        ``claimed`` and ``new`` is delivered to this consumer."""
        group, entries = self.group, self.entries_for(count)
        claim: list[str | int] = ["XAUTOCLAIM", self._stream, group, self.consumer]
        claim += [int(min_idle_s * 1000), "0-0", "COUNT", entries]
        commands: list[list[str | int]] = [
            self._read_command("0", entries, block_ms=None),
            claim,
            ["XINFO", "CONSUMERS", self._stream, group],
        ]
        if read_new:
            commands.append(self._read_command(">", entries, block_ms=None))
        replies = round_trip(self.client, commands, key=self._stream)
        errors = [reply for reply in replies if isinstance(reply, ResponseError)]
        if errors:  # no group (the server lost its data): made again, nothing to do yet
            self._recover_read(errors[0])
            return Upkeep([], [], [], [])
        own_reply, claim_reply, infos, *new_reply = replies
        own = self._parse_read(own_reply)
        mine = {delivery.entry_id for delivery in own}
        claimed = [d for d in self._decoded(claim_reply[1]) if d.entry_id not in mine]
        consumers = [_consumer_info(info) for info in infos]
        return Upkeep(own, claimed, consumers, self._parse_read(new_reply[0] if new_reply else []))

    def length(self) -> int:
        """Entries the destination has still to store: queued for it, or pending with its
        consumers (with one destination: every entry of the stream)."""
        return self._state().work(self.destination)

    def ready(self) -> bool:
        """Read new entries now? Always, unless the destination gathers larger batches
        (``Gathering``): then once enough wait, or the oldest waited long enough."""
        return self.gathering is None or self._state().ready(self.destination, self.gathering)

    def _state(self) -> StreamState:
        return stream_states(self.client, [self.queue])[self.queue]

    def reclaim(self, min_idle_s: float, count: int) -> list[Delivery]:
        """Take over entries another consumer left idle (it died, or lost its lock)."""
        try:
            reply: Any = self.client.xautoclaim(
                self._stream,
                self.group,
                self.consumer,
                min_idle_time=int(min_idle_s * 1000),
                start_id="0-0",
                count=self.entries_for(count),
            )
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            return []
        return self._deliveries(reply[1])

    def _deliveries(
        self, entries: Iterable[tuple[bytes, dict[bytes, bytes] | None]]
    ) -> list[Delivery]:
        """Deliveries from replies redis-py parsed (fields as a dict); raw replies, the hot path,
        go to ``decode_entries``. Entries deleted meanwhile come back without fields."""
        return [
            Delivery(entry_id.decode(), event)
            for entry_id, fields in entries
            if fields
            for event in events_of_fields(self.queue, fields)
        ]

    def ack(self, deliveries: Sequence[Delivery], persisted: int, duplicates: int) -> None:
        """Acknowledge and delete the entries of persisted events atomically, so memory stays
        bounded; every event of each entry must be in ``deliveries``."""
        if deliveries:
            args = self._ack_args(deliveries, persisted, duplicates)
            self._ack_script(keys=self._ack_keys, args=args)

    def send_ack(
        self, deliveries: Sequence[Delivery], persisted: int, duplicates: int
    ) -> PendingReply[None]:
        """``ack`` sent now and confirmed later; a server that forgot the script gets it again."""
        command: list[str | int] = ["EVALSHA", self._ack_script.sha, len(self._ack_keys)]
        command += [*self._ack_keys, *self._ack_args(deliveries, persisted, duplicates)]

        def recover(error: ResponseError) -> None:
            if not isinstance(error, NoScriptError):
                raise error
            self.ack(deliveries, persisted, duplicates)

        return PendingReply(self.client, command, lambda _: None, recover, key=self._stream)

    def _ack_args(
        self, deliveries: Sequence[Delivery], persisted: int, duplicates: int
    ) -> list[str | int]:
        """``ack.lua``'s: the packed entries (the script reads how many events each holds),
        then the single ones."""
        counts = Counter(map(_ENTRY_ID, deliveries))
        packed = [entry_id for entry_id, n in counts.items() if n > 1]
        singles = [entry_id for entry_id, n in counts.items() if n == 1]
        args: list[str | int] = [self.group, persisted, duplicates, self._suffix, len(packed)]
        return [*args, *packed, *singles]

    def delivery_counts(self, deliveries: Sequence[Delivery]) -> dict[str, int]:
        """How many times each entry has been delivered (for the dead-letter threshold)."""
        counts: dict[str, int] = {}
        with self.client.pipeline(transaction=False) as pipe:
            for delivery in deliveries:
                pipe.xpending_range(
                    self._stream,
                    self.group,
                    min=delivery.entry_id,
                    max=delivery.entry_id,
                    count=1,
                )
            for delivery, rows in zip(deliveries, pipe.execute(), strict=True):
                counts[delivery.entry_id] = int(rows[0]["times_delivered"]) if rows else 0
        return counts

    def dead_letter(self, delivery: Delivery, reason: str, deliveries: int) -> None:
        """Move the entry of one event (alone in it) to the dead letters, with its reason."""
        self.dead_letter_entry([delivery], [(delivery, reason)], deliveries, 0, 0)

    def dead_letter_entry(
        self,
        entry: Sequence[Delivery],
        refused: Sequence[tuple[Delivery, str]],
        deliveries: int,
        stored: int,
        duplicates: int,
    ) -> None:
        """Move the ``refused`` events of one entry (all its events: ``entry``) to the
        dead-letter stream, each with its reason, and acknowledge the entry, whose other events
        are stored (``stored`` new, ``duplicates`` stored before), in one step (a script that
        runs on a full Redis too: ``lua/dead_letter.lua``)."""
        first = entry[0]
        script_keys = keys.dead_letter_move_keys(self.queue, self.destination)
        args: list[str | int] = [self.group, first.entry_id, self._suffix]
        args += [stored, duplicates, deliveries, now_ms(), first.event.accepted_at_ms]
        args.append(first.event.traceparent or "")
        for delivery, reason in refused:
            event = delivery.event
            args += [event.event_id, event.payload, reason[: keys.REASON_MAX_CHARS]]
        self._dead_letter_script(keys=script_keys, args=args)

    def count_reclaimed(self, count: int) -> None:
        if count:
            stats = [keys.stats_key(self.queue)]
            self._count_reclaimed_script(keys=stats, args=[count, self._suffix])

    def claim_from_gone(
        self, count: int, consumers: list[tuple[str, int, int]] | None = None
    ) -> list[Delivery]:
        """Take over the entries of a consumer that certainly died, without waiting for them to
        become idle (``liveness.is_gone``: same host and pid namespace, no such process).
        ``consumers``: the group's, if just read (``upkeep``)."""
        for name, pending, _ in self._consumers() if consumers is None else consumers:
            if pending and name != self.consumer and is_gone(name):
                rows: Any = self.client.xpending_range(
                    self._stream, self.group, "-", "+", self.entries_for(count), consumername=name
                )
                ids = [row["message_id"] for row in rows]
                claimed: Any = self.client.xclaim(self._stream, self.group, self.consumer, 0, ids)
                return self._deliveries(claimed)
        return []

    def forget_idle_consumers(
        self, idle_s: float, consumers: list[tuple[str, int, int]] | None = None
    ) -> None:
        """Remove consumers of dead processes that hold nothing any more, to keep the group tidy.
        ``consumers``: the group's, if just read (``upkeep``)."""
        for name, pending, idle_ms in self._consumers() if consumers is None else consumers:
            if name != self.consumer and pending == 0 and idle_ms > idle_s * 1000:
                self._forget_script(keys=[self._stream], args=[self.group, name])

    def _consumers(self) -> list[tuple[str, int, int]]:
        """(name, pending entries, idle ms) of every consumer of the group."""
        infos: Any = self.client.xinfo_consumers(self._stream, self.group)
        return [(as_text(info["name"]), int(info["pending"]), int(info["idle"])) for info in infos]


@dataclass(frozen=True, slots=True)
class Upkeep:
    """What ``QueueReader.upkeep`` found."""

    own: list[Delivery]  # delivered to this consumer before, never acknowledged
    claimed: list[Delivery]  # taken over from consumers that left them idle (not own)
    consumers: list[tuple[str, int, int]]  # (name, pending, idle ms) of the group's consumers
    new: list[Delivery]  # never delivered before (read last)


def _consumer_info(info: Any) -> tuple[str, int, int]:
    """(name, pending, idle ms) of one raw XINFO CONSUMERS entry: a map (RESP3) or flat pairs."""
    fields = info if isinstance(info, dict) else dict(zip(info[::2], info[1::2], strict=True))
    named = {as_text(name): value for name, value in fields.items()}
    return as_text(named["name"]), int(named["pending"]), int(named["idle"])
