"""Replay (backfill): the events a queue accepted in a time window, written into one destination
with their original ids and ``accepted_at``, batch by batch, through the destination's own
idempotent ``persist`` (docs/destinations.md).

The events come from the SQL store, in acceptance order (``EventStore.page``: keyset pages, the
same at any depth), or from the queue's Redis stream while they are still there. Running a replay
twice writes nothing the second time: every destination stores an event id at most once. A batch
the destination cannot take for the moment (``TransientStoreError``) is tried again with backoff
a few times; after that the replay stops, and running it again resumes safely.
"""

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sluicegate.backoff import Backoff
from sluicegate.errors import TransientStoreError
from sluicegate.events import Event
from sluicegate.repository import EventStore, Repository

TRIES = 5  # a batch refused for the moment: tried this many times in all
_BACKOFF = Backoff(initial_s=0.5, maximum_s=8.0)


@dataclass(frozen=True, slots=True)
class Window:
    """Accepted at ``since_ms`` or later, and before ``until_ms`` (None: up to now)."""

    since_ms: int
    until_ms: int | None = None

    def holds(self, accepted_at_ms: int) -> bool:
        after_start = accepted_at_ms >= self.since_ms
        return after_start and (self.until_ms is None or accepted_at_ms < self.until_ms)


@dataclass(slots=True)
class Tally:
    """What a replay did so far: events read from the source, rows the destination found new."""

    read: int = 0
    written: int = 0
    batches: int = 0
    first_ms: int | None = None  # accepted_at of the first and last events replayed
    last_ms: int | None = None

    @property
    def already_there(self) -> int:
        return self.read - self.written

    def add(self, batch: list[Event], written: int) -> None:
        self.read += len(batch)
        self.written += written
        self.batches += 1
        first, last = batch[0].accepted_at_ms, batch[-1].accepted_at_ms
        self.first_ms = first if self.first_ms is None else min(self.first_ms, first)
        self.last_ms = last if self.last_ms is None else max(self.last_ms, last)


def from_store(store: EventStore, queue: str, window: Window, batch: int) -> Iterator[list[Event]]:
    """The window's stored events in acceptance order, ``batch`` at a time."""
    cursor = (window.since_ms, "")  # every event accepted at since_ms (any id sorts after "")
    while True:
        page = store.page(queue, cursor, batch)
        inside = [stored for stored in page if window.holds(stored.accepted_at_ms)]
        if inside:
            yield [Event(queue, e.event_id, e.payload, e.accepted_at_ms) for e in inside]
        if len(page) < batch or len(inside) < len(page):  # the end, or past until_ms
            return
        cursor = page[-1].cursor


def within(batches: Iterable[list[Event]], window: Window, batch: int) -> Iterator[list[Event]]:
    """The events of ``batches`` (a stream's, in stream order) that the window holds, regrouped
    into batches of ``batch``."""
    pending: list[Event] = []
    for events in batches:
        pending += [event for event in events if window.holds(event.accepted_at_ms)]
        while len(pending) >= batch:
            yield pending[:batch]
            pending = pending[batch:]
    if pending:
        yield pending


def replay(
    batches: Iterable[list[Event]],
    destination: Repository,
    on_batch: Callable[[Tally], None] = lambda _: None,
    sleep: Callable[[float], None] = time.sleep,
) -> Tally:
    """Persist every batch into ``destination``, in order; ``on_batch`` sees the tally after each.
    TransientStoreError after ``TRIES`` tries and RejectedEventError propagate: what was
    written stays written, and a second run skips it."""
    tally = Tally()
    for batch in batches:
        tally.add(batch, _persist(destination, batch, sleep))
        on_batch(tally)
    return tally


def _persist(destination: Repository, batch: list[Event], sleep: Callable[[float], None]) -> int:
    backoff = Backoff(_BACKOFF.initial_s, _BACKOFF.maximum_s)
    for attempt in range(1, TRIES + 1):
        try:
            return destination.persist(batch)
        except TransientStoreError:
            if attempt == TRIES:
                raise
            sleep(backoff.next_delay_s())
    raise AssertionError("unreachable")
