import pytest

from sluicegate.errors import LockLostError
from sluicegate.queue import keys
from sluicegate.worker.lock import Lock, lock_holder, lock_holders, new_lock_entry
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
    lock = Lock(redis_client, new_lock_entry("q"), ttl_s=1)
    assert lock.acquire()
    redis_client.pexpire(keys.lock_key("q"), 50)
    lock.heartbeat()
    assert redis_client.pttl(keys.lock_key("q")) > 500
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
