"""SQLite's expiry: chunked deletes that leave the write lock to consumers, space given back,
and an older file (no id table, no incremental vacuum) brought up to date."""

import sqlite3
import threading
import time
from pathlib import Path

from sluicegate.events import now_ms
from sluicegate.repository.sqlite import PAGE_SIZE, SqliteRepository
from sluicegate.retention import DAY_MS, RetentionPolicy
from tests.repository.contract import make_events
from tests.repository.lifecycle_contract import MIDNIGHT, again, event

OLD_LAYOUT = """
CREATE TABLE events (event_id TEXT PRIMARY KEY, queue TEXT NOT NULL, payload TEXT NOT NULL,
    accepted_at INTEGER NOT NULL, persisted_at INTEGER NOT NULL);
CREATE INDEX events_queue ON events (queue);
"""
# A consumer's batch waits for the lock at most about one chunk (docs/retention.md): the bound
# asserted here is loose for a loaded 2-core machine; the bench reports the figures.
WAIT_BOUND_S = 1.0


def test_expiry_lets_a_consumer_write_meanwhile_and_gives_the_space_back(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    maintainer = SqliteRepository(path)
    old = [event(at_ms=MIDNIGHT - 3 * DAY_MS + n) for n in range(20_000)]
    for start in range(0, len(old), 5000):
        maintainer.persist(old[start : start + 5000])
    stop, waits = threading.Event(), []

    def consume() -> None:
        writer = SqliteRepository(path)
        while not stop.is_set():
            started = time.monotonic()
            writer.persist(make_events(100))
            waits.append(time.monotonic() - started)
            stop.wait(0.002)  # a consumer's Redis round trips (ack, next read) between batches
        writer.close()

    consumer = threading.Thread(target=consume)
    consumer.start()
    try:
        report = maintainer.expire(RetentionPolicy(86_400.0, {}, 7 * 86_400.0), now_ms())
    finally:
        stop.set()
        consumer.join(timeout=30)
    assert report is not None
    assert report.dropped == {"orders": 20_000}
    assert waits
    assert max(waits) < WAIT_BOUND_S, f"slowest batch {max(waits):.3f} s"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0, "space given back"
        assert db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 8192, "a new file"
    assert maintainer.persist([again(old[0], now_ms())]) == 0, "its id is still known"
    maintainer.close()


def test_an_older_file_gets_its_id_table_and_migrate_turns_on_incremental_vacuum(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.db"
    stored = make_events(3)
    with sqlite3.connect(path) as db:
        db.executescript(OLD_LAYOUT)
        db.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, 1)",
            [(e.event_id, e.queue, e.payload, e.accepted_at_ms) for e in stored],
        )
    repository = SqliteRepository(path)
    assert repository.persist(stored) == 0
    repository.delete("orders", [stored[0].event_id], "erin")
    assert repository.persist(stored[:1]) == 0
    assert repository.migrate() == 2
    assert repository.migrate() is None
    repository.persist(make_events(2_000))
    report = repository.expire(RetentionPolicy(86_400.0, {}, 7 * 86_400.0), now_ms() + 2 * DAY_MS)
    assert report is not None
    assert report.dropped == {"orders": 2_002}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        assert db.execute("PRAGMA page_size").fetchone()[0] == 4096, "an older file keeps its pages"
        assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0, "its space given back too"
    repository.close()
