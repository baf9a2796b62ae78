"""Requests/s and events/s through the real API process: single events and 100-event batches.

The API runs as ``python -m sluicegate.api`` against a private Valkey (AOF, appendfsync always);
the load comes from this process over keep-alive connections with a minimal HTTP/1.1 client
(httpx would be the bottleneck). Both share this machine's cores: compare rows, not absolutes.

Usage: python -m bench.bench_api [--seconds 5] [--connections 32]
"""

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from sluicegate.embedded.server import EmbeddedServer
from tests.waiting import wait_for

_ids = itertools.count()


def start_api(
    redis_url: str,
    durability: str,
    extra_env: dict[str, str] | None = None,
    timeout_s: float = 10.0,
) -> tuple[subprocess.Popen[bytes], int]:
    env = {
        **os.environ,
        **(extra_env or {}),
        "REDIS_URL": redis_url,
        "PORT": "0",
        "DURABILITY": durability,
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

    found = wait_for(port, timeout_s=timeout_s, message="api-listening")
    assert found is not None
    return process, found


def request(batch: int) -> bytes:
    events = [
        {"event_id": f"b-{next(_ids)}", "payload": {"n": 1, "kind": "bench"}} for _ in range(batch)
    ]
    body = orjson.dumps(events if batch > 1 else events[0])
    head = (
        f"POST /v1/events/bench HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def connection(port: int, batch: int, until: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.perf_counter() < until:
        payload = request(batch)
        started = time.perf_counter()
        writer.write(payload)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        assert head.startswith(b"HTTP/1.1 202"), head
        latencies.append(time.perf_counter() - started)
    writer.close()
    await writer.wait_closed()


async def load(port: int, batch: int, seconds: float, connections: int) -> list[float]:
    latencies: list[float] = []
    until = time.perf_counter() + seconds
    await asyncio.gather(*(connection(port, batch, until, latencies) for _ in range(connections)))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    print(
        f"{'durability':<12} {'batch':>5} {'req/s':>8} {'events/s':>9} {'p50 ms':>7} {'p99 ms':>7}"
    )
    with tempfile.TemporaryDirectory() as folder:
        server = EmbeddedServer(Path(folder) / "redis").start()
        try:
            for durability, batch in itertools.product(("auto", "none"), (1, 100)):
                api, port = start_api(server.url, durability)
                try:
                    asyncio.run(load(port, batch, 0.5, args.connections))  # warm up
                    latencies = sorted(
                        asyncio.run(load(port, batch, args.seconds, args.connections))
                    )
                finally:
                    api.terminate()
                    api.wait(timeout=15)
                    assert api.stderr is not None
                    api.stderr.close()
                rate = len(latencies) / args.seconds
                p50 = latencies[len(latencies) // 2] * 1000
                p99 = latencies[int(len(latencies) * 0.99)] * 1000
                mode = "waitaof" if durability == "auto" else "memory"
                print(
                    f"{mode:<12} {batch:>5} {rate:>8.0f} {rate * batch:>9.0f} {p50:>7.1f} "
                    f"{p99:>7.1f}"
                )
        finally:
            server.kill()


if __name__ == "__main__":
    main()
