"""Reading where the ids are, from a real Redis and a real SQLite file."""

import sqlite3

import pytest

from sluicegate.drill.database import event_rows
from sluicegate.drill.observe import Observer
from sluicegate.errors import DrillError
from sluicegate.queue.reader import QueueReader
from tests.loading import enqueue, make_events


def test_holdings_split_the_stream_into_queued_in_flight_and_dead(
    tmp_path, redis_server, redis_client
):
    events = make_events("q", 10)
    ids = enqueue(redis_server.url, events)
    reader = QueueReader(redis_client, "q", consumer="c1")
    delivered = reader.read_new(4, block_ms=100)
    reader.dead_letter(delivered[0], "poison", deliveries=5)
    observer = Observer(redis_server.url, f"sqlite:///{tmp_path / 'none.db'}", "q")
    try:
        holdings = observer.holdings()
        assert holdings.dead == {ids[0]}
        assert holdings.in_flight == set(ids[1:4])
        assert holdings.queued == set(ids[4:])
        assert holdings.persisted == set()
        assert observer.counts().in_flight == 3
        assert observer.pending_by_consumer() == {"c1": 3}
        assert observer.lock_holder() is None
    finally:
        observer.close()


def test_a_duplicated_row_is_seen(tmp_path, redis_server):
    path = tmp_path / "events.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE events (event_id TEXT, queue TEXT)")  # no key: a broken schema
    db.executemany(
        "INSERT INTO events VALUES (?, ?)", [("a", "q"), ("a", "q"), ("b", "q"), ("x", "other")]
    )
    db.commit()
    db.close()
    assert sorted(event_rows(f"sqlite:///{path}", "q")) == ["a", "a", "b"]
    observer = Observer(redis_server.url, f"sqlite:///{path}", "q")
    try:
        holdings = observer.holdings()
    finally:
        observer.close()
    assert holdings.persisted == {"a", "b"}
    assert holdings.duplicated == {"a"}
    assert holdings.rows == 3


def test_many_entries_are_read_page_by_page(tmp_path, redis_server, redis_client, monkeypatch):
    monkeypatch.setattr("sluicegate.drill.observe.PAGE", 7)
    ids = enqueue(redis_server.url, make_events("q", 30))
    reader = QueueReader(redis_client, "q", consumer="c1")
    reader.read_new(16, block_ms=100)
    observer = Observer(redis_server.url, f"sqlite:///{tmp_path / 'none.db'}", "q")
    try:
        holdings = observer.holdings()
    finally:
        observer.close()
    assert holdings.in_flight == set(ids[:16])
    assert holdings.queued == set(ids[16:])


def test_a_database_url_of_another_kind_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DrillError, match="database URL"):
        event_rows("host=db dbname=x", "q")
    assert list(tmp_path.iterdir()) == []  # no stray SQLite file
