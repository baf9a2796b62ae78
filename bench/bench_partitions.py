"""Insert rate into the partitioned PostgreSQL layout (day partitions + the ``event_ids`` table,
docs/retention.md) against the unpartitioned table of earlier versions, same events, same run.

    .venv/bin/python -m bench.bench_partitions [--events 50000] [--batch-size 500] [--rounds 5]

SQLite too: its table and write before issue 18 against ``SqliteRepository`` as it is. Two more
rows take the new layout apart: the same tables unpartitioned (what partitioning costs), and
partitioned without the events index (what that index costs).
"before" is the layout and the two writes of sluicegate before issue 18 (one table, its primary
key on event_id, an index on queue; ``… ON CONFLICT (event_id) DO NOTHING``), kept here as the
baseline. "after" is ``PostgresRepository`` as it is; each is compared with "before" of the same
write strategy. Rounds are interleaved, each into a fresh schema; the events span
two days (a retry across midnight lands in the other partition).
"""

import argparse
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import psycopg

from bench.bench_repositories import make_batches, server_settings
from sluicegate.events import Event, now_ms
from sluicegate.repository.postgres import PostgresRepository
from sluicegate.repository.postgres_schema import schema as tables
from sluicegate.repository.postgres_writes import Row, copy_batch, prepare_session, unique_rows
from sluicegate.repository.sqlite import SqliteRepository
from sluicegate.retention import DAY_MS, day_start_ms
from tests.postgres_server import configured_dsn

# The layout as 0.4 made it (JSONB payloads), measured in its variants below.
EVENTS, EVENTS_ORDER, EVENT_IDS = tables("jsonb")

Writer = Callable[[Sequence[Event]], int]
Store = Callable[[], AbstractContextManager[Writer]]

_BEFORE_SCHEMA = (
    "CREATE TABLE events (event_id TEXT PRIMARY KEY, queue TEXT NOT NULL, payload JSONB NOT NULL,"
    " accepted_at BIGINT NOT NULL, persisted_at BIGINT NOT NULL)",
    "CREATE INDEX events_queue ON events (queue)",
    "CREATE TEMPORARY TABLE events_incoming (LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
)
_BEFORE_COPY = (
    "COPY events_incoming (event_id, queue, payload, accepted_at, persisted_at) FROM STDIN"
)
_BEFORE_INSERT = "INSERT INTO events VALUES (%s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING"
_BEFORE_MOVE = "INSERT INTO events SELECT * FROM events_incoming ON CONFLICT (event_id) DO NOTHING"


@contextmanager
def schema(dsn: str) -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{name}"')
    sep = "&" if "?" in dsn else "?"
    try:
        yield f"{dsn}{sep}options=-c%20search_path%3D{name}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{name}" CASCADE')


def before(dsn: str, strategy: str) -> Store:
    write = _before_copy if strategy == "copy" else _before_executemany

    @contextmanager
    def store() -> Iterator[Writer]:
        with schema(dsn) as url, psycopg.connect(url, autocommit=True) as conn:
            for statement in _BEFORE_SCHEMA:
                conn.execute(statement)
            yield lambda batch: write(conn, batch)

    return store


def _before_executemany(conn: "psycopg.Connection[Any]", batch: Sequence[Event]) -> int:
    stamp = now_ms()
    rows = [(e.event_id, e.queue, e.payload, e.accepted_at_ms, stamp) for e in batch]
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(_BEFORE_INSERT, rows)
        return max(cursor.rowcount, 0)


def _before_copy(conn: "psycopg.Connection[Any]", batch: Sequence[Event]) -> int:
    stamp = now_ms()
    with conn.transaction(), conn.cursor() as cursor:
        with cursor.copy(_BEFORE_COPY) as copy:
            for e in batch:
                copy.write_row((e.event_id, e.queue, e.payload, e.accepted_at_ms, stamp))
        cursor.execute(_BEFORE_MOVE)
        return max(cursor.rowcount, 0)


def after(dsn: str, strategy: str) -> Store:
    @contextmanager
    def store() -> Iterator[Writer]:
        with schema(dsn) as url:
            repository = PostgresRepository(url, strategy=strategy)  # type: ignore[arg-type]
            repository.persist(make_batches(1, 1)[0])  # connect, schema, partitions: untimed
            try:
                yield repository.persist
            finally:
                repository.close()

    return store


def variant(dsn: str, ddl: Sequence[str]) -> Store:
    """The production copy write (``postgres_writes.copy_batch``) into tables made by ``ddl``:
    to tell what partitioning, the id table and the events index each cost."""

    @contextmanager
    def store() -> Iterator[Writer]:
        with schema(dsn) as url, psycopg.connect(url, autocommit=True) as conn:
            for statement in ddl:
                conn.execute(statement)
            prepare_session(conn, "copy")
            yield lambda batch: copy_batch(  # the ddl's payloads are JSONB
                conn, unique_rows([_row(e) for e in batch]), "jsonb"
            )

    return store


def _row(event: Event) -> Row:
    return (event.event_id, event.queue, event.payload, event.accepted_at_ms, now_ms())


def _two_days() -> list[str]:
    midnight = day_start_ms(now_ms())
    return [
        f"CREATE TABLE events_{n} PARTITION OF events FOR VALUES FROM ({day}) TO ({day + DAY_MS})"
        for n, day in enumerate((midnight - DAY_MS, midnight))
    ]


def spread_over_midnight(batches: list[list[Event]]) -> list[list[Event]]:
    """Half the events accepted before today's midnight, half after (two partitions)."""
    midnight = day_start_ms(now_ms())
    total = sum(map(len, batches))
    step = DAY_MS // 2 // max(total, 1)
    n, spread = 0, []
    for batch in batches:
        moved = []
        for e in batch:
            moved.append(Event(e.queue, e.event_id, e.payload, midnight - DAY_MS // 4 + n * step))
            n += 1
        spread.append(moved)
    return spread


_SQLITE_BEFORE = (
    "CREATE TABLE events (event_id TEXT PRIMARY KEY, queue TEXT NOT NULL, payload TEXT NOT NULL,"
    " accepted_at INTEGER NOT NULL, persisted_at INTEGER NOT NULL)",
    "CREATE INDEX events_queue ON events (queue)",
)
_SQLITE_BEFORE_INSERT = (
    "INSERT INTO events VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING"
)


def sqlite_before() -> Store:
    """SQLite's table and write before issue 18 (WAL, synchronous=FULL, one executemany)."""

    @contextmanager
    def store() -> Iterator[Writer]:
        with tempfile.TemporaryDirectory(prefix="sluicegate-bench-") as folder:
            db = sqlite3.connect(Path(folder) / "events.db", isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            for statement in _SQLITE_BEFORE:
                db.execute(statement)
            yield lambda batch: _sqlite_before_write(db, batch)
            db.close()

    return store


def _sqlite_before_write(db: sqlite3.Connection, batch: Sequence[Event]) -> int:
    rows = [(e.event_id, e.queue, e.payload, e.accepted_at_ms, now_ms()) for e in batch]
    db.execute("BEGIN IMMEDIATE")
    inserted = db.executemany(_SQLITE_BEFORE_INSERT, rows).rowcount
    db.execute("COMMIT")
    return inserted


def sqlite_after() -> Store:
    @contextmanager
    def store() -> Iterator[Writer]:
        with tempfile.TemporaryDirectory(prefix="sluicegate-bench-") as folder:
            repository = SqliteRepository(Path(folder) / "events.db")
            yield repository.persist
            repository.close()

    return store


def time_round(store: Store, batches: Sequence[Sequence[Event]]) -> float:
    with store() as write:
        started = time.perf_counter()
        inserted = sum(write(batch) for batch in batches)
        elapsed = time.perf_counter() - started
    assert inserted == sum(map(len, batches)), inserted
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dsn", default=configured_dsn())
    args = parser.parse_args()
    batches = spread_over_midnight(make_batches(args.events, args.batch_size))
    stores: dict[str, Store] = {
        "before: unpartitioned, copy": before(args.dsn, "copy"),
        "after: partitioned + ids, copy": after(args.dsn, "copy"),
        "before: unpartitioned, executemany": before(args.dsn, "executemany"),
        "after: partitioned + ids, executemany": after(args.dsn, "executemany"),
        "unpartitioned + ids, same index, copy": variant(
            args.dsn,
            [EVENTS.replace(" PARTITION BY RANGE (accepted_at)", ""), EVENTS_ORDER, EVENT_IDS],
        ),
        "partitioned + ids, no events index, copy": variant(
            args.dsn, [EVENTS, *_two_days(), EVENT_IDS]
        ),
        "before: sqlite": sqlite_before(),
        "after: sqlite + ids": sqlite_after(),
    }
    print(
        f"{args.events} events (two days) in batches of {args.batch_size}, {args.rounds} rounds "
        f"interleaved; {server_settings(args.dsn)}"
    )
    rates: dict[str, list[float]] = {name: [] for name in stores}
    for _ in range(args.rounds):
        for name, store in stores.items():
            rates[name].append(args.events / time_round(store, batches))
    print(f"{'layout, write':40} {'events/s median':>16} {'best':>10} {'vs before':>10}")
    for name, found in rates.items():
        strategy = name.rpartition(", ")[2]
        before_name = "before: sqlite" if "sqlite" in name else f"before: unpartitioned, {strategy}"
        baseline = statistics.median(rates[before_name])
        median = statistics.median(found)
        print(f"{name:40} {median:>16,.0f} {max(found):>10,.0f} {median / baseline:>9.2f}x")


if __name__ == "__main__":
    main()
