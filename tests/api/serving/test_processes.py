"""API_WORKERS=2: two processes on one port, one /metrics view, one drain."""

import asyncio
import itertools
import signal
from collections import Counter
from typing import Any

import httpx
import pytest
import redis

from tests.api.serving.test_server import URL, _post_until_closed
from tests.loading import ids_in_stream
from tests.waiting import eventually, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


def _accepted_total(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith('sluicegate_api_events_accepted_total{queue="load"}'):
            return float(line.split()[-1])
    return 0.0


async def test_two_workers_share_the_port_count_together_and_drain_together(
    launch: Any, redis_client: redis.Redis
) -> None:
    api = launch(API_WORKERS="2", API_DRAIN_DELAY="0.5")
    base = f"http://127.0.0.1:{api.port()}"  # the parent's line: listening, workers starting
    wait_for(
        lambda: len([line for line in api.logs() if line["command"] == "api-listening"]) == 3,
        timeout_s=60,
        message="both workers listening",
    )
    for n in range(10):  # a connection each: the kernel spreads them over the workers
        async with httpx.AsyncClient() as client:
            body = {"event_id": f"first-{n}", "payload": {}}
            assert (await client.post(base + URL, json=body)).status_code == 202
    for _ in range(6):  # whichever worker answers, it counts both workers' requests
        async with httpx.AsyncClient() as client:
            assert _accepted_total((await client.get(base + "/metrics")).text) == 10

    accepted: list[str] = []
    statuses: Counter[int] = Counter()
    signalled = asyncio.Event()
    ids = itertools.count()
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=8), timeout=10) as client:
        load = [
            asyncio.create_task(
                _post_until_closed(client, base, ids, accepted, statuses, signalled)
            )
            for _ in range(8)
        ]

        async def enough_accepted() -> bool:
            return len(accepted) >= 200

        await eventually(enough_accepted, message="200 events accepted")
        api.signal(signal.SIGTERM)
        signalled.set()
        await asyncio.wait_for(asyncio.gather(*load), timeout=20)

    assert api.wait() == 0, api.logs()
    stored = set(ids_in_stream(redis_client, "load"))
    assert set(accepted) <= stored  # every 202 of either worker is in the stream
    drained = [line for line in api.logs() if line["command"] == "api-exited"]
    # Once in a CI run (1 of about 8 suites) only one worker's line was there, though the parent
    # exited 0 (so both workers did): the lifecycle lines say which worker and when, next time.
    # An unparsed line (command None) is shown too: in one CI run one was there, and this list
    # raised on it instead of saying what it held.
    lifecycle = [
        line for line in api.logs() if line["command"] is None or line["command"].startswith("api-")
    ]
    assert [line["payload"]["reason"] for line in drained] == ["drained", "drained"], lifecycle
    api.assert_nothing_left()
