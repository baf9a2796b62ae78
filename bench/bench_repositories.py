"""Persisted events/s and CPU per event: SQLite vs PostgreSQL's writes, same events, same run.

    .venv/bin/python -m bench.bench_repositories [--events 20000] [--batch-size 500] [--rounds 5]
        [--payload-bytes 200] [--stores sqlite,arrays,json,copy,executemany]

Each round writes every batch into a fresh store (a new SQLite file, a new PostgreSQL schema),
then writes them all again to time the redelivery path (every row a conflict). Figures are the
median and best of the rounds, and the medians of the CPU per new event: this process's (the
consumer's part) and, for PostgreSQL, its backend's (from /proc: the server must be local) and the
WAL bytes written. PostgreSQL is SLUICEGATE_TEST_POSTGRES_DSN or the local `test` database; its
durability settings are the server's (fsync, synchronous_commit) — print them too.
"""

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import psycopg

from bench.bench_e2e import payload
from bench.procstat import cpu_s
from sluicegate.events import Event, new_event_id, now_ms
from sluicegate.repository import Repository
from sluicegate.repository.postgres import PostgresRepository
from sluicegate.repository.postgres_schema import partitions
from sluicegate.repository.postgres_writes import WriteStrategy
from sluicegate.repository.sqlite import SqliteRepository
from tests.postgres_server import configured_dsn

Store = Callable[[], AbstractContextManager[Repository]]
STRATEGIES: tuple[WriteStrategy, ...] = ("arrays", "json", "copy", "executemany")


def make_batches(total: int, batch_size: int, payload_bytes: int = 0) -> list[list[Event]]:
    """Events shaped like real ones: a UUIDv7 id and a ~200-byte JSON object; with
    ``payload_bytes``, bench_e2e's order-like payloads of that size."""
    events = [
        Event("orders", new_event_id(), _payload(n, payload_bytes), now_ms()) for n in range(total)
    ]
    return [events[i : i + batch_size] for i in range(0, total, batch_size)]


def _payload(n: int, size: int) -> str:
    if size:
        return json.dumps(payload(n, size))
    return json.dumps(
        {
            "n": n,
            "customer": f"c-{n % 997}",
            "amount": n * 1.25,
            "items": [{"sku": f"sku-{n % 31}", "qty": 1 + n % 3}],
            "note": "x" * 80,
        }
    )


@contextmanager
def sqlite_store() -> Iterator[Repository]:
    with tempfile.TemporaryDirectory(prefix="sluicegate-bench-") as folder:
        repository = SqliteRepository(Path(folder) / "events.db")
        try:
            yield repository
        finally:
            repository.close()


def postgres_store(
    dsn: str, strategy: WriteStrategy, replicas: int = 0, compression: str | None = None
) -> Store:
    """A fresh schema each time; ``replicas``: DATABASE_REPLICAS (bench_standbys), waited for
    as long as it takes (a bench measures throughput, not the timeout); ``compression``: the
    payloads' TOAST compression, if not the repository's own choice."""

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
            if compression is not None:
                _compress_with(repository, compression)
            yield repository
        finally:
            repository.close()
            with psycopg.connect(dsn, autocommit=True) as admin:
                admin.execute(f'DROP SCHEMA "{schema}" CASCADE')

    return store


class Round(NamedTuple):
    first_s: float  # every batch into an empty store
    again_s: float  # every batch again: all redeliveries
    client_cpu_s: float  # this process, during the first pass
    server_cpu_s: float | None  # PostgreSQL's backend, during the first pass
    wal_bytes: float | None  # the server's WAL during the first pass (every session's)


def _compress_with(repository: PostgresRepository, method: str) -> None:
    conn = repository._connection()
    for name in ["events", *partitions(conn)]:
        conn.execute(f"ALTER TABLE {name} ALTER COLUMN payload SET COMPRESSION {method}")


def time_round(store: Store, batches: Sequence[Sequence[Event]]) -> Round:
    """Time (and CPU) to write every batch into an empty store, then to write them all again."""
    with store() as repository:
        conn = repository._connection() if isinstance(repository, PostgresRepository) else None
        server = _server_reading(conn)
        started, client = time.perf_counter(), time.process_time()
        inserted = sum(repository.persist(batch) for batch in batches)
        first, client = time.perf_counter() - started, time.process_time() - client
        server_cpu, wal = _server_since(conn, server)
        started = time.perf_counter()
        again = sum(repository.persist(batch) for batch in batches)
        second = time.perf_counter() - started
    assert (inserted, again) == (sum(map(len, batches)), 0), (inserted, again)
    return Round(first, second, client, server_cpu, wal)


def _server_reading(conn: "psycopg.Connection[Any] | None") -> tuple[float, str]:
    """The backend's CPU seconds and the WAL insert position (nothing on SQLite)."""
    if conn is None:
        return 0.0, ""
    row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
    return cpu_s(conn.info.backend_pid), str(row[0]) if row else ""


def _server_since(
    conn: "psycopg.Connection[Any] | None", before: tuple[float, str]
) -> tuple[float | None, float | None]:
    if conn is None:
        return None, None
    row = conn.execute(
        "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s::pg_lsn)", (before[1],)
    ).fetchone()
    return cpu_s(conn.info.backend_pid) - before[0], float(row[0]) if row else None


def server_settings(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        values = [_show(conn, name) for name in ("server_version", "fsync", "synchronous_commit")]
    return "PostgreSQL {} (fsync={}, synchronous_commit={})".format(*values)


def _show(conn: "psycopg.Connection[tuple[str]]", name: str) -> str:
    row = conn.execute(f"SHOW {name}").fetchone()
    return row[0] if row else "?"


def stores_named(names: Sequence[str], dsn: str) -> dict[str, Store]:
    """``sqlite``, a POSTGRES_WRITE strategy, or ``json-pglz``: json into tables compressed as
    before lz4 (the write of sluicegate before POSTGRES_WRITE=arrays)."""
    stores: dict[str, Store] = {}
    for name in names:
        if name == "sqlite":
            stores["sqlite (WAL, synchronous=FULL)"] = sqlite_store
        elif name == "json-pglz":
            stores["postgresql json, pglz"] = postgres_store(dsn, "json", compression="pglz")
        elif name in STRATEGIES:
            stores[f"postgresql {name}"] = postgres_store(dsn, name)
        else:
            raise SystemExit(f"--stores: unknown {name!r}")
    return stores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--payload-bytes", type=int, default=0, help="0: the ~200 B default")
    parser.add_argument("--stores", default="sqlite,arrays,json,copy,executemany")
    parser.add_argument("--dsn", default=configured_dsn())
    args = parser.parse_args()
    batches = make_batches(args.events, args.batch_size, args.payload_bytes)
    stores = stores_named(args.stores.split(","), args.dsn)
    print(
        f"{args.events} events in batches of {args.batch_size}, {args.rounds} rounds, "
        f"stores interleaved; {server_settings(args.dsn)}; load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    results: dict[str, list[Round]] = {name: [] for name in stores}
    for _ in range(args.rounds):
        for name, store in stores.items():  # interleaved so drift hits every store alike
            results[name].append(time_round(store, batches))
    print(
        f"{'store':32} {'new events/s median':>20} {'best':>10} {'redelivered/s median':>21} "
        f"{'µs client':>10} {'µs server':>10} {'WAL B':>7}  (per new event)"
    )
    for name, rounds in results.items():
        print(f"{name:32} {_row(rounds, args.events)}")


def _row(rounds: Sequence[Round], events: int) -> str:
    new_rate = [events / r.first_s for r in rounds]
    again_rate = [events / r.again_s for r in rounds]
    client = statistics.median(r.client_cpu_s for r in rounds) / events * 1e6
    server = [r.server_cpu_s / events * 1e6 for r in rounds if r.server_cpu_s is not None]
    wal = [r.wal_bytes / events for r in rounds if r.wal_bytes is not None]
    return (
        f"{statistics.median(new_rate):>20,.0f} {max(new_rate):>10,.0f} "
        f"{statistics.median(again_rate):>21,.0f} {client:>10.1f} "
        f"{_median(server, '10.1f')} {_median(wal, '7.0f')}"
    )


def _median(values: Sequence[float], spec: str) -> str:
    width = spec.split(".", maxsplit=1)[0]
    return format(statistics.median(values), spec) if values else format("—", f">{width}")


if __name__ == "__main__":
    main()
