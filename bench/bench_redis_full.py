"""Issue 16's experiments, and what an event costs in Redis's memory.

--part bytes: Redis memory per accepted event for 200 B and 2 KB payloads (``used_memory`` before
  and after N events appended by the API's own writer, batches of 100, one queue), and how long a
  database outage a maxmemory rides out at a given ingest rate.
--part refuse [--cluster]: a Valkey (a cluster's last primary) with ``maxmemory-policy
  allkeys-lru``: the API and the agent must exit 2 with the line that names the fix.
--part fill [--cluster]: Valkey (or every primary of a 3 + 3 cluster) with ``maxmemory 30mb``,
  ``noeviction``; the API on and no agent (the database side is down), posts of 100 events of
  200 B over 6 queues until 200 answers in a row are 503; then the agent (SQLite); waits until
  every accepted event is stored and reports the answers, lost, duplicated, maxmemory before and
  after, and how long the drain took.

Usage: python -m bench.bench_redis_full --part bytes|refuse|fill [--cluster] [--events N]
"""

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import orjson
import redis

from sluicegate.embedded.cluster import EmbeddedCluster
from sluicegate.embedded.server import EmbeddedServer
from sluicegate.events import Event, new_event_id, now_ms
from sluicegate.queue.client import async_client
from sluicegate.queue.writer import DurabilityMode, QueueWriter
from tests.api.processes import ApiProcess
from tests.processes import CommandProcess
from tests.waiting import wait_for

MAXMEMORY = 30 * 1024 * 1024
QUEUES = [f"fill-{n}" for n in range(6)]
RATES = (100, 1000, 10000)  # events/s


def used(client: "redis.Redis") -> int:
    return int(client.info("memory")["used_memory"])


def bytes_per_event(payload_bytes: int, events: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        server = EmbeddedServer(Path(folder) / "redis").start()
        client = redis.Redis.from_url(server.url)
        try:
            before = used(client)
            pad = "x" * (payload_bytes - len('{"pad":""}'))
            payload = orjson.dumps({"pad": pad}).decode()
            asyncio.run(_append(server.url, payload, events))
            return (used(client) - before) / events
        finally:
            client.close()
            server.kill()


async def _append(url: str, payload: str, events: int) -> None:
    client = async_client(url)
    writer = QueueWriter(client, DurabilityMode.WAITAOF, 10**9, durability_timeout_s=5)
    try:
        for _ in range(events // 100):
            batch = [Event("q", new_event_id(), payload, now_ms()) for _ in range(100)]
            assert (await writer.enqueue("q", batch)).accepted
    finally:
        await writer.aclose()
        await client.aclose()


def bytes_part(events: int) -> None:
    print(f"{'payload':>8} {'bytes/event':>12} {'events in 1 GiB x 0.8':>22}")
    costs = {}
    for size in (200, 2048):
        costs[size] = bytes_per_event(size, events)
        print(f"{size:>8} {costs[size]:>12.0f} {0.8 * 2**30 / costs[size]:>22,.0f}")
    print("\nhow long a database outage a maxmemory rides out, to the 0.8 high-water mark:")
    print(f"{'maxmemory':>10} {'payload':>8} " + " ".join(f"{r:>12,}/s" for r in RATES))
    for gib in (1, 4, 16):
        for size, cost in costs.items():
            rides = [0.8 * gib * 2**30 / cost / rate for rate in RATES]
            print(f"{gib:>7} GiB {size:>8} " + " ".join(f"{_span(s):>14}" for s in rides))


def _span(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def refuse_part(folder: Path, cluster: bool) -> None:
    """``allkeys-lru`` on one server (on a cluster: on its last primary only, since every
    primary is checked)."""
    servers, url = _start(folder, cluster)
    try:
        redis.Redis.from_url(servers[-1].url).config_set("maxmemory-policy", "allkeys-lru")
        env = _env(url, folder, cluster)
        for command in ("api", "agent"):
            module = "sluicegate.api" if command == "api" else "sluicegate"
            args = "" if command == "api" else "agent"
            process = CommandProcess(args, env, folder / f"{command}.log", module=module)
            code = process.wait(timeout_s=30)
            last = (folder / f"{command}.log").read_text().strip().splitlines()[-1]
            print(f"{command}: exit {code}: {last[:400]}")
            process.close()
    finally:
        for server in servers:
            server.kill()


def _env(url: str, folder: Path, cluster: bool) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": url,
        "REDIS_CLUSTER": "yes" if cluster else "no",
        "SQLITE_FILEPATH": str(folder / "events.db"),
        "PORT": "0",
        "AGENT_PORT": "0",
        "LOG_LEVEL": "warning",
        "QUEUE_POLL_FREQ": "0.2",
    }


def fill_part(folder: Path, cluster: bool) -> None:
    servers, url = _start(folder, cluster)
    try:
        for server in servers:
            redis.Redis.from_url(server.url).config_set("maxmemory", MAXMEMORY)
        env = _env(url, folder, cluster) | {"LOG_LEVEL": "info"}
        api = ApiProcess(env, folder / "api.log")
        base = f"http://127.0.0.1:{api.port()}"
        started = time.monotonic()
        accepted, answers, retry_after = asyncio.run(_fill(base))
        fill_s = time.monotonic() - started
        print(f"filled in {fill_s:.1f} s: {len(accepted):,} accepted; answers {dict(answers)}")
        print(f"Retry-After on the 503s: {sorted(retry_after)}")
        print("memory when full: " + "; ".join(_memory(server) for server in servers))
        agent = CommandProcess("agent", env, folder / "agent.log")
        started = time.monotonic()
        stored = wait_for(
            lambda: _stored(folder) if len(_stored(folder)) >= len(accepted) else None,
            timeout_s=600,
            interval_s=0.5,
            message="every accepted event stored",
        )
        assert stored is not None  # wait_for returns only a truthy value
        drain_s = time.monotonic() - started
        rows = _rows(folder)
        print(f"drained in {drain_s:.1f} s: stored {len(stored):,}")
        print(f"lost {len(accepted - stored):,}, duplicated {rows - len(stored):,}")
        print("memory after: " + "; ".join(_memory(server) for server in servers))
        agent.close()
        api.close()
    finally:
        for server in servers:
            server.kill()


def _start(folder: Path, cluster: bool) -> tuple[list[EmbeddedServer], str]:
    if cluster:
        nodes = EmbeddedCluster(folder / "cluster").start()
        return list(nodes.running_primaries()), nodes.url
    server = EmbeddedServer(folder / "redis").start()
    return [server], server.url


async def _fill(base: str) -> tuple[set[str], Counter[str], set[str]]:
    accepted: set[str] = set()
    answers: Counter[str] = Counter()
    retry_after: set[str] = set()
    refused_in_a_row, turn = 0, 0
    pad = "x" * 180
    async with httpx.AsyncClient(timeout=10) as client:
        while refused_in_a_row < 200:
            ids = [str(uuid.uuid4()) for _ in range(100)]
            body = [{"event_id": i, "payload": {"pad": pad}} for i in ids]
            response = await client.post(f"{base}/v1/events/{QUEUES[turn % 6]}", json=body)
            turn += 1
            kind = response.json().get("type", "").rsplit(":", 1)[-1]
            answers[f"{response.status_code} {kind}".strip()] += 1
            if response.status_code == 202:
                accepted.update(ids)
                refused_in_a_row = 0
            else:
                refused_in_a_row += 1
                retry_after.add(response.headers.get("retry-after", "none"))
    return accepted, answers, retry_after


def _memory(server: EmbeddedServer) -> str:
    info = redis.Redis.from_url(server.url).info("memory")
    return f":{server.port} used {info['used_memory']:,} of maxmemory {info['maxmemory']:,}"


def _stored(folder: Path) -> set[str]:
    try:
        with sqlite3.connect(folder / "events.db") as db:
            return {row[0] for row in db.execute("select event_id from events")}
    except sqlite3.OperationalError:  # the agent has not made the table yet
        return set()


def _rows(folder: Path) -> int:
    with sqlite3.connect(folder / "events.db") as db:
        return int(db.execute("select count(*) from events").fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("bytes", "refuse", "fill"), required=True)
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--events", type=int, default=50_000)
    options = parser.parse_args()
    if options.part == "bytes":
        bytes_part(options.events)
        return
    with tempfile.TemporaryDirectory() as folder:
        if options.part == "refuse":
            refuse_part(Path(folder), options.cluster)
        else:
            fill_part(Path(folder), options.cluster)


if __name__ == "__main__":
    main()
