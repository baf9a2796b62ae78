"""A full Redis drains itself: the consumer side never needs memory Redis refuses (issue 16).

The server is made full for real: its ``maxmemory`` is set below what it already holds, with
``noeviction``, so every command that may grow memory is refused with OOM, as after a long
database outage. The consumer must still take a lock, read, persist, ack, reclaim and dead-letter,
and the server must end up below its limit without anyone raising it.
"""

import pytest
import redis
from redis.exceptions import OutOfMemoryError

from sluicegate.process.signals import SignalInbox
from sluicegate.queue import keys
from sluicegate.queue.lock import lock_holder
from sluicegate.queue.stats import snapshot
from sluicegate.worker.fork import EXIT_OK, consume_queue
from tests.loading import enqueue, make_events
from tests.worker.test_visit import POISON_TRIGGER, stored


@pytest.fixture
def inbox():
    box = SignalInbox([])
    yield box
    box.close()


def make_full(client: redis.Redis) -> int:
    """Set maxmemory below the memory in use; the limit set (bytes)."""
    limit = int(client.info("memory")["used_memory"]) - 64 * 1024
    client.config_set("maxmemory", limit)
    with pytest.raises(OutOfMemoryError):
        client.set("sluicegate:probe", "x")  # the server is full: a write that grows is refused
    return limit


@pytest.mark.slow
def test_a_full_redis_is_drained_by_consumers_without_raising_maxmemory(
    settings, redis_client, inbox
):
    stored(settings)._db.execute(POISON_TRIGGER)
    good = make_events("q", 3000, {"pad": "x" * 200})
    poison = make_events("q", 1, {"poison": True})
    ids = enqueue(settings.redis_url, good[:1500] + poison + good[1500:])
    # a consumer that died holding entries: they are reclaimed, under OOM too
    redis_client.xreadgroup(keys.CONSUMER_GROUP, "gone-host:1", {keys.stream_key("q"): ">"}, 40)
    limit = make_full(redis_client)

    assert consume_queue(settings, settings.redis_url, "q", inbox) == EXIT_OK

    assert stored(settings).ids("q") == set(ids) - {poison[0].event_id}
    state = snapshot(redis_client, "q")
    assert (state.queued, state.in_flight, state.dead_lettered) == (0, 0, 1)
    assert state.reclaimed >= 40  # more if a slow pass one by one outlived the lock (TTL 2 s)
    assert lock_holder(redis_client, "q") is None
    memory = redis_client.info("memory")
    assert int(memory["maxmemory"]) == limit  # nobody raised it
    assert int(memory["used_memory"]) < limit  # and the server is writable again
