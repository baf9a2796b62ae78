"""Scaling: each shape measured in one run, next to the 1-process (or 1-consumer) shape.

``--part ingest`` (the default): one Valkey server or a local 3 + 3 Valkey cluster, each with 1
and 2 API workers (API_WORKERS), single events and 100-event batches, WAITAOF durability
(DURABILITY_REPLICAS=0; on the cluster also 1). The load comes from this process (bench_api's
minimal HTTP/1.1 client) on the same cores: on a 2-core machine the API, Valkey and the load share
them, so read the shape of the curve, not absolutes.

``--part consumers``: persisted events/s on PostgreSQL with QUEUE_CONSUMERS 1, 2 and 4, on one
queue and on 8 queues. Each shape pre-loads ``--events`` events (split evenly over its queues)
into a fresh private Valkey (AOF, ``appendfsync always``), empties the table of a private
PostgreSQL (``tests.postgres_server``: fsync off), starts one agent with QUEUE_CONSUMERS=n and
MAX_CONSUMERS = n * queues (the other settings at their defaults), and times from the agent's
``agent-started`` to the last row's ``persisted_at``. The agent, its consumers, Valkey and
PostgreSQL share the machine's cores, so the table also says where the CPU went: the agent and
its consumers' CPU (user + system, the agent's own start included) and Valkey's, in ms per 1,000
events, and the time to the first row (the forks and their connections).

Usage: python -m bench.bench_scaling [--part ingest|consumers] [--seconds 4] [--connections 32]
       [--events 40000] [--rounds 3]
"""

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import psycopg

from bench.bench_api import load, start_api
from bench.bench_many_queues import children, persisted, start_agent
from bench.procstat import cpu_s
from sluicegate.drill.pg_server import PrivatePostgres
from sluicegate.embedded.cluster import EmbeddedCluster
from sluicegate.embedded.server import EmbeddedServer
from tests.loading import enqueue, make_events
from tests.postgres_server import private_postgres

CONSUMER_SHAPES = tuple(  # (queues, QUEUE_CONSUMERS), each against (queues, 1)
    (queues, consumers) for queues in (1, 8) for consumers in (1, 2, 4)
)
_SAMPLE_S = 0.1
_PERSIST_TIMEOUT_S = 300.0
SHAPES = (  # (redis, API workers, DURABILITY_REPLICAS)
    ("server", 1, 0),
    ("server", 2, 0),
    ("cluster", 1, 0),
    ("cluster", 2, 0),
    ("cluster", 2, 1),
)


@contextmanager
def api(redis_url: str, workers: int, replicas: int) -> Iterator[int]:
    extra = {"DURABILITY_REPLICAS": str(replicas), "API_WORKERS": str(workers)}
    process, port = start_api(redis_url, "aof", extra, timeout_s=60)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert process.stderr is not None
        process.stderr.close()


def measure(port: int, batch: int, seconds: float, connections: int) -> tuple[float, float]:
    """Requests/s and the p99 in ms, after a warm-up that also waits for every worker."""
    asyncio.run(load(port, batch, 1.0, connections))
    latencies = sorted(asyncio.run(load(port, batch, seconds, connections)))
    return len(latencies) / seconds, latencies[int(len(latencies) * 0.99)] * 1000


@dataclass(frozen=True, slots=True)
class ConsumerRound:
    rate: float  # persisted events/s
    first_row_s: float  # from the agent's start to the first row: forks and connections
    peak: int  # most consumer processes at once
    agent_cpu_s: float  # CPU of the agent and its consumers (reaped children), user + system
    valkey_cpu_s: float  # CPU of the Valkey server while they ran


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def consumers_round(
    queues: int, consumers: int, events: int, pg: PrivatePostgres, folder: Path
) -> ConsumerRound:
    """Persisted events/s of one agent with QUEUE_CONSUMERS=``consumers`` over ``queues``
    pre-loaded queues, the most consumer processes it ran at once, and where the CPU went."""
    server = EmbeddedServer(folder / f"redis-{queues}-{consumers}").start()
    assert server.process is not None
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS events")
    try:
        for n in range(queues):
            enqueue(server.url, make_events(f"q{n}", events // queues), batch=1000)
        env = os.environ | {
            "REDIS_URL": server.url,
            "DATABASE_URL": pg.dsn,
            "QUEUE_CONSUMERS": str(consumers),
            "MAX_CONSUMERS": str(consumers * queues),
            "AGENT_PORT": "0",
            "LOG_LEVEL": "info",
        }
        log_path = folder / f"agent-{queues}-{consumers}.log"
        cpu_before = _children_cpu_s(), cpu_s(server.process.pid)
        agent = start_agent(env, log_path)
        peak = 0
        try:
            deadline = time.monotonic() + _PERSIST_TIMEOUT_S
            while persisted(pg.dsn) < events:
                assert time.monotonic() < deadline, f"not all persisted: see {log_path}"
                peak = max(peak, len(children(agent.pid)))
                time.sleep(_SAMPLE_S)
            valkey_cpu_s = cpu_s(server.process.pid) - cpu_before[1]
        finally:
            agent.terminate()  # the agent drains its consumers
            agent.wait(timeout=60)
        agent_cpu_s = _children_cpu_s() - cpu_before[0]  # the agent reaped its consumers
        first_s, last_s = _busy_s(log_path, pg.dsn)
        return ConsumerRound(events / last_s, first_s, peak, agent_cpu_s, valkey_cpu_s)
    finally:
        server.kill()


def _busy_s(log_path: Path, dsn: str) -> tuple[float, float]:
    """From the agent's start (its log's ``agent-started``) to the first and to the last row's
    ``persisted_at``."""
    started_ms = next(
        line["time"]
        for line in map(orjson.loads, log_path.read_bytes().splitlines())
        if line["command"] == "agent-started"
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT min(persisted_at), max(persisted_at) FROM events").fetchone()
    assert row is not None
    first_ms, last_ms = (int(value) - int(started_ms) for value in row)
    return first_ms / 1000, max(last_ms, 1) / 1000


def _row(
    queues: int,
    consumers: int,
    measured: list[ConsumerRound],
    one: list[ConsumerRound],
    events: int,
) -> str:
    """One shape's medians (and its rates' range), against ``one``: the 1-consumer shape."""
    rate = statistics.median(run.rate for run in measured)
    rates = sorted(run.rate / 1000 for run in measured)
    spread = f"{rates[0]:.0f}k-{rates[-1]:.0f}k"
    baseline = statistics.median(run.rate for run in one)
    agent_ms = statistics.median(run.agent_cpu_s for run in measured) * 1e6 / events
    valkey_ms = statistics.median(run.valkey_cpu_s for run in measured) * 1e6 / events
    first_s = statistics.median(run.first_row_s for run in measured)
    peak = max(run.peak for run in measured)
    return (
        f"{queues:>6} {consumers:>15} {peak:>9} {rate:>9,.0f} {spread:>13} "
        f"{rate / baseline:>5.2f}x {first_s:>9.2f} {agent_ms:>15.0f} {valkey_ms:>16.0f}"
    )


def consumers_part(events: int, rounds: int) -> None:
    """Every consumer shape ``rounds`` times (shapes interleaved, so that a busier moment of a
    shared machine does not fall on one shape only); the median of each against 1 consumer."""
    load_before = os.getloadavg()
    runs: dict[tuple[int, int], list[ConsumerRound]] = {shape: [] for shape in CONSUMER_SHAPES}
    with private_postgres() as pg, tempfile.TemporaryDirectory() as folder:
        for round_number in range(rounds):
            for shape in CONSUMER_SHAPES:
                result = consumers_round(*shape, events, pg, Path(folder))
                runs[shape].append(result)
                print(f"round {round_number + 1}: {shape} {result}", file=sys.stderr)
    print(
        f"{'queues':>6} {'consumers/queue':>15} {'processes':>9} {'events/s':>9} "
        f"{'min-max':>13} {'vs 1':>6} {'1st row s':>9} {'agent CPU ms/1k':>15} "
        f"{'valkey CPU ms/1k':>16}"
    )
    for queues, consumers in CONSUMER_SHAPES:
        print(_row(queues, consumers, runs[queues, consumers], runs[queues, 1], events))
    load_after = os.getloadavg()
    print(
        f"{events:,} events a shape, median of {rounds} rounds; {os.cpu_count()} cores; load "
        f"average {load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=("ingest", "consumers"), default="ingest")
    parser.add_argument("--seconds", type=float, default=4.0, help="ingest: per shape")
    parser.add_argument("--connections", type=int, default=32, help="ingest")
    parser.add_argument("--events", type=int, default=40_000, help="consumers: per shape")
    parser.add_argument("--rounds", type=int, default=3, help="consumers: rounds of every shape")
    args = parser.parse_args()
    if args.part == "consumers":
        consumers_part(args.events, args.rounds)
        return
    ingest_part(args.seconds, args.connections)


def ingest_part(seconds: float, connections: int) -> None:
    print(
        f"{'redis':<8} {'workers':>7} {'replicas':>8} {'batch':>5} {'req/s':>7} "
        f"{'events/s':>9} {'vs 1st':>6} {'p99 ms':>7}"
    )
    with tempfile.TemporaryDirectory() as folder:
        server = EmbeddedServer(Path(folder) / "redis").start()
        cluster = EmbeddedCluster(Path(folder) / "cluster").start()
        baseline: dict[int, float] = {}
        try:
            for redis, workers, replicas in SHAPES:
                url = server.url if redis == "server" else cluster.url
                with api(url, workers, replicas) as port:
                    for batch in (1, 100):
                        rate, p99 = measure(port, batch, seconds, connections)
                        baseline.setdefault(batch, rate)
                        print(
                            f"{redis:<8} {workers:>7} {replicas:>8} {batch:>5} {rate:>7.0f} "
                            f"{rate * batch:>9.0f} {rate / baseline[batch]:>5.2f}x {p99:>7.1f}",
                            flush=True,
                        )
        finally:
            server.kill()
            cluster.kill()


if __name__ == "__main__":
    main()
