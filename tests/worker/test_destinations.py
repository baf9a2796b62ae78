"""Two destinations of one queue: each gets every event (a consumer in this process), and one
whose store is unwritable never holds the other back (the agent, as deployed)."""

import signal
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

LOCKED_S = 2.0  # how long destination a's SQLite file stays locked once the agent runs


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
    """One consumer alone: while a's file is locked it leaves a's lane for b's (it gives way)
    instead of waiting for a there, and b gets everything first."""
    settings, paths = two_files
    writer = sqlite3.connect(paths["a"], isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    ids = set(enqueue(settings.redis_url, make_events("q", 1200)))
    consumer = Consumer(settings)
    try:
        wait_for(lambda: ids_in(paths["b"]) == ids, timeout_s=30, message="b, while a is locked")
        assert ids_in(paths["a"]) == set()
        writer.execute("ROLLBACK")
        wait_for(lambda: ids_in(paths["a"]) == ids, timeout_s=30, message="a, once unlocked")
    finally:
        writer.close()
        assert consumer.close() == EXIT_OK
    for lane in snapshot(redis_client, "q").lanes:
        assert (lane.queued, lane.in_flight, lane.persisted, lane.unaccounted) == (0, 0, 1200, 0)


@pytest.mark.slow
def test_an_unwritable_destination_never_holds_the_other_back(
    two_files, redis_client, subprocess_env, start_agent
):
    settings, paths = two_files
    writer = sqlite3.connect(paths["a"], isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another writer holds a's file: every write there waits
    ids = set(enqueue(settings.redis_url, make_events("q", 100)))
    agent = start_agent(DESTINATIONS_FILE=str(settings.destinations_file), MAX_CONSUMERS="2")
    try:
        wait_for(lambda: ids_in(paths["b"]) == ids, timeout_s=30, message="the agent to start")
        worst_b, started = 0.0, time.monotonic()
        while time.monotonic() - started < LOCKED_S:  # a stays locked meanwhile
            ids |= set(enqueue(settings.redis_url, make_events("q", 20)))
            worst_b = max(worst_b, lags(redis_client)["b"])
            time.sleep(0.1)
        lag_a = lags(redis_client)["a"]
        writer.execute("ROLLBACK")
        wait_for(lambda: all(ids_in(path) == ids for path in paths.values()), timeout_s=30)
    finally:
        writer.close()
        agent.signal(signal.SIGTERM)
    assert agent.wait() == 0
    print(
        f"lag after a's file was locked for {LOCKED_S} s more: a {lag_a:.2f} s, b {worst_b:.2f} s"
    )
    assert lag_a >= LOCKED_S  # nothing reached a while it was locked
    assert worst_b < lag_a / 2  # b kept up (0.02-0.04 s here): its lag did not follow a's
