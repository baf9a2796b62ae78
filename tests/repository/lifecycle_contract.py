"""The stored events' lives (docs/retention.md), one contract for SQLite and PostgreSQL.

The clock is injected: events carry their own ``accepted_at`` and ``expire`` takes the pass's
time, so "a retry after midnight" or "eight days later" never waits for anything.
"""

import json
from collections.abc import Callable

import pytest

from sluicegate.events import Event, new_event_id, now_ms
from sluicegate.repository import EventStore
from sluicegate.retention import DAY_MS, RetentionPolicy, day_start_ms

OpenStore = Callable[[], EventStore]
WEEK_S = 7 * 86_400.0
MIDNIGHT = day_start_ms(now_ms())
NOW = (
    MIDNIGHT + DAY_MS // 2
)  # the passes' clock: noon of the day the tests started, midnight or not


def event(queue: str = "orders", at_ms: int | None = None, event_id: str | None = None) -> Event:
    return Event(queue, event_id or new_event_id(), json.dumps({"q": queue}), at_ms or now_ms())


def again(original: Event, at_ms: int) -> Event:
    """A producer's retry (or a DLQ replay) of ``original``, accepted again at ``at_ms``."""
    return Event(original.queue, original.event_id, original.payload, at_ms)


class LifecycleContract:
    """Not collected by itself; a subclass provides ``open_store``."""

    @pytest.fixture
    def store(self, open_store: OpenStore) -> EventStore:
        return open_store()

    def test_a_retry_across_midnight_is_stored_once(self, store: EventStore) -> None:
        first = event(at_ms=MIDNIGHT - 100)  # 23:59:59.900
        assert store.persist([first]) == 1
        assert store.persist([again(first, MIDNIGHT + 100)]) == 0  # 00:00:00.100, next day
        assert store.count() == 1
        located = store.locate(first.event_id)
        assert located is not None
        assert located.accepted_at_ms == MIDNIGHT - 100

    def test_an_event_deleted_after_it_was_stored_is_never_stored_again(
        self, store: EventStore
    ) -> None:
        stored, kept = event(), event()
        store.persist([stored, kept])
        assert store.delete("orders", [stored.event_id], "alice") == 1
        assert store.ids() == {kept.event_id}
        assert store.persist([stored]) == 0, "a redelivery of the same entry"
        assert store.persist([again(stored, now_ms() + 5000)]) == 0, "a producer's retry"
        assert store.ids() == {kept.event_id}
        located = store.locate(stored.event_id)
        assert located is not None
        assert (located.status, located.deleted_by) == ("deleted", "alice")

    def test_an_event_deleted_before_any_consumer_stored_it_is_never_stored(
        self, store: EventStore
    ) -> None:
        """Deleted while queued, in flight or dead-lettered: no row yet, a tombstone only."""
        pending = event()
        assert store.delete("orders", [pending.event_id], "bob") == 0
        assert store.persist([pending, event()]) == 1
        assert pending.event_id not in store.ids()

    def test_a_delete_names_its_queue(self, store: EventStore) -> None:
        other = event("mails")
        store.persist([other])
        assert store.delete("orders", [other.event_id], "mallory") == 0
        located = store.locate(other.event_id)
        assert located is not None
        assert located.status == "persisted"

    def test_delete_before_a_time_removes_older_events_for_good(self, store: EventStore) -> None:
        old = [event(at_ms=MIDNIGHT - DAY_MS + n) for n in range(5)]
        new = [event(at_ms=MIDNIGHT + n) for n in range(3)]
        store.persist(old + new + [event("mails", at_ms=MIDNIGHT - DAY_MS)])
        assert store.delete_before("orders", MIDNIGHT, "carol") == 5
        assert store.ids("orders") == {e.event_id for e in new}
        assert store.count("mails") == 1
        assert store.persist(old) == 0

    def test_where_is_an_event(self, store: EventStore) -> None:
        stored = event(at_ms=MIDNIGHT + 1)
        store.persist([stored])
        located = store.locate(stored.event_id)
        assert located is not None
        assert (located.status, located.queue, located.accepted_at_ms) == (
            "persisted",
            "orders",
            MIDNIGHT + 1,
        )
        assert located.persisted_at_ms is not None
        assert store.locate(new_event_id()) is None

    def test_pages_follow_acceptance_order_without_offsets(self, store: EventStore) -> None:
        events = [event(at_ms=MIDNIGHT - DAY_MS + n * 3_600_000) for n in range(30)]
        events += [event(at_ms=MIDNIGHT + 5), event(at_ms=MIDNIGHT + 5)]  # a tie on the time
        store.persist([*list(reversed(events)), event("mails")])
        seen, after = [], None
        while page := store.page("orders", after, 7):
            seen += page
            after = page[-1].cursor
        expected = sorted(events, key=lambda e: (e.accepted_at_ms, e.event_id))
        assert [e.event_id for e in seen] == [e.event_id for e in expected]
        assert json.loads(seen[0].payload) == {"q": "orders"}

    def test_retention_expires_old_days_and_keeps_their_ids(self, store: EventStore) -> None:
        old = [event(at_ms=MIDNIGHT - 9 * DAY_MS + n) for n in range(4)]
        recent = [event(at_ms=MIDNIGHT - DAY_MS)]
        kept = [event("audit", at_ms=MIDNIGHT - 9 * DAY_MS)]
        store.persist(old + recent + kept)
        policy = RetentionPolicy(None, {"orders": 2 * 86_400.0}, WEEK_S)
        report = store.expire(policy, NOW)
        assert report is not None
        assert report.dropped == {"orders": 4}
        assert store.ids() == {e.event_id for e in recent + kept}
        assert store.oldest("orders") == MIDNIGHT - DAY_MS
        assert store.oldest("audit") == MIDNIGHT - 9 * DAY_MS
        located = store.locate(old[0].event_id)
        assert located is not None
        assert located.status == "expired"
        assert store.persist([again(old[0], now_ms())]) == 0, "within the dedup window"

    def test_ids_are_forgotten_after_the_window_and_not_before(self, store: EventStore) -> None:
        gone, deleted = event(at_ms=MIDNIGHT - 3 * DAY_MS), event()
        store.persist([gone])
        store.delete("orders", [deleted.event_id], "dave")
        policy = RetentionPolicy(86_400.0, {}, WEEK_S)
        report = store.expire(policy, NOW)
        assert report is not None
        assert report.ids_forgotten == 0
        assert store.locate(gone.event_id) is not None
        later = NOW + int(WEEK_S * 1000) + DAY_MS
        report = store.expire(policy, later)
        assert report is not None
        assert report.ids_forgotten == 2
        assert store.locate(gone.event_id) is None
        assert store.locate(deleted.event_id) is None

    def test_an_id_stays_while_its_event_is_kept_longer_than_the_window(
        self, store: EventStore
    ) -> None:
        kept = event(at_ms=MIDNIGHT - 20 * DAY_MS)
        store.persist([kept])
        report = store.expire(RetentionPolicy(None, {}, WEEK_S), NOW)
        assert report is not None
        assert report.ids_forgotten == 0
        assert store.persist([again(kept, now_ms())]) == 0
        assert store.count() == 1
