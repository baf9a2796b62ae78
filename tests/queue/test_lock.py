import subprocess

import pytest

from sluicegate.errors import LockLostError
from sluicegate.queue import keys
from sluicegate.queue.lock import (
    Lock,
    acquire_slot,
    lock_holder,
    lock_holders,
    lock_holders_of,
    new_lock_entry,
)
from tests.loading import enqueue, make_events
from tests.waiting import wait_for


def test_one_holder_per_queue(redis_client):
    first = Lock(redis_client, new_lock_entry("q"), ttl_s=5)
    second = Lock(redis_client, new_lock_entry("q"), ttl_s=5)
    assert first.acquire()
    assert not second.acquire()
    assert lock_holder(redis_client, "q") == first.entry


def test_release_only_removes_our_own_entry(redis_client):
    ours = Lock(redis_client, new_lock_entry("q"), ttl_s=5)
    theirs = Lock(redis_client, new_lock_entry("q"), ttl_s=5)
    assert ours.acquire()
    assert not theirs.release()
    assert lock_holder(redis_client, "q") == ours.entry
    assert ours.release()
    assert lock_holder(redis_client, "q") is None


def test_heartbeat_extends_and_detects_a_lost_lock(redis_client):
    lock = Lock(redis_client, new_lock_entry("q"), ttl_s=10)
    assert lock.acquire()
    redis_client.pexpire(keys.lock_key("q"), 2_000)  # not 50 ms: a busy machine may take that
    lock.heartbeat()
    assert redis_client.pttl(keys.lock_key("q")) > 5_000
    redis_client.delete(keys.lock_key("q"))
    with pytest.raises(LockLostError):
        lock.heartbeat()


def test_entries_of_dead_processes_expire_on_their_own(redis_client):
    lock = Lock(redis_client, new_lock_entry("q"), ttl_s=1)
    assert lock.acquire()
    entries = lock_holders(redis_client, ["q", "other"])
    assert [entry for entry, _ in entries] == [lock.entry]
    wait_for(
        lambda: lock_holder(redis_client, "q") is None,
        timeout_s=3,
        message="the lock to expire",
    )


def test_a_slot_is_taken_only_when_the_queue_has_something_to_do(redis_server, redis_client):
    """A consumer's list of queues with work may be older than the last ack: an empty stream is
    answered in the same round trip, with no lock taken."""
    entry = new_lock_entry("q")
    assert acquire_slot(redis_client, entry, slots=2, ttl_s=5) is None
    assert lock_holders_of(redis_client, "q", 2) == []
    enqueue(redis_server.url, make_events("q", 1))
    first = acquire_slot(redis_client, entry, slots=2, ttl_s=5)
    second = acquire_slot(redis_client, new_lock_entry("q"), slots=2, ttl_s=5)
    assert first is not None
    assert second is not None
    assert (first.entry.slot, second.entry.slot) == (0, 1)
    assert acquire_slot(redis_client, new_lock_entry("q"), slots=2, ttl_s=5) is None  # all held


def test_a_slot_held_by_a_dead_process_is_taken_at_once(redis_server, redis_client):
    enqueue(redis_server.url, make_events("q", 1))
    dead = Lock(redis_client, new_lock_entry("q", pid=_reaped_pid()), ttl_s=60)
    assert dead.acquire()
    lock = acquire_slot(redis_client, new_lock_entry("q"), slots=1, ttl_s=5)
    assert lock is not None
    assert lock_holder(redis_client, "q") == lock.entry


def _reaped_pid() -> int:
    """The pid of a process that has exited and been reaped: certainly gone."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
