"""End-to-end persisted events/s: sluicegate's consumer against a naive, unsafe baseline.

Both run in this process, against the same private Valkey server and SQLite settings, in the same
run, alternating rounds; the figure that matters is the ratio, not the absolute numbers.

- baseline: LPOP 500 from a list, INSERT them in one transaction. A crash between the pop and the
  commit loses the batch: this is the loop the original service had.
- sluicegate: XREADGROUP 500, persist in one transaction (ON CONFLICT DO NOTHING), XACK + XDEL,
  heartbeat the worker lock; nothing is lost at any point.

Each round also runs the consumer with its metrics sent down a pipe as under an agent, and a
second time without (a control), and the cost of metrics is the same-run ratio of the CPU time
this process spent per event (the consumer's own work, SQLite's included; Redis's is not), next
to the control's ratio: two runs of the same code differ by a few percent from round to round,
and the control shows how much. A third figure isolates the calls themselves: the CPU
of ``ConsumerMetrics.batch_persisted`` per batch (pipe write included), measured here, over the
consumer's CPU per batch without metrics, from this run's rounds.

Usage: python -m bench.bench_consumer [--events 50000] [--rounds 3]
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import redis

from sluicegate.embedded.server import EmbeddedServer
from sluicegate.events import Event, now_ms
from sluicegate.logs import configure_logging
from sluicegate.process.signals import SignalInbox, StopWatch
from sluicegate.queue.lock import new_lock_entry
from sluicegate.repository.sqlite import SqliteRepository
from sluicegate.settings import Settings
from sluicegate.worker.consumer_loop import Place
from sluicegate.worker.fork import serve_queues
from sluicegate.worker.metrics import ConsumerMetrics
from tests.loading import enqueue, make_events

BATCH = 500
# Each round runs the consumer three times: without metrics, again without (a control: what two
# runs of the same code differ by), and with metrics.
_KINDS = ["plain", "control", "metered"]


def naive_round(server: EmbeddedServer, events: list[Event], folder: Path) -> float:
    client = redis.Redis.from_url(server.url)
    client.delete("naive")
    for start in range(0, len(events), 5000):
        chunk = events[start : start + 5000]
        client.rpush("naive", *[f"{e.event_id}\t{e.payload}\t{e.accepted_at_ms}" for e in chunk])
    started = time.perf_counter()  # like the consumer's figure, this includes opening the DB
    repository = SqliteRepository(folder / "naive.db")
    # with a count and without decode_responses, LPOP answers a list of bytes, or None when empty
    while raw := cast("list[bytes] | None", client.lpop("naive", BATCH)):
        batch = []
        for line in raw:
            event_id, payload, accepted_at = line.decode().split("\t")
            batch.append(Event("naive", event_id, payload, int(accepted_at)))
        repository.persist(batch)
    elapsed = time.perf_counter() - started
    assert repository.count() == len(events)
    repository.close()
    client.close()
    return len(events) / elapsed


@dataclass(frozen=True)
class Round:
    events_per_s: float
    cpu_us_per_event: float  # this process's CPU time (user + system) per event


def sluicegate_round(
    server: EmbeddedServer, events: list[Event], folder: Path, metrics: bool = False
) -> Round:
    """``metrics``: send the consumer's figures down a pipe, as under an agent (a ``cat``
    process reads them, as the agent's HTTP thread would, in another process)."""
    enqueue(server.url, events, batch=100, packing=True)  # as the API writes requests of 100
    database = folder / f"sluicegate-{events[0].queue}.db"
    settings = Settings(
        redis_url=server.url,
        sqlite_filepath=database,
        queue_batch_size=BATCH,
        queue_batch_timeout_s=0.05,
        queue_agent_worker_ttl_s=1.0,
    )
    inbox = SignalInbox([])
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    reader = subprocess.Popen(["cat"], stdin=read_fd, stdout=subprocess.DEVNULL)
    os.close(read_fd)
    place = Place(figures_fd=write_fd if metrics else None)
    started_ms = now_ms()
    cpu_before = time.process_time()
    identity = new_lock_entry(events[0].queue)
    serve_queues(
        settings, server.url, identity, StopWatch(inbox), place=place, queues=[identity.queue]
    )
    cpu_s = time.process_time() - cpu_before
    os.close(write_fd)
    reader.wait(timeout=10)
    inbox.close()
    repository = SqliteRepository(database)
    assert repository.count() == len(events)
    last_ms = repository._db.execute("SELECT max(persisted_at) FROM events").fetchone()[0]
    repository.close()
    rate = len(events) / max((last_ms - started_ms) / 1000, 1e-3)
    return Round(rate, cpu_s * 1e6 / len(events))


def metrics_cpu_us_per_batch(distinct_accepted_at: bool, batches: int = 2_000) -> float:
    """CPU of the metrics a consumer records per persisted batch, its line down a pipe included.
    ``distinct_accepted_at``: every event of the batch came in its own request (the worst case);
    else they came 100 to a request."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    reader = subprocess.Popen(["cat"], stdin=read_fd, stdout=subprocess.DEVNULL)
    os.close(read_fd)
    metrics = ConsumerMetrics(write_fd)
    accepted_ms = now_ms() - 1_000
    events = [
        Event("bench", f"e{n}", "{}", accepted_ms + (n if distinct_accepted_at else n // 100))
        for n in range(BATCH)
    ]
    started = time.process_time()
    for _ in range(batches):
        metrics.batch_persisted("bench", events, len(events), 0.01)
    cpu_s = time.process_time() - started
    os.close(write_fd)
    reader.wait(timeout=10)
    return cpu_s * 1e6 / batches


def _median_change(runs: list[Round], baseline: list[Round]) -> float:
    pairs = zip(runs, baseline, strict=True)
    return statistics.median(
        run.cpu_us_per_event / base.cpu_us_per_event - 1 for run, base in pairs
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    configure_logging("warning")  # as a consumer logs in production: no per-batch debug lines
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp) / "redis").start()
        try:
            naive: list[float] = []
            runs: dict[str, list[Round]] = {kind: [] for kind in _KINDS}
            for round_number in range(args.rounds):
                folder = Path(tmp) / f"round-{round_number}"
                folder.mkdir()
                naive.append(naive_round(server, make_events("naive", args.events), folder))
                # A different order each round, so that no kind always meets a busier server.
                shift = round_number % len(_KINDS)
                for kind in _KINDS[shift:] + _KINDS[:shift]:
                    events = make_events(kind, args.events)
                    runs[kind].append(
                        sluicegate_round(server, events, folder, metrics=kind == "metered")
                    )
                print(
                    f"round {round_number + 1}: naive {naive[-1]:,.0f}/s, "
                    + ", ".join(
                        f"{kind} {runs[kind][-1].events_per_s:,.0f}/s "
                        f"({runs[kind][-1].cpu_us_per_event:.1f} µs CPU/event)"
                        for kind in _KINDS
                    )
                )
        finally:
            server.stop()
    safe, control, measured = runs["plain"], runs["control"], runs["metered"]
    safe_rates = [result.events_per_s for result in safe]
    ratios = [rate / naive_rate for rate, naive_rate in zip(safe_rates, naive, strict=True)]
    print(f"median over {args.rounds} rounds of {args.events:,} events, batches of {BATCH}:")
    print(f"  naive LPOP+INSERT (unsafe): {statistics.median(naive):,.0f} events/s")
    print(f"  sluicegate consumer (safe): {statistics.median(safe_rates):,.0f} events/s")
    print(
        f"  ratio (median of the per-round ratios): {statistics.median(ratios):.2f} "
        "(target >= 0.50)"
    )
    print(
        "  with metrics sent to the agent: "
        f"{statistics.median(result.events_per_s for result in measured):,.0f} events/s"
    )
    print(
        "  cost of metrics, median of the per-round CPU per event (target < 5 %): "
        f"{_median_change(measured, safe):+.1%}; the same for a second run without metrics "
        f"(the noise of this figure): {_median_change(control, safe):+.1%}"
    )
    batch_cpu_us = statistics.median(result.cpu_us_per_event for result in safe) * BATCH
    for distinct, label in ((False, "100 events a request"), (True, "one event a request")):
        calls_us = metrics_cpu_us_per_batch(distinct)
        print(
            f"  the metrics calls alone, {label}: {calls_us:.0f} µs CPU per batch of {BATCH}, "
            f"{calls_us / batch_cpu_us:.1%} of the consumer's {batch_cpu_us / 1000:.2f} ms"
        )


if __name__ == "__main__":
    main()
