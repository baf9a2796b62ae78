import pytest

from sluicegate import keys, registry
from sluicegate.errors import LockLostError
from tests.waiting import wait_for


def test_one_holder_per_queue(redis_client):
    first = registry.WorkerLock(redis_client, registry.new_entry("q"), ttl_s=5)
    second = registry.WorkerLock(redis_client, registry.new_entry("q"), ttl_s=5)
    assert first.acquire()
    assert not second.acquire()
    assert registry.holder(redis_client, "q") == first.entry


def test_release_only_removes_our_own_entry(redis_client):
    ours = registry.WorkerLock(redis_client, registry.new_entry("q"), ttl_s=5)
    theirs = registry.WorkerLock(redis_client, registry.new_entry("q"), ttl_s=5)
    assert ours.acquire()
    assert not theirs.release()
    assert registry.holder(redis_client, "q") == ours.entry
    assert ours.release()
    assert registry.holder(redis_client, "q") is None


def test_heartbeat_extends_and_detects_a_lost_lock(redis_client):
    lock = registry.WorkerLock(redis_client, registry.new_entry("q"), ttl_s=1)
    assert lock.acquire()
    redis_client.pexpire(keys.worker_key("q"), 50)
    lock.heartbeat()
    assert redis_client.pttl(keys.worker_key("q")) > 500
    redis_client.delete(keys.worker_key("q"))
    with pytest.raises(LockLostError):
        lock.heartbeat()


def test_entries_of_dead_processes_expire_on_their_own(redis_client):
    lock = registry.WorkerLock(redis_client, registry.new_entry("q"), ttl_s=1)
    assert lock.acquire()
    entries = registry.entries(redis_client, ["q", "other"])
    assert [entry for entry, _ in entries] == [lock.entry]
    wait_for(
        lambda: registry.holder(redis_client, "q") is None,
        timeout_s=3,
        message="the lock to expire",
    )
