"""The contract every repository passes; one concrete subclass per backend supplies the store.

A subclass provides three fixtures:
- ``open_repo``: a factory returning a new repository on the same (initially empty) store;
- ``poison`` (``RepositoryContract`` only): a factory ``(event_id, queue) -> Event`` whose event
  that store refuses for good;
- ``read_row``: ``event_id -> (queue, payload, accepted_at, persisted_at)`` read behind the
  repository's back, or None.
"""

import json
from collections.abc import Callable

import pytest

from sluicegate.errors import RejectedEventError
from sluicegate.events import Event, new_event_id, now_ms
from sluicegate.repository import Repository

OpenRepo = Callable[[], Repository]
Poison = Callable[[str, str], Event]
StoredRow = tuple[str, str, int, int]
ReadRow = Callable[[str], StoredRow | None]


def make_events(count: int, queue: str = "orders") -> list[Event]:
    return [
        Event(queue, new_event_id(), json.dumps({"n": n, "queue": queue}), now_ms())
        for n in range(count)
    ]


class IdempotenceContract:
    """What every destination's writer promises (a Delta table too): idempotent batches. Not
    collected by itself (no ``Test`` prefix); subclasses are."""

    @pytest.fixture
    def repository(self, open_repo: OpenRepo) -> Repository:
        return open_repo()

    def test_persist_returns_the_number_of_new_rows(self, repository: Repository) -> None:
        events = make_events(10)
        assert repository.persist(events) == 10
        assert repository.count() == 10

    def test_a_batch_persisted_twice_inserts_nothing_the_second_time(
        self, repository: Repository
    ) -> None:
        events = make_events(10)
        repository.persist(events)
        assert repository.persist(events) == 0
        assert repository.count() == 10

    def test_overlapping_batch_inserts_only_the_new_events(self, repository: Repository) -> None:
        first, second = make_events(5), make_events(5)
        repository.persist(first)
        assert repository.persist(first[2:] + second) == 5
        assert repository.ids() == {e.event_id for e in first + second}

    def test_an_event_repeated_inside_one_batch_is_stored_once(
        self, repository: Repository
    ) -> None:
        event = make_events(1)[0]
        assert repository.persist([event, event]) == 1
        assert repository.count() == 1

    def test_empty_batch_inserts_nothing(self, repository: Repository) -> None:
        assert repository.persist([]) == 0
        assert repository.count() == 0

    def test_count_and_ids_with_and_without_a_queue_filter(self, repository: Repository) -> None:
        orders, mails = make_events(3, "orders"), make_events(2, "mails")
        repository.persist(orders + mails)
        assert repository.count() == 5
        assert repository.count("orders") == 3
        assert repository.count("mails") == 2
        assert repository.count("absent") == 0
        assert repository.ids() == {e.event_id for e in orders + mails}
        assert repository.ids("mails") == {e.event_id for e in mails}
        assert repository.ids("absent") == set()

    def test_payload_and_timestamps_round_trip(
        self, repository: Repository, read_row: ReadRow
    ) -> None:
        payload = {
            "name": "Zoë ✓ 🚀",
            "quote": 'say "hi"\n',
            "nested": {"list": [1, 2.5, None]},
            "big": 2**62,
            "flag": True,
        }
        event = Event("orders", new_event_id(), json.dumps(payload), 1_732_880_000_123)
        before = now_ms()
        repository.persist([event])
        row = read_row(event.event_id)
        assert row is not None
        queue, stored, accepted_at, persisted_at = row
        assert (queue, json.loads(stored), accepted_at) == ("orders", payload, event.accepted_at_ms)
        assert before <= persisted_at <= now_ms()

    def test_close_keeps_the_data_for_the_next_repository(self, open_repo: OpenRepo) -> None:
        first = open_repo()
        events = make_events(3)
        first.persist(events)
        first.close()
        first.close()  # closing twice is harmless
        second = open_repo()
        assert second.ids() == {e.event_id for e in events}
        assert second.persist(events) == 0


class RepositoryContract(IdempotenceContract):
    """A database also refuses some events for good (the poison path)."""

    def test_a_poison_event_is_rejected(self, repository: Repository, poison: Poison) -> None:
        with pytest.raises(RejectedEventError):
            repository.persist([poison(new_event_id(), "orders")])
        assert repository.count() == 0

    def test_a_batch_with_one_poison_event_stores_nothing(
        self, repository: Repository, poison: Poison
    ) -> None:
        good = make_events(4)
        batch = [*good[:2], poison(new_event_id(), "orders"), *good[2:]]
        with pytest.raises(RejectedEventError):
            repository.persist(batch)
        assert repository.count() == 0
        assert repository.persist(good) == 4, "the repository is usable after a rejection"
