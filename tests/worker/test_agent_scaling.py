"""The agent with many queues and several consumers per queue, as a real process."""

import os
import signal

import pytest
import redis

from sluicegate.queue import keys
from sluicegate.queue.lock import lock_holders_of
from sluicegate.queue.stats import snapshot
from sluicegate.repository.sqlite import SqliteRepository
from tests.loading import enqueue, make_events
from tests.processes import is_alive
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


def test_many_queues_are_served_by_at_most_max_consumers(settings, redis_client, start_agent):
    ids = set()
    for n in range(80):
        ids |= set(enqueue(settings.redis_url, make_events(f"q{n}", 5)))
    agent = start_agent(MAX_CONSUMERS="2")
    repository = SqliteRepository(settings.sqlite_filepath)
    most_alive = 0

    def all_persisted() -> bool:
        nonlocal most_alive
        most_alive = max(most_alive, sum(map(is_alive, agent.consumer_pids())))
        return repository.count() == len(ids)

    wait_for(all_persisted, timeout_s=30, message="every event of 80 queues")
    assert repository.ids() == ids
    assert most_alive <= 2
    assert len(agent.consumer_pids()) <= 2  # no fork per queue, no fork per event
    agent.signal(signal.SIGTERM)
    assert agent.wait() == 0


def test_several_consumers_share_one_queue(settings, redis_client, start_agent):
    ids = set(enqueue(settings.redis_url, make_events("q", 20_000)))
    agent = start_agent(QUEUE_CONSUMERS="2", MAX_CONSUMERS="3", QUEUE_BATCH_SIZE="100")
    repository = SqliteRepository(settings.sqlite_filepath)
    wait_for(
        lambda: len(lock_holders_of(redis_client, "q", 3)) == 2,
        message="two consumers holding two slots",
    )
    assert redis_client.get(keys.lock_key("q", 2)) is None  # QUEUE_CONSUMERS is the limit
    wait_for(lambda: repository.count() == len(ids), timeout_s=60, message="every event")
    assert repository.ids() == ids
    agent.signal(signal.SIGTERM)
    assert agent.wait() == 0
    assert lock_holders_of(redis_client, "q", 2) == []
    assert snapshot(redis_client, "q").in_flight == 0


def test_a_killed_consumer_of_two_is_taken_over_at_once(settings, redis_client, start_agent):
    ids = set(enqueue(settings.redis_url, make_events("q", 4000)))
    repository = SqliteRepository(settings.sqlite_filepath)
    repository._db.execute("BEGIN EXCLUSIVE")  # both consumers stuck with a batch in flight
    agent = start_agent(QUEUE_CONSUMERS="2", QUEUE_BATCH_SIZE="100", QUEUE_AGENT_WORKER_TTL="60")
    client = redis.Redis.from_url(settings.redis_url)
    wait_for(lambda: len(lock_holders_of(client, "q", 2)) == 2, message="two holders")
    wait_for(lambda: snapshot(client, "q").in_flight >= 200, message="two batches in flight")
    victim = lock_holders_of(client, "q", 2)[0]
    agent_released = len(agent.logged("stopped-node-process"))
    os.kill(victim.pid, signal.SIGKILL)
    wait_for(lambda: len(agent.logged("stopped-node-process")) > agent_released)
    assert agent.logged("stopped-node-process")[-1]["released_stale_entry"] is True
    repository._db.execute("ROLLBACK")
    wait_for(lambda: repository.count() == len(ids), timeout_s=20, message="every event")
    assert repository.ids() == ids  # well within the 60 s TTL: claimed from the dead at once
    client.close()
    agent.signal(signal.SIGTERM)
    assert agent.wait() == 0
