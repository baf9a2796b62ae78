"""The agent's /metrics shows what the last maintenance pass recorded in Redis."""

import redis
from prometheus_client import CollectorRegistry, generate_latest

from sluicegate.queue.retention_record import read_retention, record_pass
from sluicegate.worker.retention_metrics import RetentionCollector


def test_the_last_pass_is_scraped(redis_client: redis.Redis) -> None:
    registry = CollectorRegistry()
    registry.register(RetentionCollector(redis_client))
    record_pass(redis_client, {"orders": 1_700_000_000_000, "empty": None}, {"orders": 40})
    record_pass(redis_client, {"orders": 1_700_000_500_000}, {"orders": 2})
    text = generate_latest(registry).decode()
    assert 'sluicegate_retention_dropped_rows_total{queue="orders"} 42.0' in text
    assert 'sluicegate_oldest_stored_event_timestamp_seconds{queue="orders"} 1.7000005e+09' in text
    assert "empty" not in text
    assert read_retention(redis_client)["orders"].dropped == 42
