"""The stream operations against a real server: write, read, ack, reclaim, dead-letter."""

import asyncio

import pytest

from sluicegate.errors import ConfigurationError
from sluicegate.queue import dead_letters, keys
from sluicegate.queue.client import async_client
from sluicegate.queue.reader import QueueReader
from sluicegate.queue.stats import list_queues, snapshot
from sluicegate.queue.writer import DurabilityMode, QueueWriter, detect_durability
from tests.loading import enqueue, make_events
from tests.waiting import wait_for


def test_events_travel_with_id_payload_and_accepted_at(redis_server, redis_client):
    events = make_events("orders", 3)
    enqueue(redis_server.url, events)
    reader = QueueReader(redis_client, "orders", "c1")
    delivered = reader.read_new(10, block_ms=100)
    assert [d.event for d in delivered] == events
    assert list_queues(redis_client) == ["orders"]


def test_snapshot_moves_from_queued_to_in_flight_to_gone(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 10))
    assert snapshot(redis_client, "q").queued == 10
    reader = QueueReader(redis_client, "q", "c1")
    batch = reader.read_new(4, block_ms=100)
    state = snapshot(redis_client, "q")
    assert (state.queued, state.in_flight) == (6, 4)
    reader.ack(batch, persisted=3, duplicates=1)
    state = snapshot(redis_client, "q")
    assert (state.queued, state.in_flight, state.persisted_acks) == (6, 0, 3)
    assert state.duplicates_suppressed == 1
    assert redis_client.xlen(keys.stream_key("q")) == 6  # acked entries are deleted


def test_own_pending_entries_are_read_again(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 5))
    reader = QueueReader(redis_client, "q", "c1")
    first = reader.read_new(5, block_ms=100)
    assert reader.read_own_pending(10) == (first, False)
    counts = reader.delivery_counts(first)
    assert set(counts.values()) == {2}


def test_reclaim_takes_over_entries_of_a_dead_consumer(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 5))
    dead = QueueReader(redis_client, "q", "dead-host:1")
    held = dead.read_new(5, block_ms=100)
    alive = QueueReader(redis_client, "q", "alive:2")
    assert alive.reclaim(min_idle_s=60, count=10) == []
    claimed = wait_for(
        lambda: alive.reclaim(min_idle_s=0.2, count=10),
        timeout_s=5,
        message="entries to become idle",
    )
    assert claimed == held
    alive.forget_idle_consumers(idle_s=0)
    names = [
        c["name"] for c in redis_client.xinfo_consumers(keys.stream_key("q"), keys.CONSUMER_GROUP)
    ]
    assert names == [b"alive:2"]


def test_upkeep_reads_own_pending_claims_idle_entries_and_lists_consumers_at_once(
    redis_server, redis_client
):
    """The maintenance of a visit in one round trip: own pending, XAUTOCLAIM, the consumers,
    then new entries."""
    enqueue(redis_server.url, make_events("q", 5))
    dead = QueueReader(redis_client, "q", "dead-host:1")
    held = dead.read_new(2, block_ms=100)
    me = QueueReader(redis_client, "q", "me:2")
    mine = me.read_new(3, block_ms=100)  # a read whose reply was lost: pending, unseen
    found = me.upkeep(count=10, min_idle_s=60)
    assert (found.own, found.claimed, found.new) == (mine, [], [])
    assert sorted(found.consumers)[0][:2] == ("dead-host:1", 2)
    assert sorted(name for name, _, _ in found.consumers) == ["dead-host:1", "me:2"]
    fresh = enqueue(redis_server.url, make_events("q", 2))
    found = wait_for(
        lambda: (u := me.upkeep(count=10, min_idle_s=0.2)).claimed and u,
        timeout_s=5,
        message="the dead consumer's entries to become idle",
    )
    assert found.claimed == held  # own entries, idle too, are not counted as claimed
    assert [d.event.event_id for d in found.own + found.new] == [
        *(d.event.event_id for d in mine),
        *fresh,
    ]


def test_upkeep_without_a_group_makes_it_again(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 2))
    reader = QueueReader(redis_client, "q", "c1")
    reader.read_new(2, block_ms=100)
    redis_client.xgroup_destroy(keys.stream_key("q"), keys.CONSUMER_GROUP)
    found = reader.upkeep(count=10, min_idle_s=0)
    assert (found.own, found.claimed, found.consumers, found.new) == ([], [], [], [])
    assert len(reader.read_new(10, block_ms=None)) == 2  # the group starts again from 0


def test_dead_letter_is_atomic_and_replayable(redis_server, redis_client):
    """And the event comes back whole, its trace context included."""
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    events = [event._replace(traceparent=traceparent) for event in make_events("q", 2)]
    enqueue(redis_server.url, events)
    reader = QueueReader(redis_client, "q", "c1")
    poison, _ = reader.read_new(2, block_ms=100)
    reader.dead_letter(poison, "refused: bad payload", deliveries=5)
    state = snapshot(redis_client, "q")
    assert (state.queued, state.in_flight, state.dead_lettered) == (0, 1, 1)
    [letter] = dead_letters.list_dead(redis_client, "q")
    assert (letter.event, letter.reason, letter.deliveries) == (
        poison.event,
        "refused: bad payload",
        5,
    )
    assert dead_letters.replay(redis_client, "q", [letter.entry_id]) == 1
    assert dead_letters.replay(redis_client, "q", [letter.entry_id]) == 0
    state = snapshot(redis_client, "q")
    assert (state.queued, state.dead_lettered) == (1, 0)
    assert reader.read_new(1, block_ms=100)[0].event == poison.event


def test_writer_refuses_a_full_queue_without_writing(redis_server, redis_client):
    async def run() -> list[bool]:
        client = async_client(redis_server.url)
        writer = QueueWriter(client, DurabilityMode.WAITAOF, max_depth=3, durability_timeout_s=5)
        results = [(await writer.enqueue("q", make_events("q", 2))).accepted for _ in range(3)]
        await writer.aclose()
        await client.aclose()
        return results

    assert asyncio.run(run()) == [True, True, False]  # the depth counts events, not entries
    assert redis_client.xlen(keys.stream_key("q")) == 2  # a request an entry
    assert snapshot(redis_client, "q").queued == 4


def test_group_is_recreated_after_the_server_lost_its_data(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 1))
    redis_client.flushall()
    reader = QueueReader(redis_client, "q", "c1")
    assert reader.read_new(1, block_ms=10) == []  # NOGROUP is handled by recreating the group
    reader.ensure_groups()  # done already: nothing more
    assert snapshot(redis_client, "q").queued == 0


def test_durability_is_waitaof_on_the_embedded_server(redis_server):
    async def run(wanted: str) -> DurabilityMode:
        client = async_client(redis_server.url)
        try:
            return await detect_durability(client, wanted)
        finally:
            await client.aclose()

    assert asyncio.run(run("auto")) is DurabilityMode.WAITAOF
    assert asyncio.run(run("none")) is DurabilityMode.MEMORY


def test_durability_aof_is_refused_by_a_server_without_aof(redis_server, redis_client):
    redis_client.config_set("appendonly", "no")

    async def run() -> DurabilityMode:
        client = async_client(redis_server.url)
        try:
            return await detect_durability(client, "aof")
        finally:
            await client.aclose()

    with pytest.raises(ConfigurationError, match="appendonly"):
        asyncio.run(run())


def test_waitaof_is_not_used_when_the_server_never_fsyncs(redis_server, redis_client):
    redis_client.config_set("appendfsync", "no")

    async def run() -> DurabilityMode:
        client = async_client(redis_server.url)
        try:
            return await detect_durability(client, "auto")
        finally:
            await client.aclose()

    assert asyncio.run(run()) is DurabilityMode.MEMORY
