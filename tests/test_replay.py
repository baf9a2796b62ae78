"""``sluicegate.replay``: a window of stored (or still queued) events into another destination,
original ids and accepted_at kept, idempotent, in batches; here into a second SQLite file."""

import pytest

from sluicegate.errors import TransientStoreError
from sluicegate.events import Event
from sluicegate.queue import keys
from sluicegate.queue.history import stream_events
from sluicegate.replay import Window, from_store, replay, within
from sluicegate.repository.sqlite import SqliteRepository
from tests.loading import enqueue

T0 = 1_700_000_000_000


def events(queue: str, count: int, start_ms: int = T0) -> list[Event]:
    """Ids that sort against their time on purpose (z…a), so acceptance order is by time."""
    return [Event(queue, f"e{count - n:04d}", f'{{"n": {n}}}', start_ms + n) for n in range(count)]


@pytest.fixture
def stores(tmp_path):
    source, target = SqliteRepository(tmp_path / "a.db"), SqliteRepository(tmp_path / "b.db")
    yield source, target
    source.close()
    target.close()


def stored(repository: SqliteRepository, queue: str) -> list[tuple[str, int, str]]:
    rows = repository.page(queue, None, 10_000)
    return [(e.event_id, e.accepted_at_ms, e.payload) for e in rows]


def test_a_window_is_replayed_in_acceptance_order_with_its_ids_and_times(stores):
    source, target = stores
    source.persist(events("orders", 25) + events("other", 3))
    window = Window(T0 + 5, T0 + 20)  # since included, until excluded
    seen = []
    tally = replay(
        from_store(source, "orders", window, batch=4), target, lambda t: seen.append(t.read)
    )
    expected = [row for row in stored(source, "orders") if T0 + 5 <= row[1] < T0 + 20]
    assert stored(target, "orders") == expected
    assert target.count("other") == 0
    assert (tally.read, tally.written, tally.batches) == (15, 15, 4)
    assert (tally.first_ms, tally.last_ms) == (T0 + 5, T0 + 19)
    assert seen == [4, 8, 12, 15]
    again = replay(from_store(source, "orders", window, batch=4), target)
    assert (again.read, again.written, again.already_there) == (15, 0, 15)
    assert stored(target, "orders") == expected


def test_an_open_window_and_an_empty_one(stores):
    source, target = stores
    source.persist(events("orders", 10))
    assert replay(from_store(source, "orders", Window(T0 + 8), batch=5), target).written == 2
    assert replay(from_store(source, "orders", Window(T0 + 50), batch=5), target).read == 0


class Flaky:
    """A real SQLite destination that is away for its first ``failures`` writes."""

    def __init__(self, inner: SqliteRepository, failures: int) -> None:
        self.inner, self.failures = inner, failures

    def persist(self, batch):
        if self.failures:
            self.failures -= 1
            raise TransientStoreError("away")
        return self.inner.persist(batch)


def test_a_destination_away_for_a_moment_is_waited_for_then_given_up(stores):
    source, target = stores
    source.persist(events("orders", 6))
    naps = []
    tally = replay(from_store(source, "orders", Window(T0), 6), Flaky(target, 2), sleep=naps.append)
    assert tally.written == 6
    assert len(naps) == 2
    with pytest.raises(TransientStoreError):
        replay(from_store(source, "orders", Window(T0), 6), Flaky(target, 5), sleep=naps.append)


def test_from_the_stream_while_the_events_are_still_there(redis_server, redis_client, stores):
    _, target = stores
    enqueue(redis_server.url, events("orders", 30), batch=7)
    window = Window(T0 + 3, T0 + 27)
    batches = list(within(stream_events(redis_client, "orders", page=8), window, batch=10))
    assert [len(batch) for batch in batches] == [10, 10, 4]
    assert replay(batches, target).written == 24
    assert [row[1] for row in stored(target, "orders")] == list(range(T0 + 3, T0 + 27))


def test_a_packed_entry_is_replayed_from_the_stream_event_by_event_in_order(
    redis_server, redis_client, stores
):
    _, target = stores
    accepted = [event._replace(accepted_at_ms=T0) for event in events("orders", 11)]
    enqueue(redis_server.url, accepted, batch=4, packing=True)  # entries of 4, 4 and 3 events
    assert redis_client.xlen(keys.stream_key("orders")) == 3
    pages = list(stream_events(redis_client, "orders", page=2))
    assert [len(page) for page in pages] == [8, 3]
    assert [event for page in pages for event in page] == accepted
    assert replay(within(pages, Window(T0), batch=5), target).written == 11
    assert target.count("orders") == 11
