"""Redis Sentinel for real: a primary, a replica and three sentinels (``embedded/sentinel.py``);
the clients of ``queue/client.py`` follow a failover by themselves, sync and asyncio."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.exceptions import RedisError

from sluicegate.embedded.sentinel import MASTER_NAME, EmbeddedSentinel
from sluicegate.queue.client import async_client, sync_client
from sluicegate.queue.topology import Topology, parse_addresses
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def sentinel_setup(tmp_path: Path) -> Iterator[EmbeddedSentinel]:
    setup = EmbeddedSentinel(tmp_path / "sentinel").start()
    try:
        yield setup
    finally:
        setup.kill()


def test_clients_follow_a_failover(sentinel_setup: EmbeddedSentinel) -> None:
    topology = Topology(
        sentinels=parse_addresses(sentinel_setup.addresses), sentinel_master=MASTER_NAME
    )
    url = f"redis://{MASTER_NAME}/0"  # the host is the sentinels' to say
    client = sync_client(url, socket_timeout_s=1.0, topology=topology)
    old = sentinel_setup.primary()

    async def write(value: str) -> bool:
        aclient = async_client(url, socket_timeout_s=1.0, topology=topology)
        try:
            return bool(await aclient.set("async", value))
        except RedisError:
            return False
        finally:
            await aclient.aclose()

    def written(value: str) -> bool:
        try:
            return bool(client.set("sync", value)) and asyncio.run(write(value))
        except RedisError:
            return False

    try:
        assert written("before")
        old.kill()
        killed = time.monotonic()
        wait_for(lambda: written("after"), timeout_s=30, message="writes to the new primary")
        new = sentinel_setup.primary()
        assert new is not old
        assert client.connection_pool.get_master_address() == ("127.0.0.1", new.port)  # type: ignore[attr-defined]
        assert time.monotonic() - killed < 15
    finally:
        client.close()
