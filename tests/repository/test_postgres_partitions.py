"""PostgreSQL's day partitions: the migration of an older unpartitioned table (never silent),
partitions made ahead and on demand, and a day dropped while consumers write."""

import threading

import psycopg
import pytest

from sluicegate.errors import TransientStoreError
from sluicegate.events import now_ms
from sluicegate.repository.postgres import PostgresRepository
from sluicegate.repository.postgres_schema import partition_name, partitions
from sluicegate.retention import DAY_MS, RetentionPolicy, day_start_ms
from tests.repository.contract import make_events
from tests.repository.lifecycle_contract import MIDNIGHT, again, event

pytestmark = pytest.mark.postgres

OLD_LAYOUT = (
    "CREATE TABLE events (event_id TEXT PRIMARY KEY, queue TEXT NOT NULL, payload JSONB NOT NULL,"
    " accepted_at BIGINT NOT NULL, persisted_at BIGINT NOT NULL)",
    "CREATE INDEX events_queue ON events (queue)",
)


def test_an_unpartitioned_table_waits_for_the_migrate_command(postgres_url: str) -> None:
    old = [event(at_ms=MIDNIGHT - 40 * DAY_MS + n * DAY_MS) for n in range(40)]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in OLD_LAYOUT:
            conn.execute(statement)
        conn.cursor().executemany(
            "INSERT INTO events VALUES (%s, %s, %s, %s, %s)",
            [(e.event_id, e.queue, e.payload, e.accepted_at_ms, 1) for e in old],
        )
    repository = PostgresRepository(postgres_url)
    with pytest.raises(TransientStoreError, match="sluicegate migrate"):
        repository.persist(make_events(1))  # refused, not migrated behind the operator's back
    assert repository.migrate() == 40
    assert repository.migrate() is None, "a second run has nothing to do"
    assert repository.ids() == {e.event_id for e in old}
    assert repository.persist([again(old[0], now_ms())]) == 0, "old ids still dedupe"
    assert repository.persist(make_events(2)) == 2
    with psycopg.connect(postgres_url) as conn:
        names = partitions(conn)
    assert partition_name(MIDNIGHT - 40 * DAY_MS) in names
    assert partition_name(day_start_ms(now_ms()) + 3 * DAY_MS) in names, "days ahead exist"
    repository.close()


def test_partitions_are_made_ahead_at_connect(postgres_url: str) -> None:
    repository = PostgresRepository(postgres_url)
    today = day_start_ms(now_ms())
    repository.count()
    with psycopg.connect(postgres_url) as conn:
        names = partitions(conn)
    assert [partition_name(today + n * DAY_MS) for n in range(-1, 4)] == names
    repository.close()


def test_a_day_is_dropped_while_consumers_write(postgres_url: str) -> None:
    """The pass detaches (CONCURRENTLY) and drops yesterday's partitions while two writers keep
    committing batches into today's: every batch lands, once."""
    maintainer = PostgresRepository(postgres_url)
    old = [
        event(at_ms=MIDNIGHT - n * DAY_MS - 1) for n in range(1, 6) for _ in range(200)
    ]  # days -2..-6
    maintainer.persist(old)
    stop, written, failures = threading.Event(), [], []

    def write() -> None:
        writer = PostgresRepository(postgres_url)
        try:
            while not stop.is_set():
                written.append(writer.persist(make_events(50)))
        except BaseException as error:  # reported below
            failures.append(error)
        finally:
            writer.close()

    writers = [threading.Thread(target=write) for _ in range(2)]
    for thread in writers:
        thread.start()
    try:
        report = maintainer.expire(RetentionPolicy(3600.0, {}, 7 * 86_400.0), now_ms())
    finally:
        stop.set()
        for thread in writers:
            thread.join(timeout=30)
    assert failures == []
    assert report is not None
    old_days = {partition_name(MIDNIGHT - n * DAY_MS) for n in range(2, 7)}  # the 5 days written
    assert old_days <= set(report.partitions_dropped)
    assert partition_name(MIDNIGHT) not in report.partitions_dropped
    assert report.dropped == {"orders": 1000}
    assert maintainer.count() == sum(written)
    assert sum(written) == 50 * len(written)
    maintainer.close()


def test_one_maintainer_at_a_time(postgres_url: str) -> None:
    first, second = PostgresRepository(postgres_url), PostgresRepository(postgres_url)
    first.count()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        key = "hashtext('sluicegate.maintain.' || current_schema())"
        conn.execute(f"SELECT pg_advisory_lock({key})")
        assert second.expire(RetentionPolicy(), now_ms()) is None
        conn.execute(f"SELECT pg_advisory_unlock({key})")
    assert second.expire(RetentionPolicy(), now_ms()) is not None
    first.close()
    second.close()
