"""What DURABILITY_REPLICAS buys: 202s lost when a primary dies while its replica lags.

On a local 3 + 3 Valkey cluster, for DURABILITY_REPLICAS=0 and 1: load one queue through the API
with no consumer (the events stay in Redis, as in a backlog), pause the queue primary's replica
(SIGSTOP, so it is behind), SIGKILL the primary, let the replica take over, start the old primary
again (it rejoins as a replica), and count the events that were answered 202 but are no longer in
the queue's stream.

Usage: python -m bench.bench_replica_loss [--lag 0.3] [--rounds 3]
"""

import argparse
import asyncio
import signal
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import cast

import httpx

from bench.bench_scaling import api
from sluicegate.embedded.cluster import EmbeddedCluster
from sluicegate.queue import keys
from sluicegate.queue.client import sync_client
from sluicegate.queue.entry_format import entry_event_ids


async def post_until(base: str, queue: str, stop: threading.Event, accepted: set[str]) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        while not stop.is_set():
            ids = [uuid.uuid4().hex for _ in range(10)]
            body = [{"event_id": event_id, "payload": {}} for event_id in ids]
            try:
                response = await client.post(f"{base}/v1/events/{queue}", json=body)
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
                continue
            if response.status_code == 202:
                accepted.update(ids)
            else:
                await asyncio.sleep(0.05)


def load(base: str, queue: str, stop: threading.Event, accepted: set[str]) -> None:
    async def run() -> None:
        await asyncio.gather(*(post_until(base, queue, stop, accepted) for _ in range(8)))

    asyncio.run(run())


def kill_lagging_primary(cluster: EmbeddedCluster, queue: str, lag_s: float) -> None:
    primary = cluster.primary_of_key(keys.stream_key(queue))
    replicas = [node.process for node in cluster.replicas_of(primary) if node.process]
    for process in replicas:
        process.send_signal(signal.SIGSTOP)
    time.sleep(lag_s)  # writes go on, acknowledged by the primary alone (or waiting, with N=1)
    primary.kill()
    for process in replicas:
        process.send_signal(signal.SIGCONT)
    cluster.wait_healthy()
    primary.start()
    cluster.wait_healthy()


def one_round(cluster: EmbeddedCluster, replicas: int, lag_s: float) -> tuple[int, int]:
    queue = f"loss-{uuid.uuid4().hex[:8]}"
    accepted: set[str] = set()
    stop = threading.Event()
    with api(cluster.url, 1, replicas) as port:
        loader = threading.Thread(
            target=load, args=(f"http://127.0.0.1:{port}", queue, stop, accepted)
        )
        loader.start()
        time.sleep(2.0)
        kill_lagging_primary(cluster, queue, lag_s)
        time.sleep(1.0)
        stop.set()
        loader.join()
    client = sync_client(cluster.url)
    try:
        # redis types a reply as bytes or str, for either decode_responses; this client's is bytes
        entries = cast(
            "list[tuple[bytes, dict[bytes, bytes]]]", client.xrange(keys.stream_key(queue))
        )
        stored = {event_id for _, fields in entries for event_id in entry_event_ids(fields)}
    finally:
        client.close()
    return len(accepted), len(accepted - stored)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lag", type=float, default=0.3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'DURABILITY_REPLICAS':<20} {'round':>5} {'202s':>7} {'lost':>6}")
    with tempfile.TemporaryDirectory() as folder:
        cluster = EmbeddedCluster(Path(folder) / "cluster").start()
        try:
            for round_ in range(1, args.rounds + 1):
                for replicas in (0, 1):
                    accepted, lost = one_round(cluster, replicas, args.lag)
                    print(f"{replicas:<20} {round_:>5} {accepted:>7} {lost:>6}", flush=True)
        finally:
            cluster.kill()


if __name__ == "__main__":
    main()
