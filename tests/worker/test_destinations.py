"""Two destinations of one queue, served by a consumer in this process: each gets every event,
and one whose store is unwritable never holds the other back."""

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from sluicegate.process.signals import SignalInbox, StopWatch
from sluicegate.queue.lock import new_lock_entry
from sluicegate.queue.stats import snapshot
from sluicegate.repository.sqlite import SqliteRepository
from sluicegate.worker.fork import EXIT_OK, serve_queues
from tests.loading import enqueue, make_events
from tests.waiting import wait_for

LOCKED_S = 3.0  # how long destination a's SQLite file stays locked by another writer


@pytest.fixture
def two_files(settings, tmp_path):
    """Destinations ``a`` and ``b``: SQLite files of their own."""
    paths = {name: tmp_path / f"{name}.db" for name in "ab"}
    lines = []
    for name, path in paths.items():
        lines += [f"[destinations.{name}]", 'kind = "sql"', f'url = "sqlite:///{path}"']
        SqliteRepository(path).close()  # the schema, so the test can lock the file
    (tmp_path / "destinations.toml").write_text("\n".join(lines) + "\n")
    tuned = settings.model_copy(update={"destinations_file": tmp_path / "destinations.toml"})
    return tuned, paths


class Consumer:
    """``serve_queues`` in a thread, stopped by the test."""

    def __init__(self, settings) -> None:
        self.inbox = SignalInbox([])
        self.stop = StopWatch(self.inbox)
        self.code: list[int] = []
        run = serve_queues
        args = (settings, settings.redis_url, new_lock_entry(""), self.stop)
        self.thread = threading.Thread(target=lambda: self.code.append(run(*args)), daemon=True)
        self.thread.start()

    def close(self) -> int:
        self.stop.requested = True
        self.thread.join(timeout=30)
        self.inbox.close()
        return self.code[0]


def ids_in(path: Path) -> set[str]:
    repository = SqliteRepository(path)
    try:
        return repository.ids("q")
    finally:
        repository.close()


def lags(client) -> dict[str, float]:
    lanes = snapshot(client, "q", destinations=["a", "b"]).lanes
    return {lane.destination: lane.oldest_age_s for lane in lanes}


def test_each_destination_stores_every_event_once(two_files, redis_client):
    settings, paths = two_files
    ids = set(enqueue(settings.redis_url, make_events("q", 1200)))
    consumer = Consumer(settings)
    try:
        wait_for(lambda: all(ids_in(path) == ids for path in paths.values()), timeout_s=30)
    finally:
        assert consumer.close() == EXIT_OK
    for lane in snapshot(redis_client, "q").lanes:
        assert (lane.queued, lane.in_flight, lane.persisted, lane.unaccounted) == (0, 0, 1200, 0)


def test_an_unwritable_destination_never_holds_the_other_back(two_files, redis_client):
    settings, paths = two_files
    writer = sqlite3.connect(paths["a"], isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another writer holds a's file: every write there waits
    ids = set(enqueue(settings.redis_url, make_events("q", 100)))
    consumer = Consumer(settings)
    worst_b, started = 0.0, time.monotonic()
    try:
        while time.monotonic() - started < LOCKED_S:
            ids |= set(enqueue(settings.redis_url, make_events("q", 20)))
            worst_b = max(worst_b, lags(redis_client)["b"])
            time.sleep(0.1)
        held_back = lags(redis_client)["a"]
        writer.execute("ROLLBACK")
        wait_for(lambda: all(ids_in(path) == ids for path in paths.values()), timeout_s=30)
    finally:
        writer.close()
        assert consumer.close() == EXIT_OK
    print(
        f"lag while a was locked for {LOCKED_S} s: a {held_back:.2f} s, b at most {worst_b:.2f} s"
    )
    assert held_back >= LOCKED_S - 0.5  # nothing reached a while it was locked
    assert worst_b < LOCKED_S / 2  # b kept up: its lag did not follow a's
