"""One consumer process serving many queues in turn, run in this process (no fork)."""

from collections.abc import Sequence

import pytest

from sluicegate.events import Delivery
from sluicegate.process.signals import SignalInbox, StopWatch
from sluicegate.queue.lock import new_lock_entry
from sluicegate.queue.stats import snapshot
from sluicegate.repository.sqlite import SqliteRepository
from sluicegate.worker.fork import EXIT_OK, serve_queues
from sluicegate.worker.visit import QueueVisit
from tests.loading import enqueue, make_events


class RecordingConsumer(QueueVisit):
    """Notes the queue of every batch it processes, in order."""

    batches: list[str] = []  # noqa: RUF012 - shared on purpose: one list per test run

    def process(self, batch: Sequence[Delivery]) -> None:
        RecordingConsumer.batches.append(self.reader.queue)
        super().process(batch)


@pytest.fixture
def stop():
    box = SignalInbox([])
    yield StopWatch(box)
    box.close()


def serve(settings, stop, **changes):
    RecordingConsumer.batches = []
    tuned = settings.model_copy(update=changes)
    identity = new_lock_entry("")
    return serve_queues(tuned, settings.redis_url, identity, stop, RecordingConsumer)


@pytest.mark.slow
def test_one_process_serves_every_queue(settings, redis_client, stop):
    ids = set()
    for n in range(60):
        ids |= set(enqueue(settings.redis_url, make_events(f"q{n}", 3)))
    assert serve(settings, stop) == EXIT_OK  # after a TTL with nothing left
    assert SqliteRepository(settings.sqlite_filepath).ids() == ids
    assert sorted(set(RecordingConsumer.batches)) == sorted(f"q{n}" for n in range(60))
    assert all(snapshot(redis_client, f"q{n}").depth == 0 for n in range(60))


def test_weighted_round_robin(settings, stop):
    """a:3 gets three batches for every one of b while both have work."""
    enqueue(settings.redis_url, make_events("a", 300))
    enqueue(settings.redis_url, make_events("b", 300))
    serve(settings, stop, queue_batch_size=10, queue_share_batches=1, queue_weights="a:3")
    while_both = RecordingConsumer.batches[:40]
    assert while_both.count("a") == 30
    assert while_both.count("b") == 10
    assert "bb" not in "".join(q for q in while_both)


def test_a_queue_alone_is_served_without_leaving_it(settings, stop):
    enqueue(settings.redis_url, make_events("a", 100))
    serve(settings, stop, queue_batch_size=10, queue_share_batches=1)
    assert RecordingConsumer.batches == ["a"] * 10
