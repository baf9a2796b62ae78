"""serve() in a real subprocess: port discovery, the drain on SIGTERM, exit codes, no leftovers.

Signals go to a child process, never to pytest's own: handlers are installed only over there.
"""

import asyncio
import itertools
import signal
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from tests.loading import ids_in_stream
from tests.waiting import eventually, wait_for

URL = "/v1/events/load"


async def _post_until_closed(
    client: httpx.AsyncClient,
    base: str,
    ids: Iterator[int],
    accepted: list[str],
    statuses: Counter[int],
    signalled: asyncio.Event,
) -> None:
    """POST batches of 5 until the server stops listening (only expected once signalled)."""
    while True:
        batch = [f"ev-{next(ids)}" for _ in range(5)]
        body = [{"event_id": event_id, "payload": {"id": event_id}} for event_id in batch]
        try:
            response = await client.post(base + URL, json=body)
        except httpx.TransportError:
            if signalled.is_set():
                return
            raise
        statuses[response.status_code] += 1
        if response.status_code == 202:
            accepted.extend(response.json()["event_ids"])
        elif response.status_code == 503:
            assert response.headers["retry-after"]
            assert signalled.is_set()


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.parametrize("drain_delay_s", [3.0, 0.0])
async def test_sigterm_mid_load_drains_and_loses_nothing(
    launch: Any, redis_client: redis.Redis, drain_delay_s: float
) -> None:
    """With a delay, readyz turns 503 first; without, SIGTERM lands on enqueues in flight."""
    api = launch(API_DRAIN_DELAY=str(drain_delay_s))
    base = f"http://127.0.0.1:{api.port()}"
    accepted: list[str] = []
    statuses: Counter[int] = Counter()
    signalled = asyncio.Event()
    ids = itertools.count()
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        workers = [
            asyncio.create_task(
                _post_until_closed(client, base, ids, accepted, statuses, signalled)
            )
            for _ in range(12)
        ]

        async def enough_accepted() -> bool:
            return len(accepted) >= 500

        await eventually(enough_accepted, timeout_s=30.0, message="500 events accepted")
        api.signal(signal.SIGTERM)
        signalled.set()

        async def not_ready() -> bool:
            # A client of its own: the load's connection pool may be busy on a slow machine.
            async with httpx.AsyncClient(timeout=2) as probe:
                return (await probe.get(base + "/readyz")).status_code == 503

        if drain_delay_s:
            await eventually(
                not_ready, timeout_s=drain_delay_s, message="readyz 503 while draining"
            )
        await asyncio.wait_for(asyncio.gather(*workers), timeout=20)

    assert api.wait() == 0, api.logs()
    if drain_delay_s:
        assert statuses[503] > 0, statuses  # new POSTs were refused during the drain
    assert set(statuses) <= {202, 503}, statuses
    stored = ids_in_stream(redis_client, "load")
    assert set(accepted) <= set(stored)  # every 202 is in the stream
    assert set(stored) == set(accepted)  # in-flight requests finished: no write without a reply
    assert api.first("api-exited")["reason"] == "drained"
    assert all(line["command"] is not None for line in api.logs())
    api.assert_nothing_left()


@pytest.mark.slow
def test_sigint_drains_and_exits_0(launch: Any) -> None:
    api = launch()
    port = api.port()
    assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    api.signal(signal.SIGINT)
    assert api.wait() == 0, api.logs()
    api.assert_nothing_left()


@pytest.mark.slow
def test_second_signal_forces_the_exit(launch: Any) -> None:
    api = launch(API_DRAIN_DELAY="30")
    api.port()
    api.signal(signal.SIGTERM)
    wait_for(lambda: api.first("api-draining"), message="the drain to start")
    api.signal(signal.SIGTERM)
    assert api.wait(timeout_s=5) == 1
    assert "second signal" in api.first("api-exited")["reason"]
    api.assert_nothing_left()


@pytest.mark.slow
def test_durability_that_cannot_be_honoured_exits_2(launch: Any, redis_client: redis.Redis) -> None:
    redis_client.config_set("appendonly", "no")
    api = launch(DURABILITY="aof")
    assert api.wait() == 2
    error = api.first("api-configuration-error")
    assert error is not None
    assert "DURABILITY=aof" in error["message"]
    api.assert_nothing_left()


@pytest.mark.slow
def test_missing_redis_url_exits_2(launch: Any) -> None:
    api = launch(REDIS_URL="")
    assert api.wait() == 2
    assert "REDIS_URL" in api.first("api-configuration-error")["message"]
