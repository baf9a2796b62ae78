"""Persisted events/s: SQLite vs PostgreSQL (json, COPY, executemany), same events, same run.

    .venv/bin/python -m bench.bench_repositories [--events 20000] [--batch-size 500] [--rounds 5]

Each round writes every batch into a fresh store (a new SQLite file, a new PostgreSQL schema),
then writes them all again to time the redelivery path (every row a conflict). Figures are the
median and best of the rounds. PostgreSQL is SLUICEGATE_TEST_POSTGRES_DSN or the local `test`
database; its durability settings are the server's (fsync, synchronous_commit) — print them too.
"""

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import psycopg

from sluicegate.events import Event, new_event_id, now_ms
from sluicegate.repository import Repository
from sluicegate.repository.postgres import PostgresRepository
from sluicegate.repository.postgres_writes import WriteStrategy
from sluicegate.repository.sqlite import SqliteRepository
from tests.postgres_server import configured_dsn

Store = Callable[[], AbstractContextManager[Repository]]


def make_batches(total: int, batch_size: int) -> list[list[Event]]:
    """Events shaped like real ones: a UUIDv7 id and a ~200-byte JSON object."""
    events = [
        Event(
            "orders",
            new_event_id(),
            json.dumps(
                {
                    "n": n,
                    "customer": f"c-{n % 997}",
                    "amount": n * 1.25,
                    "items": [{"sku": f"sku-{n % 31}", "qty": 1 + n % 3}],
                    "note": "x" * 80,
                }
            ),
            now_ms(),
        )
        for n in range(total)
    ]
    return [events[i : i + batch_size] for i in range(0, total, batch_size)]


@contextmanager
def sqlite_store() -> Iterator[Repository]:
    with tempfile.TemporaryDirectory(prefix="sluicegate-bench-") as folder:
        repository = SqliteRepository(Path(folder) / "events.db")
        try:
            yield repository
        finally:
            repository.close()


def postgres_store(dsn: str, strategy: WriteStrategy, replicas: int = 0) -> Store:
    """A fresh schema each time; ``replicas``: DATABASE_REPLICAS (bench_standbys), waited for
    as long as it takes (a bench measures throughput, not the timeout)."""

    @contextmanager
    def store() -> Iterator[Repository]:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in dsn else "?"
        url = f"{dsn}{sep}options=-c%20search_path%3D{schema}"
        repository = PostgresRepository(
            url, strategy=strategy, replicas=replicas, replicas_timeout_s=60.0
        )
        try:
            repository.count()  # connect and create the schema outside the timing
            yield repository
        finally:
            repository.close()
            with psycopg.connect(dsn, autocommit=True) as admin:
                admin.execute(f'DROP SCHEMA "{schema}" CASCADE')

    return store


def time_round(store: Store, batches: Sequence[Sequence[Event]]) -> tuple[float, float]:
    """Seconds to write every batch into an empty store, then to write them all again."""
    with store() as repository:
        started = time.perf_counter()
        inserted = sum(repository.persist(batch) for batch in batches)
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = sum(repository.persist(batch) for batch in batches)
        second = time.perf_counter() - started
    assert (inserted, again) == (sum(map(len, batches)), 0), (inserted, again)
    return first, second


def server_settings(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        values = [_show(conn, name) for name in ("server_version", "fsync", "synchronous_commit")]
    return "PostgreSQL {} (fsync={}, synchronous_commit={})".format(*values)


def _show(conn: "psycopg.Connection[tuple[str]]", name: str) -> str:
    row = conn.execute(f"SHOW {name}").fetchone()
    return row[0] if row else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dsn", default=configured_dsn())
    args = parser.parse_args()
    batches = make_batches(args.events, args.batch_size)
    stores: dict[str, Store] = {
        "sqlite (WAL, synchronous=FULL)": sqlite_store,
        "postgresql json": postgres_store(args.dsn, "json"),
        "postgresql copy": postgres_store(args.dsn, "copy"),
        "postgresql executemany": postgres_store(args.dsn, "executemany"),
    }
    print(
        f"{args.events} events in batches of {args.batch_size}, {args.rounds} rounds, "
        f"stores interleaved; {server_settings(args.dsn)}"
    )
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in stores}
    for _ in range(args.rounds):
        for name, store in stores.items():  # interleaved so drift hits every store alike
            results[name].append(time_round(store, batches))
    print(f"{'store':32} {'new events/s median':>20} {'best':>10} {'redelivered/s median':>21}")
    for name, rounds in results.items():
        new_rate = [args.events / first for first, _ in rounds]
        redelivered_rate = [args.events / second for _, second in rounds]
        print(
            f"{name:32} {statistics.median(new_rate):>20,.0f} {max(new_rate):>10,.0f} "
            f"{statistics.median(redelivered_rate):>21,.0f}"
        )


if __name__ == "__main__":
    main()
