"""The visit's retry loop without a fork or a database: transient errors are retried while the
lock is kept alive, anything else goes through, and a stop ends the wait at once."""

import pytest

from sluicegate.errors import RejectedEventError, TransientStoreError
from sluicegate.logs import get_logger
from sluicegate.process.signals import SignalInbox, StopWatch
from sluicegate.worker.retries import Retrier, Stopping


@pytest.fixture
def stop():
    """No handlers are installed in pytest's process: the inbox only provides the sleeps."""
    box = SignalInbox([])
    yield StopWatch(box)
    box.close()


def retrier(stop: StopWatch, heartbeats: list[int], redis_client) -> Retrier:
    beat = lambda: heartbeats.append(1)  # noqa: E731
    return Retrier(0.01, stop, beat, get_logger(), redis_client, "agent-1")


def test_transient_errors_are_retried_and_the_lock_kept_meanwhile(stop, redis_client):
    heartbeats: list[int] = []
    failures = [TransientStoreError("locked"), TransientStoreError("locked")]

    def operation() -> int:
        if failures:
            raise failures.pop()
        return 7

    assert retrier(stop, heartbeats, redis_client).retry(operation) == 7
    assert heartbeats  # the waits between attempts heartbeat the lock


def test_a_refusal_is_not_retried(stop, redis_client):
    def operation() -> None:
        raise RejectedEventError("poison")

    with pytest.raises(RejectedEventError):
        retrier(stop, [], redis_client).retry(operation)


def test_a_stop_ends_the_wait_with_the_batch_pending(stop, redis_client):
    stop.requested = True
    with pytest.raises(Stopping):
        retrier(stop, [], redis_client).pause(60.0)
