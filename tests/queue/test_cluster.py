"""The queue layer on a real Valkey cluster (3 primaries + 3 replicas), shared by these tests."""

import asyncio
import threading
import uuid

import pytest
import redis

from sluicegate.embedded.cluster import EmbeddedCluster, key_slot
from sluicegate.embedded.server import EmbeddedServer
from sluicegate.errors import ConfigurationError
from sluicegate.events import Delivery
from sluicegate.queue import dead_letters, keys
from sluicegate.queue.client import (
    TRANSIENT_REDIS_ERRORS,
    async_client,
    is_cluster,
    is_cluster_client,
    sync_client,
)
from sluicegate.queue.lock import Lock, lock_holder, new_lock_entry
from sluicegate.queue.memory import NodeMemory, owner_node, read_memory, read_memory_async
from sluicegate.queue.rate import Rate, wait_s
from sluicegate.queue.reader import QueueReader
from sluicegate.queue.stats import (
    QueueSnapshot,
    list_queues,
    queues_with_work,
    snapshot,
    snapshot_async,
)
from sluicegate.queue.writer import DurabilityMode, QueueWriter, detect_durability
from tests.loading import enqueue, make_events

pytestmark = [
    pytest.mark.xdist_group("cluster"),
    pytest.mark.slow,
    # redis-py's cluster client drops the connections of a node map it replaces (a MOVED, a
    # failover) to the garbage collector instead of closing them: harmless, but a warning
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture
def queue() -> str:
    return f"q-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def cluster_client(valkey_cluster: EmbeddedCluster) -> "redis.Redis":
    client = sync_client(valkey_cluster.url)
    yield client
    client.close()


def test_a_cluster_is_detected_and_a_server_is_not(valkey_cluster, redis_server):
    assert is_cluster(valkey_cluster.url)
    assert not is_cluster(redis_server.url)
    assert not is_cluster(valkey_cluster.url, "no")
    assert is_cluster_client(sync_client(valkey_cluster.url))
    assert not is_cluster_client(sync_client(redis_server.url))


def test_a_queue_round_trip_on_a_cluster(valkey_cluster, cluster_client, queue):
    events = make_events(queue, 5)
    enqueue(valkey_cluster.url, events)
    assert queue in list_queues(cluster_client)
    assert queue in queues_with_work(cluster_client)
    reader = QueueReader(cluster_client, queue, "c1")
    batch = reader.read_new(10, block_ms=100)
    assert [d.event for d in batch] == events
    poison, *good = batch
    reader.dead_letter(poison, "refused", deliveries=2)  # a MULTI in the queue's slot
    reader.send_ack(good, persisted=4, duplicates=0).result()  # a reply read later, on the node
    state = snapshot(cluster_client, queue)
    assert (state.queued, state.in_flight, state.dead_lettered, state.persisted_acks) == (
        0,
        0,
        1,
        4,
    )
    assert state.accepted == 5
    assert state.unaccounted == 0
    [letter] = dead_letters.list_dead(cluster_client, queue)
    assert dead_letters.replay(cluster_client, queue, [letter.entry_id]) == 1
    lock = Lock(cluster_client, new_lock_entry(queue), ttl_s=5)
    assert lock.acquire()
    seen = asyncio.run(_snapshot_async(valkey_cluster.url, queue))  # the API's reads
    assert (seen.accepted, seen.queued, seen.persisted, seen.unaccounted) == (5, 1, 4, 0)
    assert [c.pid for c in seen.consumers] == [lock.entry.pid]
    lock.heartbeat()
    assert lock_holder(cluster_client, queue) == lock.entry
    assert lock.release()


async def _snapshot_async(url: str, queue: str) -> QueueSnapshot:
    client = async_client(url, cluster=True)
    try:
        return await snapshot_async(client, queue)
    finally:
        await client.aclose()


def test_replica_confirmed_durability_on_a_cluster(valkey_cluster, queue):
    async def run() -> tuple[DurabilityMode, bool]:
        client = async_client(valkey_cluster.url, cluster=True)
        try:
            mode = await detect_durability(client, "aof", replicas=1)
            writer = QueueWriter(client, mode, 10**6, durability_timeout_s=5, replicas=1)
            result = await writer.enqueue(queue, make_events(queue, 3))
            return mode, result.accepted
        finally:
            await client.aclose()

    assert asyncio.run(run()) == (DurabilityMode.WAITAOF, True)


def test_replicas_asked_for_but_missing_refuse_to_start(redis_server: EmbeddedServer):
    async def run() -> DurabilityMode:
        client = async_client(redis_server.url)
        try:
            return await detect_durability(client, "aof", replicas=1)
        finally:
            await client.aclose()

    with pytest.raises(ConfigurationError, match="DURABILITY_REPLICAS=1, but a primary has 0"):
        asyncio.run(run())


def test_a_live_queue_slot_migrated_mid_load_loses_nothing(
    valkey_cluster: EmbeddedCluster, cluster_client, queue
):
    """Writers and a consumer run while the queue's slot moves key by key to another primary:
    they meet ASK, TRYAGAIN and then MOVED, and every accepted event is read exactly as sent."""
    source = valkey_cluster.primary_of_key(keys.stream_key(queue))
    target = next(node for node in valkey_cluster.running_primaries() if node is not source)
    enqueue(valkey_cluster.url, make_events(queue, 50))  # the slot has keys before it moves
    read: list[Delivery] = []
    stop = threading.Event()
    consumer = threading.Thread(target=_consume, args=(cluster_client, queue, read, stop))
    consumer.start()
    moved = threading.Event()

    def move() -> None:
        valkey_cluster.migrate_slot(key_slot(queue), target, pause_s=0.2)
        moved.set()

    mover = threading.Thread(target=move)
    try:
        mover.start()  # the load runs from before the move starts until after it ended
        accepted = asyncio.run(_load(valkey_cluster.url, queue, moved))
        mover.join()
    finally:
        stop.set()
        consumer.join()
    assert valkey_cluster.primary_of_key(keys.stream_key(queue)) is target
    remaining = QueueReader(cluster_client, queue, "drain").read_new(10_000, block_ms=10)
    got = [d.event.event_id for d in read + remaining]
    assert len(got) == len(set(got))  # nothing delivered twice to the group
    assert set(accepted) <= set(got)  # nothing accepted was lost


async def _load(url: str, queue: str, moved: threading.Event, after: int = 10) -> list[str]:
    """Enqueue batches of 10 until ``after`` batches past ``moved``, retrying a refused one as
    a client retries a 503; the ids of the accepted events."""
    client = async_client(url, cluster=True)
    writer = QueueWriter(client, DurabilityMode.WAITAOF, 10**6, durability_timeout_s=5)
    accepted: list[str] = []
    try:
        while after:
            after -= moved.is_set()
            events = make_events(queue, 10)
            while True:
                try:
                    await writer.enqueue(queue, events)
                    break
                except TRANSIENT_REDIS_ERRORS:
                    await asyncio.sleep(0.02)
            accepted += [event.event_id for event in events]
            await asyncio.sleep(0.01)
    finally:
        await client.aclose()
    return accepted


def _consume(
    client: "redis.Redis", queue: str, read: list[Delivery], stop: threading.Event
) -> None:
    reader = QueueReader(client, queue, "c1")
    while not stop.is_set():
        try:
            batch = reader.read_new(100, block_ms=50)
            if batch:
                reader.ack(batch, persisted=len(batch), duplicates=0)
                read.extend(batch)
        except TRANSIENT_REDIS_ERRORS:
            stop.wait(0.02)


def test_memory_is_read_on_every_primary_and_a_queue_maps_to_its_owner(valkey_cluster, queue):
    async def run() -> tuple[list[NodeMemory], str]:
        client = async_client(valkey_cluster.url, cluster=True)
        try:
            return await read_memory_async(client), owner_node(client, queue)
        finally:
            await client.aclose()

    nodes, owner = asyncio.run(run())
    primary = valkey_cluster.primary_of_key(keys.stream_key(queue))
    assert len(nodes) == valkey_cluster.primaries
    assert owner == f"127.0.0.1:{primary.port}"
    assert owner in {node.node for node in nodes}
    client = sync_client(valkey_cluster.url)
    try:
        assert {node.node for node in read_memory(client)} == {node.node for node in nodes}
    finally:
        client.close()


def test_a_tokens_rate_is_kept_in_one_slot_of_the_cluster(valkey_cluster):
    async def run() -> list[float]:
        client = async_client(valkey_cluster.url, cluster=True)
        try:
            token = f"t-{uuid.uuid4().hex[:8]}"
            return [await wait_s(client, token, Rate(per_s=1.0, burst=1)) for _ in range(2)]
        finally:
            await client.aclose()

    first, second = asyncio.run(run())
    assert first == 0.0
    assert 0.5 < second <= 1.0
