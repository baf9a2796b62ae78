"""What a graceful agent stop answers for, read from a real Redis: every lock slot of the queue
(QUEUE_CONSUMERS), and with several agents only the stopped one's locks and entries."""

from dataclasses import replace

import pytest

from sluicegate.drill.faults import AgentScope, FaultContext
from sluicegate.drill.ledger import Ledger
from sluicegate.drill.observe import Observer
from sluicegate.queue.lock import Lock, new_lock_entry
from sluicegate.queue.reader import QueueReader
from tests.loading import enqueue, make_events

SLOTS = 3
GONE_PIDS = (2**22 + 11, 2**22 + 12)  # above pid_max's default: no process has them


@pytest.fixture
def ctx(tmp_path, redis_server):
    observer = Observer(redis_server.url, f"sqlite:///{tmp_path / 'none.db'}", "q", slots=SLOTS)
    yield FaultContext(observer, Ledger(), deadline_s=5, reclaim_timeout_s=1, outage_s=1)
    observer.close()


def hold(redis_client, slot: int, pid: int, agent: str) -> None:
    """A lock slot held by consumer ``pid`` of ``agent``, as a consumer's would be."""
    entry = replace(new_lock_entry("q", pid=pid, agent=agent), slot=slot)
    assert Lock(redis_client, entry, ttl_s=60).acquire()


def test_every_lock_slot_of_the_queue_is_seen(ctx, redis_client):
    hold(redis_client, 0, GONE_PIDS[0], "host:1:100")
    hold(redis_client, 2, GONE_PIDS[1], "host:1:100")  # the last slot: not only slot 0
    seen = ctx.inspect()
    assert sorted(entry.slot for entry in seen.locks["q"]) == [0, 2]
    assert seen.stale == 2
    assert ctx.lock_cell(seen) == "2 STALE"
    ctx.killed.add(GONE_PIDS[0])  # a SIGKILLed holder's lock expires on its own: not stale
    seen = ctx.inspect()
    assert seen.stale == 1
    assert ctx.lock_cell(seen) == "1 STALE, 1 expiring"


def test_an_agent_stopped_among_others_answers_only_for_its_own(ctx, redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 10))
    QueueReader(redis_client, "q", consumer="mine").read_new(3, block_ms=100)
    QueueReader(redis_client, "q", consumer="theirs").read_new(4, block_ms=100)
    hold(redis_client, 0, GONE_PIDS[0], "stopped-agent")
    hold(redis_client, 1, GONE_PIDS[1], "running-agent")
    seen = ctx.inspect()
    assert ctx.leftovers(seen, None) == (2, 7)  # no agent runs: everything counts
    scope = AgentScope("stopped-agent", frozenset({"mine"}))
    assert ctx.leftovers(seen, scope) == (1, 3)  # the other agent's lock and entries are in use
