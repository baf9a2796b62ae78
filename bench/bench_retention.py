"""The cost of a retention pass (``sluicegate maintain``) on many rows, and what a consumer
writing meanwhile waits for its batches.

    .venv/bin/python -m bench.bench_retention [--rows 2000000] [--days 10] [--sqlite-rows 1000000]

PostgreSQL (a fresh schema of SLUICEGATE_TEST_POSTGRES_DSN or the local ``test`` database):
``--rows`` events spread over ``--days`` past days, half in ``clicks``, half in ``orders``,
loaded by SQL (``generate_series``; the load is not what is measured), then two passes:

- ``QUEUE_RETENTION=clicks:1d`` with the other queues kept forever: no day may be dropped, so
  clicks' rows are deleted in chunks (the slow path);
- ``RETENTION=1d``: every past day is dropped whole (detach concurrently, drop).

SQLite: ``--sqlite-rows`` rows of one queue, expired in chunks, the space given back. During
every pass a writer commits batches of 100 new events in a loop; its slowest batch is printed.
"""

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from bench.bench_repositories import make_batches, server_settings
from sluicegate.events import now_ms
from sluicegate.repository import EventStore
from sluicegate.repository.postgres import PostgresRepository
from sluicegate.repository.postgres_schema import ensure_partitions
from sluicegate.repository.sqlite import SqliteRepository
from sluicegate.retention import DAY_MS, RetentionPolicy, day_start_ms
from tests.postgres_server import configured_dsn

WEEK_S = 7 * 86_400.0
_PAYLOAD = '{"n": 1, "customer": "c-17", "amount": 12.5, "note": "' + "x" * 120 + '"}'
_PG_LOAD = """
INSERT INTO events (event_id, queue, payload, accepted_at, persisted_at)
SELECT 'r-' || i, CASE WHEN i %% 2 = 0 THEN 'clicks' ELSE 'orders' END, %(payload)s::jsonb,
       %(start)s + (i::bigint * %(span)s / %(rows)s), %(start)s
FROM generate_series(0, %(rows)s - 1) AS i
"""
_PG_IDS = """
INSERT INTO event_ids (event_id, queue, accepted_at, stored_at)
SELECT event_id, queue, accepted_at, persisted_at FROM events
"""
_SQLITE_LOAD = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
INSERT INTO {table} SELECT {columns} FROM n
"""


@contextmanager
def writer_meanwhile(open_writer: Callable[[], EventStore]) -> Iterator[list[float]]:
    """A consumer committing batches of 100 while the pass runs; yields its batch times."""
    stop, times = threading.Event(), []

    def write() -> None:
        writer = open_writer()
        while not stop.is_set():
            [batch] = make_batches(100, 100)  # made as it goes: 1,000,000 made ahead took 13 s
            started = time.perf_counter()
            writer.persist(batch)
            times.append(time.perf_counter() - started)
            stop.wait(0.002)  # the consumer's Redis round trips between batches
        writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        yield times
    finally:
        stop.set()
        thread.join()


def timed_pass(
    store: EventStore, policy: RetentionPolicy, open_writer: Callable[[], EventStore]
) -> str:
    with writer_meanwhile(open_writer) as times:
        started = time.perf_counter()
        report = store.expire(policy, now_ms())
        seconds = time.perf_counter() - started
    assert report is not None
    worst = max(times) * 1000 if times else 0.0
    median = statistics.median(times) * 1000 if times else 0.0
    return (
        f"{report.rows_dropped:>11,} rows in {seconds:7.2f} s "
        f"({report.rows_dropped / seconds:>10,.0f} rows/s), {len(report.partitions_dropped)} "
        f"partitions dropped; writer meanwhile: {len(times)} batches, median {median:.1f} ms, "
        f"worst {worst:.1f} ms"
    )


def postgres(dsn: str, rows: int, days: int) -> None:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{dsn}{'&' if '?' in dsn else '?'}options=-c%20search_path%3D{schema}"
    store = PostgresRepository(url)
    try:
        start = day_start_ms(now_ms()) - days * DAY_MS
        with psycopg.connect(url, autocommit=True) as conn:
            store.count()  # the schema
            ensure_partitions(conn, [start + n * DAY_MS for n in range(days)])
            began = time.perf_counter()
            args = {"payload": _PAYLOAD, "start": start, "span": days * DAY_MS, "rows": rows}
            conn.execute(_PG_LOAD, args)
            conn.execute(_PG_IDS)
            conn.execute("VACUUM ANALYZE")
            loaded_s = time.perf_counter() - began
            print(f"postgresql: loaded {rows:,} rows over {days} days in {loaded_s:.0f} s")
        writer = lambda: PostgresRepository(url)  # noqa: E731
        chunked = RetentionPolicy(None, {"clicks": 86_400.0}, WEEK_S)
        print(f"  clicks:1d, others forever (chunked DELETE): {timed_pass(store, chunked, writer)}")
        whole = RetentionPolicy(86_400.0, {}, WEEK_S)
        print(f"  RETENTION=1d (DETACH + DROP of days):      {timed_pass(store, whole, writer)}")
    finally:
        store.close()
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def sqlite(rows: int) -> None:
    with tempfile.TemporaryDirectory(prefix="sluicegate-bench-") as folder:
        path = Path(folder) / "events.db"
        store = SqliteRepository(path)
        start = day_start_ms(now_ms()) - 10 * DAY_MS
        began = time.perf_counter()
        db = store._db  # the bench's own load, behind the repository's back
        db.execute("BEGIN")
        db.execute(
            _SQLITE_LOAD.format(
                table="events",
                columns=f"'r-' || i, 'orders', '{_PAYLOAD}', {start} + i * 100, {start}",
            ),
            (rows,),
        )
        db.execute(
            "INSERT INTO event_ids (event_id, queue, accepted_at, stored_at) "
            "SELECT event_id, queue, accepted_at, persisted_at FROM events"
        )
        db.execute("COMMIT")
        size_mb = path.stat().st_size / 2**20
        loaded_s = time.perf_counter() - began
        print(f"sqlite: loaded {rows:,} rows ({size_mb:.0f} MB) in {loaded_s:.0f} s")
        policy = RetentionPolicy(86_400.0, {}, WEEK_S)
        figures = timed_pass(store, policy, lambda: SqliteRepository(path))
        print(f"  RETENTION=1d (chunked DELETE + vacuum):    {figures}")
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        print(
            f"  file after the pass: {path.stat().st_size / 2**20:.0f} MB holding "
            f"{store.count():,} rows (the writer's), {free} free pages"
        )
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--sqlite-rows", type=int, default=1_000_000)
    parser.add_argument("--dsn", default=configured_dsn())
    args = parser.parse_args()
    print(server_settings(args.dsn))
    if args.rows:
        postgres(args.dsn, args.rows, args.days)
    if args.sqlite_rows:
        sqlite(args.sqlite_rows)


if __name__ == "__main__":
    main()
