"""A queue read by several destinations: one consumer group each, each with its own work, lag,
acks, dead letters, counters and lock slots; the stream keeps an entry exactly until every
destination has it (a real server)."""

import asyncio
import random

from sluicegate.queue import dead_letters, keys
from sluicegate.queue.client import async_client
from sluicegate.queue.lanes import Gathering, Lane, stream_states
from sluicegate.queue.lock import acquire_slot, held_lane_slots, new_lock_entry
from sluicegate.queue.reader import QueueReader
from sluicegate.queue.stats import snapshot
from sluicegate.queue.writer import DurabilityMode, QueueWriter
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
    assert redis_client.xlen(keys.stream_key("q")) == 0  # every destination has them now


def test_replayed_and_quarantined_events_keep_every_destination_s_line(redis_server, redis_client):
    """A dead letter of one destination goes back to every destination (the others absorb it);
    a quarantined event counts as dead for every destination until it is replayed."""
    enqueue(redis_server.url, make_events("q", 3))
    asyncio.run(_quarantine(redis_server.url, make_events("q", 1)))
    sql, lake = readers(redis_client)
    sql.ack(sql.read_new(10, block_ms=None), persisted=3, duplicates=0)
    poison, *rest = lake.read_new(10, block_ms=None)
    lake.dead_letter(poison, "refused by the lake", deliveries=3)
    lake.ack(rest, persisted=2, duplicates=0)
    assert [lane.dead_lettered for lane in snapshot(redis_client, "q").lanes] == [1, 2]
    [letter] = dead_letters.list_dead(redis_client, "q", destination="lake")
    assert dead_letters.replay(redis_client, "q", [letter.entry_id], "lake") == 1
    [quarantined] = dead_letters.list_dead(redis_client, "q")
    assert dead_letters.replay(redis_client, "q", [quarantined.entry_id]) == 1
    assert all(lane.unaccounted == 0 for lane in snapshot(redis_client, "q").lanes)
    for reader in (sql, lake):
        batch = reader.read_new(10, block_ms=None)
        stored = sum(1 for d in batch if d.event.event_id == quarantined.event.event_id)
        reader.ack(
            batch,
            persisted=stored + (reader is lake),
            duplicates=len(batch) - stored - (reader is lake),
        )
    lanes = snapshot(redis_client, "q").lanes
    assert [(lane.persisted, lane.dead_lettered, lane.unaccounted) for lane in lanes] == [
        (4, 0, 0),
        (4, 0, 0),
    ]
    assert redis_client.xlen(keys.stream_key("q")) == 0


async def _quarantine(url: str, events) -> None:
    client = async_client(url)
    writer = QueueWriter(client, DurabilityMode.WAITAOF, max_depth=100, durability_timeout_s=5)
    try:
        await writer.enqueue(
            "q", [], quarantined=[(event, "breaks the schema") for event in events]
        )
    finally:
        await writer.aclose()
        await client.aclose()


def test_memory_is_reclaimed_once_every_destination_has_the_entries(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 2000))
    sql, lake = readers(redis_client)
    stream = keys.stream_key("q")
    full = redis_client.memory_usage(stream, samples=0)
    for reader in (sql, lake):
        while batch := reader.read_new(500, block_ms=None):
            reader.ack(batch, persisted=len(batch), duplicates=0)
        if reader is sql:  # the lake has none of them yet: nothing may go
            assert redis_client.xlen(stream) == 2000
            assert redis_client.memory_usage(stream, samples=0) >= full
    assert redis_client.xlen(stream) == 0
    assert redis_client.memory_usage(stream, samples=0) < full / 20
    lanes = stream_states(redis_client, ["q"])["q"]
    assert (lanes.work("sql"), lanes.work("lake"), lanes.groups["lake"].lag) == (0, 0, 0)


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


def test_the_stream_keeps_exactly_what_some_destination_still_needs(redis_server, redis_client):
    """Random reads, acks and dead letters by three destinations with two consumers each: after
    every step each entry a destination has not acknowledged is still there, and after every
    acknowledgement nothing older than the oldest such entry is."""
    rng = random.Random(19)
    names = ("sql", "lake", "copy")
    starts = [(keys.consumer_group(name), "0") for name in names]
    enqueue(redis_server.url, make_events("q", 200))
    readers_ = {
        (name, consumer): QueueReader(redis_client, "q", consumer, name, starts)
        for name in names
        for consumer in ("c1", "c2")
    }
    readers_["sql", "c1"].ensure_groups()
    held: dict[tuple[str, str], list] = {key: [] for key in readers_}
    done: dict[str, set[str]] = {name: set() for name in names}
    added = {e.decode() for e, _ in redis_client.xrange(keys.stream_key("q"))}
    for step in range(200):
        if step % 50 == 25:  # producers go on meanwhile
            enqueue(redis_server.url, make_events("q", 20))
            added |= {e.decode() for e, _ in redis_client.xrange(keys.stream_key("q"))}
        key = rng.choice(list(readers_))
        reader, name = readers_[key], key[0]
        acked = _random_step(rng, reader, held[key], done[name])
        present = {e.decode() for e, _ in redis_client.xrange(keys.stream_key("q"))}
        needed = {entry for name_ in names for entry in added - done[name_]}
        assert needed <= present, f"step {step}: trimmed before every destination had it"
        if acked and needed:
            assert min(map(_order, present)) >= min(map(_order, needed)), f"step {step}: kept"
    for key, reader in readers_.items():
        reader.ack(held[key], persisted=len(held[key]), duplicates=0)
        while batch := reader.read_new(100, block_ms=None):
            reader.ack(batch, persisted=len(batch), duplicates=0)
    assert redis_client.xlen(keys.stream_key("q")) == 0


def _random_step(rng, reader, held, done) -> bool:
    """Read, acknowledge or dead-letter at random; True when something was acknowledged."""
    action = rng.choice(("read", "read", "ack", "dead"))
    if action == "read" or not held:
        held.extend(reader.read_new(rng.randint(1, 25), block_ms=None))
        return False
    if action == "dead":
        delivery = held.pop(rng.randrange(len(held)))
        reader.dead_letter(delivery, "refused", deliveries=1)
        done.add(delivery.entry_id)
        return True
    chosen = rng.sample(held, rng.randint(1, len(held)))
    reader.ack(chosen, persisted=len(chosen), duplicates=0)
    done.update(delivery.entry_id for delivery in chosen)
    held[:] = [delivery for delivery in held if delivery not in chosen]
    return True


def test_one_group_deletes_its_acked_entries_at_once(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 5))
    sql = QueueReader(redis_client, "q", "c1")
    sql.ack(sql.read_new(3, block_ms=None), persisted=3, duplicates=0)
    assert redis_client.xlen(keys.stream_key("q")) == 2


def test_one_group_keeps_exactly_what_it_has_not_acknowledged(redis_server, redis_client):
    """One destination, two consumers, acks and dead letters in any order (a refused event left
    pending while later ones are acked): after every step the stream holds exactly the entries
    not acknowledged (the trim takes what it can, the rest goes by id), and its lag is exact."""
    rng = random.Random(21)
    enqueue(redis_server.url, make_events("q", 150))
    readers_ = {name: QueueReader(redis_client, "q", name) for name in ("c1", "c2")}
    readers_["c1"].ensure_groups()
    held: dict[str, list] = {name: [] for name in readers_}
    done: set[str] = set()
    added = {e.decode() for e, _ in redis_client.xrange(keys.stream_key("q"))}
    for step in range(150):
        if step % 50 == 25:
            enqueue(redis_server.url, make_events("q", 20))
            added |= {e.decode() for e, _ in redis_client.xrange(keys.stream_key("q"))}
        name = rng.choice(list(readers_))
        _random_step(rng, readers_[name], held[name], done)
        present = {e.decode() for e, _ in redis_client.xrange(keys.stream_key("q"))}
        assert present == added - done, f"step {step}"
        delivered = done | {d.entry_id for batch in held.values() for d in batch}
        assert stream_states(redis_client, ["q"])["q"].queued("sql") == len(added - delivered)


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
