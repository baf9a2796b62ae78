"""The Delta destination, measured in one run against its baselines (docs/destinations.md).

    .venv/bin/python -m bench.bench_delta throughput [--events 200000] [--rounds 3]
    .venv/bin/python -m bench.bench_delta exactly-once [--rows 10000000] [--ids random|uuid7]
                                                        [--file-rows 10000]

``throughput``: the same events persisted into SQLite (the default destination) and into a Delta
table through ``DeltaDestination.persist`` (MERGE), at several batch sizes, each into a fresh
store, then all again (the redelivery path: every row already there). Events/s and the files a
batch size leaves behind (what compaction has to merge).

``exactly-once``: a table of ``--rows`` rows accepted over the last day (one day partition, as a
busy queue's, in files of ``--file-rows``: 10,000 is a consumer's, 1,000,000 a compacted day's),
then per batch of ``--batch`` new events: a plain append (at-least-once), Delta's idempotent
application transaction (read the app's version, append with a ``txn`` action: what Spark's
streaming sink does), the MERGE the destination uses (ids looked up within the dedup window),
the same MERGE without the window (the whole day partition), and the MERGE of a batch
redelivered. ``--ids random`` (uuid4-like client ids) is the case file statistics cannot prune
by id; ``uuid7`` the ids sluicegate mints (time-ordered).
"""

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from bench.bench_repositories import make_batches, sqlite_store, time_round
from sluicegate.destination import delta_rows
from sluicegate.destination.delta import DeltaDestination, DeltaOptions
from sluicegate.events import Event, now_ms
from sluicegate.repository import Repository

DAY_MS = 86_400_000
SQLITE_BATCHES = (500, 10_000)  # QUEUE_BATCH_SIZE's default and its maximum
DELTA_BATCHES = (500, 2_000, 10_000, 50_000)


@contextmanager
def delta_store(folder: Path, compaction: bool = True) -> Iterator[DeltaDestination]:
    """A Delta table in a temp folder; ``compaction=False``: no background compaction (the
    exactly-once mode times MERGEs against files of a size it chose, which compaction merges)."""
    with tempfile.TemporaryDirectory(prefix="sluicegate-bench-delta-", dir=folder) as root:
        options = DeltaOptions(Path(root).as_uri())
        if not compaction:
            options = replace(options, optimize_interval_s=0)
        lake = DeltaDestination(options)
        yield lake
        lake.close()


def throughput(args: argparse.Namespace) -> None:
    """Every store once per round, rounds interleaved so that a loaded machine's drift hits
    every store alike."""
    stores = [(f"sqlite, batches of {size:,}", size, False) for size in SQLITE_BATCHES]
    stores += [(f"delta MERGE, batches of {size:,}", size, True) for size in DELTA_BATCHES]
    batches = {size: make_batches(args.events, size) for _, size, _ in stores}
    rounds: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in stores}
    files: dict[str, str] = {name: "-" for name, _, _ in stores}
    for _ in range(args.rounds):
        for name, size, lake in stores:
            if not lake:
                rounds[name].append(time_round(sqlite_store, batches[size])[:2])
                continue
            with delta_store(args.folder) as destination:

                @contextmanager
                def same(table: DeltaDestination = destination) -> Iterator[Repository]:
                    yield table

                rounds[name].append(time_round(same, batches[size])[:2])
                files[name] = f"{len(destination.file_uris('orders')):,}"
    print(f"{args.events:,} events (~200-byte JSON, UUIDv7 ids), {args.rounds} rounds, medians")
    print(f"{'store':34} {'new events/s':>13} {'redelivered/s':>14} {'files':>6}")
    for name, timings in rounds.items():
        report(name, args.events, timings, files[name])


def report(name: str, events: int, rounds: list[tuple[float, float]], files: str) -> None:
    new = statistics.median(events / first for first, _ in rounds)
    again = statistics.median(events / second for _, second in rounds)
    print(f"{name:34} {new:>13,.0f} {again:>14,.0f} {files:>6}", flush=True)


def make_events(count: int, first_ms: int, step_ms: float, ids: str) -> list[Event]:
    """``count`` events accepted from ``first_ms`` on, ``step_ms`` apart."""
    accepted = [first_ms + int(n * step_ms) for n in range(count)]
    mint = uuid7_at if ids == "uuid7" else (lambda _: uuid.uuid4().hex)
    payload = '{"customer": "c-42", "amount": 12.5, "items": [{"sku": "sku-7"}], "note": "%s"}'
    return [Event("orders", mint(at), payload % ("x" * 100), at) for at in accepted]


def uuid7_at(epoch_ms: int) -> str:
    """A UUIDv7 minted at ``epoch_ms`` (``events.new_event_id`` mints at now)."""
    value = (epoch_ms << 80) | (0x7 << 76) | (int.from_bytes(os.urandom(10)) & ((1 << 76) - 1))
    value = (value & ~(0b11 << 62)) | (0b10 << 62)
    return str(uuid.UUID(int=value))


def build(lake: DeltaDestination, args: argparse.Namespace, end_ms: int) -> None:
    """``--rows`` events accepted over the day before ``end_ms``, appended ``--file-rows`` at a
    time: the files a consumer leaves in today's partition, which compaction never rewrites
    while a MERGE may read it. The build is not what is measured."""
    from deltalake import write_deltalake

    lake.persist(make_events(1, end_ms - DAY_MS, 1, args.ids))  # makes the table
    table, step_ms, chunk = lake.table("orders"), DAY_MS / args.rows, args.file_rows
    started = time.perf_counter()
    for start in range(0, args.rows, chunk):
        first_ms = end_ms - DAY_MS + int(start * step_ms)
        events = make_events(min(chunk, args.rows - start), first_ms, step_ms, args.ids)
        write_deltalake(table, delta_rows.rows(events, now_ms()), mode="append")
    elapsed = time.perf_counter() - started
    print(f"built {args.rows:,} rows ({args.ids} ids, files of {chunk:,}) in {elapsed:.0f} s")
    lake.close()  # opened again from the latest checkpoint, as a consumer's table is


def txn_append(lake: DeltaDestination, events: Sequence[Event]) -> int:
    """Delta's idempotent application transaction: skip if the app's version is there, else
    append with the next version (the cost of the mechanism; not its batch-identity problem)."""
    from deltalake import CommitProperties, Transaction, write_deltalake

    table = lake.table("orders")
    table.update_incremental()
    version = (table.transaction_version("bench") or 0) + 1
    properties = CommitProperties(app_transactions=[Transaction("bench", version)])
    rows = delta_rows.rows(events, now_ms())
    write_deltalake(table, rows, mode="append", commit_properties=properties)
    return len(events)


def plain_append(lake: DeltaDestination, events: Sequence[Event]) -> int:
    from deltalake import write_deltalake

    table = lake.table("orders")
    table.update_incremental()
    write_deltalake(table, delta_rows.rows(events, now_ms()), mode="append")
    return len(events)


def exactly_once(args: argparse.Namespace) -> None:
    end_ms = now_ms()
    with delta_store(args.folder, compaction=False) as lake:
        build(lake, args, end_ms)
        whole_day = DeltaDestination(replace(lake.options, dedup_window_s=DAY_MS / 1000))
        ways: dict[str, Callable[[Sequence[Event]], int]] = {
            "plain append (at-least-once)": lambda batch: plain_append(lake, batch),
            "txn append (app id + version)": lambda batch: txn_append(lake, batch),
            f"MERGE, window {lake.options.dedup_window_s:.0f} s": lake.persist,
            "MERGE, window a whole day": whole_day.persist,
        }
        timings: dict[str, list[float]] = {name: [] for name in [*ways, "MERGE, redelivered"]}
        for round_ in range(args.batches):  # interleaved so drift hits every way alike
            for name, write in ways.items():
                batch = make_events(args.batch, now_ms() - 1000, 0.05, args.ids)
                timings[name].append(timed(write, batch, len(batch)))
            timings["MERGE, redelivered"].append(timed(lake.persist, batch, 0))
            last = ", ".join(f"{values[-1] * 1000:.0f} ms" for values in timings.values())
            print(f"round {round_ + 1}: {last}", flush=True)
        whole_day.close()  # its compaction thread (started by persist) ends before the folder
    base = statistics.median(timings["plain append (at-least-once)"])
    print(f"{args.batch:,}-event batches into a table of {args.rows:,} rows, medians:")
    for name, values in timings.items():
        median = statistics.median(values)
        rate = args.batch / median
        print(f"  {name:32} {median * 1000:8.0f} ms {rate:>9,.0f} events/s  x{median / base:.1f}")


def timed(write: Callable[[Sequence[Event]], int], batch: Sequence[Event], expect: int) -> float:
    started = time.perf_counter()
    stored = write(batch)
    elapsed = time.perf_counter() - started
    assert stored == expect, (stored, expect)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["throughput", "exactly-once"])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--file-rows", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--ids", choices=["random", "uuid7"], default="random")
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    (throughput if args.what == "throughput" else exactly_once)(args)


if __name__ == "__main__":
    main()
