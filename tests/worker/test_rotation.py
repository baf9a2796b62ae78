"""The round-robin over queues with work, against a real server."""

from sluicegate.queue.lanes import Lane
from sluicegate.worker.rotation import Rotation
from tests.loading import enqueue, make_events


def test_visits_every_queue_with_work_in_a_circle(redis_client, settings):
    for queue in ("a", "b", "c"):
        enqueue(settings.redis_url, make_events(queue, 1))
    rotation = Rotation(redis_client, poll_s=60)
    first = rotation.next_lane().queue
    seen = [first] + [rotation.next_lane().queue for _ in range(5)]
    start = "abc".index(first)
    assert "".join(seen) == ("abc" * 3)[start : start + 6]


def test_skipped_queues_wait_for_the_next_listing(redis_client, settings):
    for queue in ("a", "b"):
        enqueue(settings.redis_url, make_events(queue, 1))
    rotation = Rotation(redis_client, poll_s=60)
    assert rotation.others_waiting(Lane("x"))  # lists the queues
    rotation.skip(Lane("a"))
    assert rotation.next_lane() == Lane("b")
    assert not rotation.others_waiting(Lane("b"))
    assert rotation.others_waiting(Lane("x"))
    rotation.skip(Lane("b"))
    assert rotation.next_lane() is None
    assert 0 < rotation.until_next_listing_s() <= 60


def test_only_the_given_queues(redis_client, settings):
    for queue in ("a", "b"):
        enqueue(settings.redis_url, make_events(queue, 1))
    rotation = Rotation(redis_client, poll_s=0, queues=["b", "c"])
    assert {rotation.next_lane() for _ in range(3)} == {Lane("b")}
