"""Ingest scaling: the same load against each shape, in one run, next to the 1-process shape.

Shapes: one Valkey server or a local 3 + 3 Valkey cluster, each with 1 and 2 API workers
(API_WORKERS), single events and 100-event batches, WAITAOF durability (DURABILITY_REPLICAS=0; on
the cluster also 1). The load comes from this process (bench_api's minimal HTTP/1.1 client) on
the same cores: on a 2-core machine the API, Valkey and the load share them, so read the shape
of the curve, not absolutes.

Usage: python -m bench.bench_scaling [--seconds 4] [--connections 32]
"""

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from bench.bench_api import load
from sluicegate.embedded import EmbeddedServer
from sluicegate.embedded_cluster import EmbeddedCluster
from tests.waiting import wait_for

SHAPES = (  # (redis, API workers, DURABILITY_REPLICAS)
    ("server", 1, 0),
    ("server", 2, 0),
    ("cluster", 1, 0),
    ("cluster", 2, 0),
    ("cluster", 2, 1),
)


@contextmanager
def api(redis_url: str, workers: int, replicas: int) -> Iterator[int]:
    env = os.environ | {
        "REDIS_URL": redis_url,
        "PORT": "0",
        "DURABILITY": "aof",
        "DURABILITY_REPLICAS": str(replicas),
        "API_WORKERS": str(workers),
        "LOG_LEVEL": "info",
        "QUEUE_MAX_DEPTH": str(10**9),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "sluicegate.api"],
        env=env,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stderr is not None
    stderr = process.stderr

    def port() -> int | None:
        line = orjson.loads(stderr.readline())
        return int(line["payload"]["port"]) if line["command"] == "api-listening" else None

    try:
        found = wait_for(port, timeout_s=60, message="api-listening")
        assert found is not None
        yield found
    finally:
        process.terminate()
        process.wait(timeout=30)
        stderr.close()


def measure(port: int, batch: int, seconds: float, connections: int) -> tuple[float, float]:
    """Requests/s and the p99 in ms, after a warm-up that also waits for every worker."""
    asyncio.run(load(port, batch, 1.0, connections))
    latencies = sorted(asyncio.run(load(port, batch, seconds, connections)))
    return len(latencies) / seconds, latencies[int(len(latencies) * 0.99)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
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
                        rate, p99 = measure(port, batch, args.seconds, args.connections)
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
