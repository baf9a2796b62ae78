"""The consumer in this process, without a fork: it stops by itself once idle for a TTL."""

import sqlite3
from dataclasses import replace

import pytest

from sluicegate.events import Event
from sluicegate.process.signals import SignalInbox, StopWatch
from sluicegate.queue import keys
from sluicegate.queue.lock import Lock, lock_holder, new_lock_entry
from sluicegate.queue.reader import QueueReader
from sluicegate.queue.stats import snapshot
from sluicegate.repository.sqlite import SqliteRepository
from sluicegate.worker.fork import (
    EXIT_DATABASE_UNAVAILABLE,
    EXIT_OK,
    consume_queue,
)
from sluicegate.worker.visit import Outcome, QueueVisit, Stay
from tests.loading import enqueue, make_events

POISON_TRIGGER = """
CREATE TRIGGER refuse_poison BEFORE INSERT ON events
WHEN json_extract(NEW.payload, '$.poison') IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'poison payload refused'); END
"""


@pytest.fixture
def inbox():
    """No handlers are installed in pytest's process: the inbox only provides the sleeps."""
    box = SignalInbox([])
    yield box
    box.close()


def consume(settings, queue, inbox):
    return consume_queue(settings, settings.redis_url, queue, inbox)


def stored(settings) -> SqliteRepository:
    return SqliteRepository(settings.sqlite_filepath)


PACKING = pytest.mark.parametrize("packing", [False, True], ids=["entry-an-event", "packed"])


def test_persists_everything_then_acks_and_releases_its_lock(settings, redis_client, inbox):
    """Requests of 100 events, packed as the API writes them (one event an entry: the agent's
    tests)."""
    ids = enqueue(settings.redis_url, make_events("q", 1200), batch=100, packing=True)
    assert consume(settings, "q", inbox) == EXIT_OK
    assert stored(settings).ids("q") == set(ids)
    state = snapshot(redis_client, "q")
    assert (state.queued, state.in_flight, state.persisted_acks) == (0, 0, 1200)
    assert state.duplicates_suppressed == 0  # no batch was processed twice
    assert lock_holder(redis_client, "q") is None
    assert redis_client.xlen(keys.stream_key("q")) == 0


def test_redelivered_events_are_stored_once(settings, redis_client, inbox):
    events = make_events("q", 100)
    repository = stored(settings)
    repository.persist(events[:40])  # a consumer that committed and died before its ack
    enqueue(settings.redis_url, events, batch=30, packing=True)
    consume(settings, "q", inbox)
    assert repository.count() == 100
    assert snapshot(redis_client, "q").duplicates_suppressed == 40


@PACKING
def test_poison_event_is_dead_lettered_after_n_deliveries(settings, redis_client, inbox, packing):
    """Packed, the poison event is the middle of an entry of 7: its 6 others are stored, and
    the entry leaves the stream only with the poison's move to the dead letters."""
    repository = stored(settings)
    repository._db.execute(POISON_TRIGGER)
    good = make_events("q", 20)
    poison = make_events("q", 1, {"poison": True})
    enqueue(settings.redis_url, good[:10] + poison + good[10:], batch=7, packing=packing)
    consume(settings, "q", inbox)
    assert repository.ids("q") == {e.event_id for e in good}
    state = snapshot(redis_client, "q")
    assert (state.queued, state.in_flight, state.dead_lettered) == (0, 0, 1)
    assert (state.persisted, state.unaccounted) == (20, 0)  # its 6 others counted once
    assert redis_client.xlen(keys.stream_key("q")) == 0
    entry = redis_client.xrange(keys.dead_letter_key("q"))[0][1]
    assert entry[b"id"].decode() == poison[0].event_id
    assert b"poison payload refused" in entry[b"reason"]
    assert int(entry[b"deliveries"]) == settings.dead_letter_after


def test_a_busy_lock_means_no_consuming(settings, redis_client, inbox):
    other = Lock(redis_client, new_lock_entry("q"), ttl_s=30)
    assert other.acquire()
    enqueue(settings.redis_url, make_events("q", 5))
    assert consume(settings, "q", inbox) == EXIT_OK  # idle for a TTL: it never got the lock
    assert snapshot(redis_client, "q").queued == 5


@pytest.mark.slow
def test_entries_of_a_dead_consumer_are_reclaimed(settings, redis_client, inbox):
    ids = enqueue(settings.redis_url, make_events("q", 50))
    redis_client.xreadgroup(
        keys.CONSUMER_GROUP, "dead-host:99", {keys.stream_key("q"): ">"}, count=30
    )
    consume(settings, "q", inbox)
    assert stored(settings).ids("q") == set(ids)
    state = snapshot(redis_client, "q")
    assert (state.in_flight, state.reclaimed) == (0, 30)


def test_sqlite_schema_is_the_documented_one(settings):
    stored(settings).persist([Event("q", "e1", '{"a":1}', 5)])
    db = sqlite3.connect(settings.sqlite_filepath)
    columns = [row[1] for row in db.execute("PRAGMA table_info(events)")]
    assert columns == ["event_id", "queue", "payload", "accepted_at", "persisted_at"]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_unusable_database_releases_the_lock_and_says_so(settings, redis_client, inbox):
    settings.sqlite_filepath.write_bytes(b"this is not a database" * 100)
    enqueue(settings.redis_url, make_events("q", 3))
    assert consume(settings, "q", inbox) == EXIT_DATABASE_UNAVAILABLE
    assert lock_holder(redis_client, "q") is None
    assert snapshot(redis_client, "q").queued == 3


def test_a_graceful_stop_persists_entries_whose_read_reply_was_lost(settings, redis_client, inbox):
    """A reset connection can lose the reply to XREADGROUP after Redis delivered the entries:
    they are pending under the consumer's name, unseen. A graceful stop persists them before it
    leaves, so it leaves nothing in flight."""
    ids = enqueue(settings.redis_url, make_events("q", 30))
    reader = QueueReader(redis_client, "q", consumer="c1")
    assert len(reader.read_new(30, block_ms=None)) == 30  # delivered; the reply is "lost"
    lock = Lock(redis_client, new_lock_entry("q"), ttl_s=5)
    assert lock.acquire()
    stop = StopWatch(inbox)
    stop.requested = True  # told to stop before reading anything new
    consumer = QueueVisit(settings, reader, stored(settings), lock, stop)
    assert consumer.run(Stay(batches=10)) is Outcome.STOPPED
    assert stored(settings).ids("q") == set(ids)
    assert snapshot(redis_client, "q").in_flight == 0


def test_a_visit_that_moves_on_persists_entries_whose_read_reply_was_lost(
    settings, redis_client, inbox
):
    """A consumer serving several queues may not come back to this one before a stop: entries
    a lost read reply left pending under its name are persisted before it leaves the queue."""
    settings = settings.model_copy(update={"queue_batch_size": 5})
    first = enqueue(settings.redis_url, make_events("q", 10))  # two batches: the second is
    lost: list[str] = []  # read ahead while the first is stored
    calls = iter(range(100))

    def others_waiting() -> bool:
        if next(calls) == 1:  # the second batch in hand: now a read whose reply is "lost"
            lost.extend(enqueue(settings.redis_url, make_events("q", 10)))
            QueueReader(redis_client, "q", consumer="c1").read_new(10, block_ms=None)
        return True

    reader = QueueReader(redis_client, "q", consumer="c1")
    lock = Lock(redis_client, new_lock_entry("q"), ttl_s=5)
    assert lock.acquire()
    consumer = QueueVisit(settings, reader, stored(settings), lock, StopWatch(inbox))
    assert consumer.run(Stay(batches=5, others_waiting=others_waiting)) is Outcome.DRAINED
    assert next(calls) == 2  # the visit went as planned: two batches, then an empty read ahead
    assert stored(settings).ids("q") == set(first) | set(lost)
    assert snapshot(redis_client, "q").in_flight == 0


class _StopAtFirstWait(StopWatch):
    """Records the consumer's waits, and asks it to stop at the first one."""

    def __init__(self, inbox: SignalInbox) -> None:
        super().__init__(inbox)
        self.waits: list[float] = []

    def wait(self, timeout_s: float) -> bool:
        self.waits.append(timeout_s)
        self.requested = True
        return True


def test_a_consumer_that_caught_up_lingers_instead_of_reading_ahead(settings, redis_client, inbox):
    """QUEUE_BATCH_LINGER: after a batch smaller than QUEUE_BATCH_SIZE the consumer waits before
    it reads again (the next batch fills up meanwhile); it sends no read ahead that would
    fetch the few events that came in since."""
    settings = settings.model_copy(update={"queue_batch_size": 10, "queue_batch_linger_s": 0.05})
    ids = enqueue(settings.redis_url, make_events("q", 3))
    reader = QueueReader(redis_client, "q", consumer="c1")
    lock = Lock(redis_client, new_lock_entry("q"), ttl_s=5)
    assert lock.acquire()
    stop = _StopAtFirstWait(inbox)
    consumer = QueueVisit(settings, reader, stored(settings), lock, stop)
    consumer._send_read = lambda block: pytest.fail("read ahead after a partial batch")  # type: ignore[method-assign]
    assert consumer.run(Stay(batches=10)) is Outcome.STOPPED
    assert stop.waits == [0.05]
    assert stored(settings).ids("q") == set(ids)
    assert snapshot(redis_client, "q").in_flight == 0


def test_a_lanes_spare_consumer_leaves_once_it_has_caught_up(settings, redis_client, inbox):
    """QUEUE_CONSUMERS > 1: a consumer in the second slot helps with a backlog (full batches),
    then leaves when a batch comes back smaller than a full one, instead of splitting a trickle
    with the first slot's holder (each commit, read and wake-up paid twice). The first slot's
    holder stays on (here: until the stop it is given while it waits)."""
    settings = settings.model_copy(update={"queue_batch_size": 10})
    backlog = enqueue(settings.redis_url, make_events("q", 25))  # two full batches, then 5
    reader = QueueReader(redis_client, "q", consumer="spare")
    spare_lock = Lock(redis_client, replace(new_lock_entry("q"), slot=1), ttl_s=5)
    assert spare_lock.acquire()
    spare = QueueVisit(settings, reader, stored(settings), spare_lock, StopWatch(inbox))
    assert spare.run(Stay(batches=10)) is Outcome.SPARE
    assert spare.served == 3
    assert stored(settings).ids("q") == set(backlog)
    assert snapshot(redis_client, "q").in_flight == 0
    spare_lock.release()

    trickle = enqueue(settings.redis_url, make_events("q", 5))
    first_lock = Lock(redis_client, new_lock_entry("q"), ttl_s=5)
    assert first_lock.acquire()
    stop = _StopAtFirstWait(inbox)
    first = QueueVisit(settings, QueueReader(redis_client, "q", consumer="first"),
                       stored(settings), first_lock, stop)  # fmt: skip
    assert first.run(Stay(batches=10)) is Outcome.STOPPED, "the first slot's holder stays"
    assert stored(settings).ids("q") == set(backlog) | set(trickle)
