"""An erasure sticks (issue 18): an event deleted while queued, in flight, dead-lettered (then
replayed) or while its producer still retries is never stored, on SQLite and on PostgreSQL.
A real Redis and a real consumer (in this process, no fork), the repositories' own files."""

from collections.abc import Iterator

import pytest
import redis

from sluicegate import erasure
from sluicegate.events import Event
from sluicegate.process.signals import SignalInbox
from sluicegate.queue import dead_letters, keys
from sluicegate.queue.reader import QueueReader
from sluicegate.queue.stats import snapshot
from sluicegate.repository import EventStore, open_repository
from sluicegate.settings import Settings
from sluicegate.worker.fork import EXIT_OK, consume_queue
from tests.loading import enqueue, make_events
from tests.waiting import wait_for


@pytest.fixture
def store_settings(backend_settings: Settings) -> Settings:
    return backend_settings


@pytest.fixture
def store(store_settings: Settings) -> Iterator[EventStore]:
    opened = open_repository(store_settings.resolved_database_url)
    yield opened
    opened.close()


@pytest.fixture
def inbox() -> Iterator[SignalInbox]:
    box = SignalInbox([])
    yield box
    box.close()


@pytest.mark.slow
def test_an_event_deleted_anywhere_in_redis_is_never_stored(
    store_settings: Settings, store: EventStore, redis_client: redis.Redis, inbox: SignalInbox
) -> None:
    url = store_settings.redis_url
    assert url is not None
    in_flight, dead, queued, retried, kept = (make_events("orders", 1)[0] for _ in range(5))
    enqueue(url, [in_flight, dead])
    ghost = QueueReader(redis_client, "orders", "ghost")  # a consumer that died holding them
    held, doomed = ghost.read_new(2, block_ms=10)
    ghost.dead_letter(doomed, "refused: no customer", deliveries=2)
    enqueue(url, [queued, kept])
    doomed_ids = [e.event_id for e in (in_flight, dead, queued, retried)]
    assert erasure.delete_ids(store, "orders", doomed_ids, "tester", "test") == 0
    enqueue(url, [Event("orders", retried.event_id, retried.payload, retried.accepted_at_ms)])
    [letter] = dead_letters.list_dead(redis_client, "orders")
    dead_letters.replay(redis_client, "orders", [letter.entry_id])  # after a "schema fix"

    def drained() -> bool:
        assert consume_queue(store_settings, url, "orders", inbox) == EXIT_OK
        return redis_client.xlen(keys.stream_key("orders")) == 0

    wait_for(drained, timeout_s=30, message="the queue drained, the ghost's entry reclaimed")
    assert held.event.event_id == in_flight.event_id
    assert store.ids("orders") == {kept.event_id}
    state = snapshot(redis_client, "orders")
    assert state.unaccounted == 0
    assert state.dead_lettered == 0
    assert state.duplicates_suppressed == 4, "each deleted copy absorbed like a redelivery"
    for event_id in doomed_ids:
        located = store.locate(event_id)
        assert located is not None
        assert located.status == "deleted"
