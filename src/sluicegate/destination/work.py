"""Which lanes (a queue and one of its destinations) have work for a consumer now.

A lane's work is what its destination's consumer group has not acknowledged. A destination that
wants large batches (``batch_max_events``, ``batch_max_seconds``: a lake's files) has work only
once a full batch waits or its oldest event has waited ``batch_max_seconds``, or while entries
are pending with it: until then its events wait in Redis, queued, and no consumer is held.
Without DESTINATIONS_FILE a queue's work is its stream's length, read as before destinations.
"""

from collections.abc import Sequence

import redis

from sluicegate.destination.config import DEFAULT, Destination, Destinations
from sluicegate.queue.lanes import Gathering, Lane, stream_states
from sluicegate.queue.stats import list_queues, work_by_queue
from sluicegate.settings import Settings


def work_by_lane(
    client: "redis.Redis", registry: Destinations, queues: Sequence[str] | None = None
) -> dict[Lane, int]:
    """Entries each lane with work has still to store, in lane order (queue, then destination);
    ``queues``: only these queues' lanes."""
    if registry is DEFAULT:
        return {
            Lane(queue): length
            for queue, length in work_by_queue(
                client, None if queues is None else list(queues)
            ).items()
        }
    names = list_queues(client) if queues is None else list(queues)
    states = stream_states(client, names)
    found = {}
    for queue in names:
        state = states[queue]
        for destination in registry.for_queue(queue):
            work = state.work(destination.name)
            if work and state.ready(destination.name, gathering(destination)):
                found[Lane(queue, destination.name)] = work
    return dict(sorted(found.items()))


def gathering(destination: Destination) -> Gathering | None:
    """How the destination's events gather into batches; None: read as soon as there is one."""
    if destination.batch_max_events is None or destination.batch_max_seconds is None:
        return None
    return Gathering(destination.batch_max_events, destination.batch_max_seconds)


def read_count(destination: Destination, settings: Settings) -> int:
    """Entries a consumer reads at once for the destination."""
    return destination.batch_max_events or settings.queue_batch_size
