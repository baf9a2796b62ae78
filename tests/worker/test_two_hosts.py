"""Two agents on two hosts share the queues through the locks; a host that dies is taken over
after the lock's TTL, never sooner, and nothing is lost.

Real separate hosts: network namespaces linked by veth pairs (tests/netns.py), Redis in one, an
agent in each of two others, each under a hostname of its own. "Host B dies" is every process in
its namespace SIGKILLed and its link cut. Host A's consumers cannot know B's consumers are dead
(another host: liveness.is_gone says "maybe alive"), so only the TTL may free B's locks.
"""

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sluicegate.embedded.server import find_server_binary, free_port
from sluicegate.queue import keys
from sluicegate.queue.lock import lock_holder
from sluicegate.repository.sqlite import SqliteRepository
from tests.loading import enqueue, make_events
from tests.netns import Host, hosts, kill_host
from tests.processes import CommandProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

TTL_S = 3.0
QUEUES = [f"q{n}" for n in range(4)]


@pytest.fixture
def net() -> Iterator[dict[str, Host]]:
    with hosts("redis", "a", "b") as made:
        yield made


def start_redis(host: Host, folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    folder.mkdir()
    argv = [find_server_binary(), "--port", str(port), "--bind", "0.0.0.0", "--protected-mode"]
    argv += ["no", "--save", "", "--appendonly", "yes", "--appendfsync", "always"]
    server = subprocess.Popen(
        host.command(*argv, "--dir", str(folder)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return server, port


def agent_on(host: Host, port: int, env: dict[str, str], log: Path) -> CommandProcess:
    env = {**env, "REDIS_URL": f"redis://{host.centre}:{port}/0"}
    return CommandProcess("agent", env, log, wrap=host.command)


def holders(client: redis.Redis) -> dict[str, str]:
    """queue -> hostname of its lock's holder."""
    return {q: entry.host for q in QUEUES if (entry := lock_holder(client, q)) is not None}


def test_host_b_dies_and_host_a_takes_over_after_the_ttl(net, tmp_path):
    server, port = start_redis(net["redis"], tmp_path / "redis")
    client = redis.Redis(host=net["redis"].centre, port=port)
    wait_for(lambda: _answers(client), message="Redis inside its host")
    url = f"redis://{net['redis'].centre}:{port}/0"
    ids = {i for q in QUEUES for i in enqueue(url, make_events(q, 2000))}
    repository = SqliteRepository(tmp_path / "events.db")  # the hosts share this folder
    repository._db.execute("BEGIN EXCLUSIVE")  # every consumer gets stuck with a batch in flight
    env = {
        **os.environ,
        "SQLITE_FILEPATH": str(tmp_path / "events.db"),
        "SLUICEGATE_DATA_DIR": str(tmp_path),
        "QUEUE_POLL_FREQ": "0.1",
        "QUEUE_BATCH_TIMEOUT": "0.1",
        "AGENT_PORT": "0",
        "QUEUE_AGENT_WORKER_TTL": str(TTL_S),
        "MAX_CONSUMERS": "2",
        "QUEUE_BATCH_SIZE": "100",
    }
    agent_b = agent_on(net["b"], port, env, tmp_path / "b.log")
    agent_a = None
    try:
        wait_for(lambda: list(holders(client).values()).count("host-b") == 2, timeout_s=20)
        agent_a = agent_on(net["a"], port, env, tmp_path / "a.log")
        wait_for(lambda: list(holders(client).values()).count("host-a") == 2, timeout_s=20)
        b_queues = [q for q, host in holders(client).items() if host == "host-b"]
        ttl_left_s = min(client.pttl(keys.lock_key(q)) for q in b_queues) / 1000
        killed_at = time.monotonic()
        kill_host(net["b"])
        repository._db.execute("ROLLBACK")
        for queue in b_queues:
            wait_for(lambda q=queue: holders(client).get(q) == "host-a", timeout_s=30)
            assert time.monotonic() - killed_at >= ttl_left_s - 0.2, "taken before the TTL"
        wait_for(lambda: repository.count() == len(ids), timeout_s=60, message="every event")
        assert repository.ids() == ids
        assert not agent_a.logged("stale-lock-released")  # B's consumers were not "certainly dead"
        assert agent_a.logged("entries-reclaimed")  # B's batches in flight, after their idle time
    finally:
        for agent in (agent_a, agent_b):
            if agent is not None:
                agent.close()
        client.close()
        server.kill()
        server.wait(timeout=10)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
