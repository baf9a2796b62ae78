"""A queue read by several destinations: one consumer group each, each with its own work, lag,
acks, dead letters, counters and lock slots (a real server)."""

from sluicegate.queue import keys
from sluicegate.queue.lanes import Gathering, Lane, stream_states
from sluicegate.queue.lock import acquire_slot, held_lane_slots, new_lock_entry
from sluicegate.queue.reader import QueueReader
from sluicegate.queue.stats import snapshot
from tests.loading import enqueue, make_events

BOTH = [(keys.consumer_group("sql"), "0"), (keys.consumer_group("lake"), "0")]


def readers(client, queue="q", starts=BOTH):
    sql = QueueReader(client, queue, "c1", "sql", starts)
    lake = QueueReader(client, queue, "c1", "lake", starts)
    sql.ensure_groups()
    return sql, lake


def test_each_destination_has_its_own_work_and_lag(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 10))
    sql, lake = readers(redis_client)
    batch = sql.read_new(10, block_ms=None)
    sql.ack(batch[:6], persisted=6, duplicates=0)
    state = stream_states(redis_client, ["q"])["q"]
    assert (state.length, state.work("sql"), state.work("lake")) == (10, 4, 10)
    assert (state.groups["sql"].pending, state.queued("sql"), state.queued("lake")) == (4, 0, 10)
    assert state.oldest_age_s("sql") >= 0
    sql_lane, lake_lane = snapshot(redis_client, "q").lanes
    assert (sql_lane.destination, sql_lane.queued, sql_lane.in_flight) == ("sql", 0, 4)
    assert (sql_lane.persisted, sql_lane.accepted, sql_lane.unaccounted) == (6, 10, 0)
    assert (lake_lane.destination, lake_lane.queued, lake_lane.persisted) == ("lake", 10, 0)
    assert lake_lane.unaccounted == 0
    assert [lane["destination"] for lane in snapshot(redis_client, "q").as_json()["destinations"]]
    assert len(lake.read_new(100, block_ms=None)) == 10


def test_an_entry_stays_until_every_destination_acknowledged_it(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 5))
    sql, lake = readers(redis_client)
    sql.ack(sql.read_new(5, block_ms=None), persisted=5, duplicates=0)
    assert redis_client.xlen(keys.stream_key("q")) == 5  # lake has not had them
    poison, *rest = lake.read_new(5, block_ms=None)
    lake.dead_letter(poison, "refused by the lake", deliveries=3)
    assert redis_client.xlen(keys.dead_letter_key("q", "lake")) == 1
    assert redis_client.xlen(keys.dead_letter_key("q")) == 0
    lake.ack(rest, persisted=4, duplicates=0)
    lake_lane = snapshot(redis_client, "q").lanes[1]
    assert (lake_lane.dead_lettered, lake_lane.persisted, lake_lane.unaccounted) == (1, 4, 0)


def test_one_group_deletes_its_acked_entries_at_once(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 5))
    sql = QueueReader(redis_client, "q", "c1")
    sql.ack(sql.read_new(3, block_ms=None), persisted=3, duplicates=0)
    assert redis_client.xlen(keys.stream_key("q")) == 2


def test_a_destination_added_later_starts_where_it_says(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 4))
    sql = QueueReader(redis_client, "q", "c1")
    sql.read_new(1, block_ms=None)  # the queue has been read: start points apply now
    starts = [*BOTH, (keys.consumer_group("late"), "$")]
    QueueReader(redis_client, "q", "c1", "sql", starts).ensure_groups()
    state = stream_states(redis_client, ["q"])["q"]
    assert (state.work("lake"), state.work("late")) == (4, 0)  # lake: "oldest"; late: "now"


def test_a_new_queue_gives_every_destination_its_first_events(redis_server, redis_client):
    """And the default destination's group, made by the enqueue, goes when unused."""
    enqueue(redis_server.url, make_events("q", 3))
    starts = [(keys.consumer_group("lake"), "$"), (keys.consumer_group("copy"), "$")]
    QueueReader(redis_client, "q", "c1", "lake", starts).ensure_groups()
    groups = {g["name"].decode() for g in redis_client.xinfo_groups(keys.stream_key("q"))}
    assert groups == {"consumers:lake", "consumers:copy"}
    state = stream_states(redis_client, ["q"])["q"]
    assert (state.work("lake"), state.work("copy")) == (3, 3)


def test_a_gathering_destination_waits_for_a_full_batch_or_its_age(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 5))
    readers(redis_client)
    state = stream_states(redis_client, ["q"])["q"]
    assert state.ready("lake", None)
    assert not state.ready("lake", Gathering(min_events=10, max_wait_s=60))
    assert state.ready("lake", Gathering(min_events=5, max_wait_s=60))
    assert state.ready("lake", Gathering(min_events=10, max_wait_s=0))


def test_lock_slots_and_stats_are_per_destination(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 2))
    readers(redis_client)
    sql_entry = new_lock_entry("q")
    lake_entry = new_lock_entry("q", destination="lake")
    assert acquire_slot(redis_client, sql_entry, 1, ttl_s=5) is not None
    assert acquire_slot(redis_client, lake_entry, 1, ttl_s=5) is not None
    assert acquire_slot(redis_client, new_lock_entry("q", destination="lake"), 1, 5) is None
    held = held_lane_slots(redis_client, [Lane("q"), Lane("q", "lake")], 1)
    assert [entry.token for entry in held[Lane("q", "lake")]] == [lake_entry.token]
    assert keys.lock_key("q", 0, "lake") == "sluicegate:{q}:worker:lake:0"
    assert keys.lock_key("q", 0) == "sluicegate:{q}:worker:0"  # as before destinations
