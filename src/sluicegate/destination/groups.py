"""Which consumer groups each queue's stream holds, and whose they are (``sluicegate
destinations``).

A group belongs to a destination of DESTINATIONS_FILE, or to none: a destination removed from
the file leaves its group on every stream it read, and since the stream keeps every entry until
every group has acknowledged it (docs/destinations.md, "The trimming rule"), such a group holds
back the trimming of its streams forever. ``forget`` removes it (``queue/lanes.py``).
"""

from dataclasses import dataclass
from enum import Enum
from typing import Any

import redis

from sluicegate.destination.config import Destinations
from sluicegate.queue.lanes import StreamState, stream_states
from sluicegate.queue.stats import list_queues


class Standing(Enum):
    SERVING = "serving"  # a destination of the file, and the queue delivers to it
    NOT_ROUTED = "not routed"  # a destination of the file, but the queue no longer delivers to it
    LEFT_BEHIND = "left behind"  # no destination of the file: `destinations forget` removes it
    NO_GROUP_YET = "no group yet"  # the queue delivers to it; its first consumer makes the group


@dataclass(frozen=True, slots=True)
class GroupRow:
    queue: str
    destination: str
    standing: Standing
    lag: int  # events never delivered to the group (the whole stream when it has none yet)
    pending: int  # events delivered to its consumers, not acknowledged
    oldest_age_s: float  # how long the oldest entry it has not acknowledged has waited

    def as_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "destination": self.destination,
            "standing": self.standing.value,
            "lag": self.lag,
            "pending": self.pending,
            "oldest_age_s": round(self.oldest_age_s, 3),
        }


def group_rows(client: "redis.Redis", registry: Destinations) -> list[GroupRow]:
    """Every queue's groups, and the destinations it delivers to that have none yet."""
    queues = list_queues(client)
    states = stream_states(client, queues, events=True)
    return [row for queue in queues for row in _rows(queue, states[queue], registry)]


def _rows(queue: str, state: StreamState, registry: Destinations) -> list[GroupRow]:
    routed = [destination.name for destination in registry.for_queue(queue)]
    names = [*state.groups, *(name for name in routed if name not in state.groups)]
    rows = []
    for name in names:
        group = state.groups.get(name)
        rows.append(
            GroupRow(
                queue,
                name,
                _standing(name, group is not None, routed, registry),
                state.queued_events(name),
                state.in_flight_events(name),
                state.oldest_age_s(name),
            )
        )
    return rows


def _standing(name: str, has_group: bool, routed: list[str], registry: Destinations) -> Standing:
    if name not in registry.names:
        return Standing.LEFT_BEHIND
    if not has_group:
        return Standing.NO_GROUP_YET
    return Standing.SERVING if name in routed else Standing.NOT_ROUTED
