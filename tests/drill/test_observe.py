"""Reading where the ids are, from a real Redis and a real SQLite file."""

import sqlite3

import pytest

from sluicegate.drill.checker import Holdings
from sluicegate.drill.database import event_rows, worst_lag_ms
from sluicegate.drill.destinations import Destination
from sluicegate.drill.observe import Observer
from sluicegate.errors import DrillError
from sluicegate.queue import keys
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
        assert observer.lock_holders() == {"q": []}
    finally:
        observer.close()


def test_a_packed_entry_is_queued_then_in_flight_with_all_its_events(
    tmp_path, redis_server, redis_client
):
    """One entry of a request's three events: each of its ids is queued, then in flight, with
    the entry (the checker compares ids, one per event), held by its consumer, all of them."""
    packed = enqueue(redis_server.url, make_events("q", 3), packing=True)
    single = enqueue(redis_server.url, make_events("q", 2), batch=1, packing=True)
    assert redis_client.xlen(keys.stream_key("q")) == 3
    observer = Observer(redis_server.url, f"sqlite:///{tmp_path / 'none.db'}", "q")
    try:
        before = observer.holdings()
        QueueReader(redis_client, "q", consumer="c1").read_new(1, block_ms=None)  # one entry
        after = observer.holdings()
        assert observer.pending_by_consumer() == {"c1": 3}, "its request's events"
    finally:
        observer.close()
    assert (before.queued, before.in_flight) == (frozenset(packed + single), frozenset())
    assert (after.queued, after.in_flight) == (frozenset(single), frozenset(packed))


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


def test_several_queues_are_read_together_page_by_page(
    tmp_path, redis_server, redis_client, monkeypatch
):
    """Each queue's ids in its own holdings; a consumer serving several queues is one name."""
    monkeypatch.setattr("sluicegate.drill.observe.PAGE", 7)
    queues = ["m-0", "m-1", "m-2", "m-3"]  # m-3 never got an event: no stream, no group
    ids = {
        queue: enqueue(redis_server.url, make_events(queue, n))
        for queue, n in zip(queues[:3], (3, 20, 9), strict=True)
    }
    for queue in ("m-0", "m-1"):
        QueueReader(redis_client, queue, consumer="c1").read_new(2, block_ms=100)
    path = tmp_path / "events.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE events (event_id TEXT, queue TEXT, accepted_at INT, persisted_at INT)")
    rows = [("s1", "m-2", 100, 250), ("s2", "m-2", 100, 130), ("s3", "m-0", 5, 10)]
    rows.append(("s4", "m-1x", 0, 9999))  # inside the range of names, not a queue of the run
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    observer = Observer(redis_server.url, f"sqlite:///{path}", queues)
    try:
        found = observer.holdings_by_queue()
        assert observer.counts().in_flight == 4
        assert observer.counts().queued == 3 + 20 + 9 - 4
        assert [c.queue for c in observer.counts_by_queue()] == queues
        assert observer.pending_by_consumer() == {"c1": 4}
        assert observer.lock_holders() == {queue: [] for queue in queues}
        assert observer.counts_by_queue()[3].depth == 0
    finally:
        observer.close()
    assert found["m-1"].in_flight == set(ids["m-1"][:2])
    assert found["m-1"].queued == set(ids["m-1"][2:])
    assert found["m-2"].persisted == {"s1", "s2"}
    assert found["m-0"].persisted == {"s3"}
    assert found["m-3"] == Holdings()
    assert worst_lag_ms(f"sqlite:///{path}", queues) == {"m-0": 5, "m-2": 150}


def test_each_destination_is_read_through_its_own_group_and_store(
    tmp_path, redis_server, redis_client
):
    """Queued for a destination: not handed to its group yet; in flight: pending in it; an
    entry its group acknowledged counts only if its store has it. The lake is a Delta table."""
    from arro3.core import Array, DataType, Table
    from deltalake import write_deltalake

    ids = enqueue(redis_server.url, make_events("q", 10))
    sql_reader = QueueReader(redis_client, "q", consumer="c1")
    sql_reader.read_new(6, block_ms=100)
    lake = Destination("lake", "delta", (tmp_path / "lake").as_uri())
    stream = keys.stream_key("q")
    redis_client.xgroup_create(stream, lake.group, id="0")
    [(_, handed)] = redis_client.xreadgroup(lake.group, "c2", {stream: ">"}, count=3)
    redis_client.xack(stream, lake.group, *[entry for entry, _ in handed[:2]])  # stored below
    table = {"queue": ["q", "q", "q"], "event_id": [ids[0], ids[1], ids[1]]}
    columns = {name: Array(values, DataType.string()) for name, values in table.items()}
    write_deltalake(f"{lake.location}/q", Table.from_pydict(columns))  # a table per queue
    sql = Destination("sql", "sql", f"sqlite:///{tmp_path / 'none.db'}")
    observer = Observer(redis_server.url, sql.location, "q", destinations=[sql, lake])
    try:
        found = observer.holdings_by_destination()
        lags = observer.lags_s()
        assert observer.pending_by_consumer() == {"c1": 6, "c2": 1}
    finally:
        observer.close()
    assert found["sql"]["q"] == Holdings(queued=frozenset(ids[6:]), in_flight=frozenset(ids[:6]))
    held = found["lake"]["q"]
    assert (held.queued, held.in_flight) == (frozenset(ids[3:]), frozenset({ids[2]}))
    assert (held.persisted, held.duplicated, held.rows) == ({ids[0], ids[1]}, {ids[1]}, 3)
    assert set(lags) == {"sql", "lake"}
    assert all(0 <= lag_s < 60 for lag_s in lags.values())
