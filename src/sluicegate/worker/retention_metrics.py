"""The agent's ``/metrics`` view of retention: what the last ``sluicegate maintain`` pass found
(``queue/retention_record.py``), read from Redis at scrape time. The pass runs as a CronJob with
no HTTP server of its own, so the agent, which is always scraped, shows its figures."""

from collections.abc import Iterator

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from sluicegate.queue.retention_record import read_retention


class RetentionCollector(Collector):
    def __init__(self, client: "redis.Redis") -> None:
        self._client = client

    def describe(self) -> Iterator[Metric]:
        return iter(_families())

    def collect(self) -> Iterator[Metric]:
        oldest, dropped = _families()
        try:
            found = read_retention(self._client)
        except (RedisError, OSError):
            found = {}  # sluicegate_queue_store_up already says Redis is away
        for queue, figures in sorted(found.items()):
            if figures.oldest_ms is not None:
                oldest.add_metric([queue], figures.oldest_ms / 1000)
            dropped.add_metric([queue], figures.dropped)
        yield from (oldest, dropped)


def _families() -> tuple[GaugeMetricFamily, CounterMetricFamily]:
    return (
        GaugeMetricFamily(
            "sluicegate_oldest_stored_event_timestamp_seconds",
            "accepted_at of the queue's oldest stored event, as of the last maintain pass.",
            labels=["queue"],
        ),
        CounterMetricFamily(
            "sluicegate_retention_dropped_rows",
            "Stored events expired by retention (sluicegate maintain), all passes together.",
            labels=["queue"],
        ),
    )
