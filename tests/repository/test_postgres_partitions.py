"""PostgreSQL's day partitions: the migration of an older unpartitioned table (never silent),
partitions made ahead and on demand, a day dropped while consumers write, and payloads
compressed with lz4 in the tables of an older sluicegate too."""

import json
import threading

import psycopg
import pytest

from sluicegate.errors import TransientStoreError
from sluicegate.events import Event, new_event_id, now_ms
from sluicegate.repository import postgres_schema
from sluicegate.repository.postgres import PostgresRepository
from sluicegate.repository.postgres_schema import (
    PARTITIONS_AHEAD_DAYS,
    days_from,
    ensure_partitions,
    partition_name,
    partitions,
    payload_type,
    schema,
)
from sluicegate.repository.postgres_writes import json_batch
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
    with psycopg.connect(postgres_url) as conn:
        assert payload_type(conn) == "jsonb", "the rows moved as they were"
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


def test_a_day_is_made_while_a_reader_holds_the_table(postgres_url: str) -> None:
    """A partition made on the spot does not wait for readers in flight (``CREATE TABLE …
    PARTITION OF`` did, exclusively, and every writer queued behind it)."""
    repository = PostgresRepository(postgres_url)
    repository.count()
    repository._connection().execute("SET lock_timeout = '5s'")  # a wait fails, not hangs
    with psycopg.connect(postgres_url) as reader:
        reader.execute("SELECT count(*) FROM events")  # a long report: locked until rollback
        later = event(at_ms=day_start_ms(now_ms()) + 10 * DAY_MS)
        assert repository.persist([later]) == 1
        reader.rollback()
    assert repository.ids() == {later.event_id}
    repository.close()


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


def large_events(count: int) -> list[Event]:
    """Payloads of ~3 KB: rows TOAST compresses."""
    items = [{"sku": f"sku-{n:05d}", "qty": n % 7} for n in range(100)]
    return [
        Event("orders", new_event_id(), json.dumps({"n": n, "items": items}), now_ms())
        for n in range(count)
    ]


def previous_version_tables(postgres_url: str, events: list[Event]) -> list[Event]:
    """The tables the version before lz4 created, with ``events`` written as it wrote them."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in schema("jsonb"):
            conn.execute(statement)
        # every day a start makes: creating one waits for readers of the table (its own lock)
        ensure_partitions(conn, days_from(now_ms() - DAY_MS, PARTITIONS_AHEAD_DAYS + 1))
        rows = [(e.event_id, e.queue, e.payload, e.accepted_at_ms, 1) for e in events]
        json_batch(conn, rows, "jsonb")
        lz4 = conn.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).fetchone()
    if not (lz4 and lz4[0]):
        pytest.skip("this PostgreSQL is built without lz4")
    return events


def payload_compression(postgres_url: str) -> str:
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = to_regclass('events') AND attname = 'payload'"
        ).fetchone()
    return str(row[0]) if row else "?"


def test_a_table_in_use_keeps_its_method_until_a_later_start(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader in a long transaction: the switch gives up after its lock timeout (writes go
    on), and the next start makes it."""
    monkeypatch.setattr(postgres_schema, "LZ4_LOCK_TIMEOUT_MS", 100)
    previous_version_tables(postgres_url, large_events(1))
    with psycopg.connect(postgres_url) as reader:
        reader.execute("SELECT count(*) FROM events")  # holds its lock until the rollback
        repository = PostgresRepository(postgres_url)
        assert repository.persist(large_events(2)) == 2
        repository.close()
        assert payload_compression(postgres_url) != "l"
        reader.rollback()
    repository = PostgresRepository(postgres_url)
    assert repository.count() == 3
    assert payload_compression(postgres_url) == "l"
    repository.close()


def test_the_tables_of_an_older_version_compress_new_payloads_with_lz4(postgres_url: str) -> None:
    """The previous version's tables (pglz, PostgreSQL's default) are switched at the next
    start: new rows lz4, old rows pglz, both read back as written."""
    old = previous_version_tables(postgres_url, large_events(3))
    repository = PostgresRepository(postgres_url)
    new = large_events(3)
    assert repository.persist(new) == 3
    with psycopg.connect(postgres_url) as conn:
        methods = dict(
            conn.execute("SELECT event_id, pg_column_compression(payload) FROM events").fetchall()
        )
        tables = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE a.attcompression = 'l') FROM pg_attribute a "
            "WHERE a.attname = 'payload' AND a.attrelid IN (SELECT to_regclass('events') "
            "UNION SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass('events'))"
        ).fetchone()
    assert {methods[e.event_id] for e in old} == {"pglz"}
    assert {methods[e.event_id] for e in new} == {"lz4"}
    assert tables is not None
    assert tables[0] == tables[1] >= 3, "the parent and every partition"
    stored = {row.event_id: row.payload for row in repository.page("orders", None, 10)}
    assert {e.event_id: json.loads(e.payload) for e in old + new} == {
        event_id: json.loads(payload) for event_id, payload in stored.items()
    }
    repository.close()


def key_collations(postgres_url: str) -> set[str]:
    """The collations of the id and queue columns of events, its partitions and event_ids."""
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT c.collname FROM pg_attribute a "
            "JOIN pg_collation c ON c.oid = a.attcollation "
            "WHERE a.attname IN ('event_id', 'queue') AND a.attrelid IN ("
            " SELECT to_regclass('events') UNION SELECT to_regclass('event_ids') "
            " UNION SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass('events'))"
        ).fetchall()
    return {str(row[0]) for row in rows}


def test_ids_and_queues_compare_byte_by_byte(postgres_url: str) -> None:
    repository = PostgresRepository(postgres_url)
    assert repository.persist(make_events(3)) == 3
    assert key_collations(postgres_url) == {"C"}
    repository.close()


def test_the_tables_of_an_older_version_keep_their_collation_and_work(postgres_url: str) -> None:
    """Made before ``COLLATE "C"``: writes, redeliveries, pages, lookups and deletions as before,
    and nothing is rebuilt behind the operator's back."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in schema("jsonb"):
            conn.execute(statement.replace(' COLLATE "C"', ""))
    repository = PostgresRepository(postgres_url)
    stored = [event(at_ms=MIDNIGHT + n, event_id=f"id-{n}") for n in (2, 1, 0)]
    assert repository.persist(stored) == 3
    assert repository.persist([again(stored[0], now_ms()), *make_events(1)]) == 1
    assert [row.event_id for row in repository.page("orders", None, 3)] == ["id-0", "id-1", "id-2"]
    assert repository.locate("id-1") is not None
    assert repository.delete("orders", ["id-2"], "erin") == 1
    assert repository.persist(stored[:1]) == 0, "a deleted id is not stored again"
    assert key_collations(postgres_url) == {"default"}
    repository.close()
