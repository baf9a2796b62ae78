"""The cost of DATABASE_REPLICAS=1: persisted events/s with and without waiting for a standby,
same run, on a private primary with one streaming standby.

    .venv/bin/python -m bench.bench_standbys [--events 20000] [--batch-sizes 500 50] [--rounds 5]

Stores, interleaved in every round (each round writes every batch into a fresh schema):

- ``N=0``: commit and return, as without standbys (what a failover can lose);
- ``N=1``: after the commit, poll ``pg_stat_replication`` until the standby's ``flush_lsn`` is
  at or past the commit (sluicegate's way: works with the asynchronous standby as it is);
- ``N=0, synchronous standby``: the server's own way, ``synchronous_standby_names = '*'`` (set
  with ALTER SYSTEM for this store only): every commit waits for the standby's flush inside
  COMMIT. Same guarantee as N=1, but it needs the server reconfigured, and then every client's
  commits wait.

Both servers run with fsync on (as in production: a standby's ``flush_lsn`` follows its fsync),
unless ``--no-fsync``.
"""

import argparse
import statistics
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from bench.bench_repositories import Store, make_batches, postgres_store, time_round
from sluicegate.drill.pg_pair import StandbyPair
from sluicegate.drill.pg_server import owned_folder


def synchronous(pair: StandbyPair, store: Store) -> Store:
    """``store`` while the primary waits for its standby at every commit."""

    @contextmanager
    def wrapped() -> Iterator[object]:
        _set_synchronous(pair, "*")
        try:
            with store() as repository:
                yield repository
        finally:
            _set_synchronous(pair, "")

    return wrapped  # type: ignore[return-value]


def _set_synchronous(pair: StandbyPair, names: str) -> None:
    with psycopg.connect(pair.primary.dsn, autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{names}'")
        conn.execute("SELECT pg_reload_conf()")


def run(pair: StandbyPair, events: int, batch_size: int, rounds: int) -> None:
    batches = make_batches(events, batch_size)
    url = pair.url
    stores: dict[str, Callable[[], object]] = {
        "N=0 (asynchronous standby)": postgres_store(url, "copy"),
        "N=1 (waits for its flush)": postgres_store(url, "copy", replicas=1),
        "N=0, synchronous standby": synchronous(pair, postgres_store(url, "copy")),
    }
    results: dict[str, list[float]] = {name: [] for name in stores}
    for _ in range(rounds):
        for name, store in stores.items():  # interleaved: drift hits every store alike
            first = time_round(store, batches).first_s  # type: ignore[arg-type]
            results[name].append(events / first)
    base = statistics.median(results["N=0 (asynchronous standby)"])
    print(f"\nbatches of {batch_size}: {events:,} events, {rounds} rounds")
    print(f"{'store':30} {'events/s median':>16} {'best':>10} {'vs N=0':>8} {'ms/batch':>9}")
    for name, rates in results.items():
        median = statistics.median(rates)
        per_batch_ms = 1000 * batch_size / median
        print(
            f"{name:30} {median:>16,.0f} {max(rates):>10,.0f} {median / base - 1:>+8.1%} "
            f"{per_batch_ms:>9.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[500, 50])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-fsync", action="store_true", help="fsync off on both servers")
    args = parser.parse_args()
    fsync = "off" if args.no_fsync else "on"
    with tempfile.TemporaryDirectory(prefix="sluicegate-bench-pair-") as folder:
        pair = StandbyPair(owned_folder(Path(folder)), {"fsync": fsync, "full_page_writes": fsync})
        try:
            pair.start()
            print(f"primary + 1 streaming standby, fsync={fsync}, synchronous_commit=on, COPY")
            for batch_size in args.batch_sizes:
                run(pair, args.events, batch_size, args.rounds)
        finally:
            pair.stop()


if __name__ == "__main__":
    main()
