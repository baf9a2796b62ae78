"""A queue's stream as each of its destinations sees it: one consumer group per destination.

A *lane* is one queue read by one destination's group. Its work is what the group has not
acknowledged yet: entries never delivered to it (its lag) and entries pending with its
consumers. Entries one group has acknowledged may still be in the stream for another: the stream
is trimmed only once every group has them (``lua/ack.lua``), so a stream's length is the work of
none of its destinations in particular, except when it has one.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.exceptions import NoScriptError

from sluicegate.queue import keys
from sluicegate.queue.client import as_text
from sluicegate.queue.scripts import ENSURE_GROUPS, FORGET_GROUP, LANES, lua


@dataclass(frozen=True, slots=True, order=True)
class Lane:
    queue: str
    destination: str = keys.DEFAULT_DESTINATION

    @property
    def group(self) -> str:
        return keys.consumer_group(self.destination)

    def __str__(self) -> str:
        """``orders`` for the default destination (as before destinations), else ``orders/lake``."""
        if self.destination == keys.DEFAULT_DESTINATION:
            return self.queue
        return f"{self.queue}/{self.destination}"


@dataclass(frozen=True, slots=True)
class Gathering:
    """A destination that wants large batches (a lake's files): its lane is read once
    ``min_events`` wait or the oldest has waited ``max_wait_s``, or while some are pending."""

    min_events: int
    max_wait_s: float


@dataclass(frozen=True, slots=True)
class GroupState:
    """Counts in entries (what the agent and the consumers look at: is there work?) and, for
    ``sluicegate status``, in events (an entry may hold a request's: ``entry_format.py``)."""

    pending: int  # entries delivered to its consumers, not acknowledged
    lag: int | None  # entries never delivered to it; None: the server cannot tell
    oldest_id: str | None  # the oldest entry it has not acknowledged
    events: int | None = None  # events still to store; None: not counted (an older stream)
    pending_events: int | None = None  # events of the pending entries; None: not asked for


@dataclass(frozen=True, slots=True)
class StreamState:
    """One queue's stream, read in one step (``lua/lanes.lua``)."""

    length: int  # entries in the stream, for any group
    now_ms: int  # the server's clock, which the entry ids hold too
    groups: dict[str, GroupState] = field(default_factory=dict)  # by destination

    def work(self, destination: str) -> int:
        """Entries the destination still has to store: pending with it, or never delivered to it.
        Without its group yet (a visit makes it), the whole stream."""
        group = self.groups.get(destination)
        if group is None:
            return self.length
        return group.pending + self.queued(destination)

    def queued(self, destination: str) -> int:
        """Entries never delivered to the destination."""
        group = self.groups.get(destination)
        if group is None:
            return self.length
        return group.lag if group.lag is not None else max(self.length - group.pending, 0)

    def in_flight_events(self, destination: str) -> int:
        """Events delivered to the destination's consumers, not acknowledged (``lanes.lua``
        asked to count them; else its pending entries)."""
        group = self.groups.get(destination)
        if group is None:
            return 0
        return group.pending if group.pending_events is None else group.pending_events

    def queued_events(self, destination: str) -> int:
        """Events never delivered to the destination (its entries, on a stream written by a
        version that kept no counts)."""
        group = self.groups.get(destination)
        if group is None or group.events is None:
            return self.queued(destination)
        return group.events - self.in_flight_events(destination)

    def ready(self, destination: str, gathering: Gathering | None) -> bool:
        """Read the destination's lane now, or let its events gather into a larger batch?"""
        group = self.groups.get(destination)
        if gathering is None or group is None or group.pending:
            return True  # no group yet (a visit makes it), or entries to finish
        return (  # with nothing pending, its events still to store are all queued
            self.queued_events(destination) >= gathering.min_events
            or self.oldest_age_s(destination) >= gathering.max_wait_s
        )

    def oldest_age_s(self, destination: str) -> float:
        """How long the oldest entry the destination has not stored has waited (0: none)."""
        group = self.groups.get(destination)
        oldest = group.oldest_id if group is not None else None
        if oldest is None:
            return 0.0
        return max(self.now_ms - int(oldest.partition("-")[0]), 0) / 1000


def stream_states(
    client: "redis.Redis", queues: Sequence[str], events: bool = False
) -> dict[str, StreamState]:
    """Every queue's ``StreamState``, pipelined: one round trip however many queues.
    ``events``: count the pending entries' events too (each is read: for people, not loops)."""
    script = lua(LANES)
    for attempt in range(2):
        with client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.evalsha(script.sha, 3, *keys.counted_keys(queue), "1" if events else "0")
            replies = pipe.execute(raise_on_error=False)
        if attempt or not any(isinstance(reply, NoScriptError) for reply in replies):
            break
        client.script_load(script.source)  # a restarted server forgot it: every primary learns it
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return {queue: parse_state(reply) for queue, reply in zip(queues, replies, strict=True)}


def parse_state(reply: Sequence[Any]) -> StreamState:
    """``lua/lanes.lua``'s reply."""
    groups = {}
    for index in range(2, len(reply), 6):
        name, pending, lag, oldest, events, pending_events = reply[index : index + 6]
        groups[keys.destination_of_group(as_text(name))] = GroupState(
            int(pending),
            _known(lag),
            as_text(oldest) or None,
            _known(events),
            _known(pending_events),
        )
    return StreamState(int(reply[0]), int(reply[1]), groups)


def _known(value: Any) -> int | None:
    """``lanes.lua``'s count, None where it answers -1 (not known)."""
    return int(value) if int(value) >= 0 else None


def ensure_groups(client: "redis.Redis", queue: str, starts: Sequence[tuple[str, str]]) -> int:
    """Create the groups of ``starts`` ((group, '0' or '$') pairs: every destination of the
    queue) that its stream lacks, and drop the default destination's group, made by the enqueue,
    when the queue does not deliver there and nobody read with it (``lua/ensure_groups.lua``:
    runs on a full Redis too); how many it created."""
    script = client.register_script(lua(ENSURE_GROUPS).source)
    drop = "" if any(group == keys.CONSUMER_GROUP for group, _ in starts) else keys.CONSUMER_GROUP
    args = [drop, *(part for pair in starts for part in pair)]
    return int(script(keys=keys.counted_keys(queue), args=args))


def forget_group(client: "redis.Redis", queue: str, destination: str) -> tuple[bool, int]:
    """Destroy ``destination``'s group on the queue's stream and trim what only it held back
    (``lua/forget_group.lua``, the trimming rule of ``lua/lib/trim.lua``): (was it there, entries
    trimmed). For a destination gone from DESTINATIONS_FILE (``sluicegate destinations forget``)."""
    script = client.register_script(lua(FORGET_GROUP).source)
    group = keys.consumer_group(destination)
    found, trimmed = script(keys=keys.counted_keys(queue), args=[group])
    return bool(found), int(trimmed)
