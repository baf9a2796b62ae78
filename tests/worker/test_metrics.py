"""A consumer's figures travel over a pipe and come out of the agent's registry."""

import os

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sluicegate.worker.agent_metrics import AgentMetrics
from sluicegate.worker.metrics import LATENCY_BUCKETS, PIPE_BUF, Buckets, ConsumerMetrics
from tests.loading import make_events


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


def test_figures_cross_the_pipe_keyed_by_the_batch_queue(redis_client):
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    sent = ConsumerMetrics(write_fd)
    sent.batch_persisted("a", make_events("a", 10), inserted=7, seconds=0.02)
    sent.batch_persisted("b", make_events("b", 3), inserted=3, seconds=0.3)
    sent.dead_lettered("a")
    sent.reclaimed("b", 2)
    sent.visit_started("a")
    sent.exited("a", "idle")
    agent = AgentMetrics(redis_client)
    chunk = os.read(read_fd, 65536)
    agent.receive(chunk[:17])  # a read may cut a line: the rest completes it
    agent.receive(chunk[17:])
    agent.consumer_started("a")  # a second visit, that a SIGKILL ends
    agent.consumer_gone("a", "killed")
    found = samples(agent.render())
    os.close(read_fd)
    os.close(write_fd)
    a, b = lane("a"), lane("b")
    assert found["sluicegate_events_persisted_total", a] == 7
    assert found["sluicegate_redeliveries_absorbed_total", a] == 3
    assert found["sluicegate_events_persisted_total", b] == 3
    assert found["sluicegate_events_dead_lettered_total", a] == 1
    assert found["sluicegate_events_reclaimed_total", b] == 2
    assert found["sluicegate_persist_batch_size_count", a] == 1
    assert found["sluicegate_persist_batch_size_sum", a] == 10
    assert found["sluicegate_persist_batch_seconds_bucket", lane("a", ("le", "0.025"))] == 1
    assert found["sluicegate_persist_batch_seconds_bucket", lane("b", ("le", "0.25"))] == 0
    assert found["sluicegate_end_to_end_latency_seconds_count", a] == 10
    assert found["sluicegate_consumer_exits_total", lane("a", ("reason", "idle"))] == 1
    assert found["sluicegate_consumer_exits_total", lane("a", ("reason", "killed"))] == 1
    assert found["sluicegate_consumer_starts_total", a] == 2
    assert found["sluicegate_consumers", a] == 0
    assert found["sluicegate_queue_store_up", ()] == 1


def lane(queue: str, *more: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    """A sample's labels: the queue, its (default) destination, and ``more``, sorted."""
    return tuple(sorted((("destination", "sql"), ("queue", queue), *more)))


def test_a_full_pipe_never_blocks_the_consumer_and_loses_nothing_later():
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    sent = ConsumerMetrics(write_fd)
    events = make_events("q", 500)
    for _ in range(200):  # far more than a pipe holds: the writes must not block
        sent.batch_persisted("q", events, inserted=500, seconds=0.01)
    drained = b""
    while chunk := _read_available(read_fd):
        drained += chunk
    sent.flush()  # what waited is sent now, merged into one line
    drained += _read_available(read_fd)
    os.close(write_fd)
    os.close(read_fd)
    lines = drained.splitlines()
    assert all(len(line) < PIPE_BUF for line in lines)
    persisted = sum(orjson.loads(line)["c"]["persisted"] for line in lines)
    assert persisted == 200 * 500


def test_metrics_of_a_consumer_whose_agent_is_gone_are_dropped_quietly():
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    sent = ConsumerMetrics(write_fd)
    sent.batch_persisted("q", make_events("q", 5), inserted=5, seconds=0.01)
    sent.batch_persisted("q", make_events("q", 5), inserted=5, seconds=0.01)
    os.close(write_fd)


def _read_available(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1 << 20)
    except BlockingIOError:
        return b""


def test_ages_land_in_the_buckets_one_observation_each_would():
    """``observe_ages`` (a sort and a bisection per bound) counts as observing every age alone,
    bounds included: an age of exactly 0.5 s is <= 0.5."""
    now_ms = 1_000_000
    times_ms = [now_ms - age for age in (0, 3, 10, 10, 49, 50, 51, 499, 500, 501, 60_000, 10**6)]
    one_by_one = Buckets(LATENCY_BUCKETS)
    for time_ms in times_ms:
        one_by_one.observe((now_ms - time_ms) / 1000)
    together = Buckets(LATENCY_BUCKETS)
    together.observe_ages(now_ms, list(reversed(times_ms)))
    assert together.counts == one_by_one.counts
    assert together.counts[-1] == 1  # 1,000 s: past the last bound, in +Inf
    assert together.total == pytest.approx(one_by_one.total)
