"""The client against a real API that is SIGKILLed and restarted under it: every id the client
reports accepted is in the queue; the ids it could not place are reported, never dropped."""

import asyncio
import gc
import signal
from pathlib import Path
from typing import Any

import pytest
import redis

from sluicegate.client import AsyncClient, ClientOptions, Outcome
from sluicegate.embedded.server import free_port
from tests.loading import ids_in_stream
from tests.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.anyio]
PRODUCERS, BATCHES, SIZE = 4, 8, 20


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Statuses:
    def __init__(self) -> None:
        self.ended: list[str] = []

    def attempt_started(self, ids: list[str]) -> None:
        pass

    def attempt_ended(self, ids: list[str], outcome: Outcome, status: str) -> None:
        self.ended.append(status)


# A connection attempt cut short while the API is down can leave anyio's happy-eyeballs coroutine
# unawaited; collect it here, inside this test, rather than in whichever test runs next.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_every_accepted_id_is_stored_across_a_kill(
    launch: Any, redis_client: redis.Redis, tmp_path: Path
) -> None:
    port = str(free_port())
    api = launch(PORT=port)
    api.port()
    statuses = Statuses()
    options = ClientOptions(batch_size=20, deadline_s=30.0, timeout_s=5.0)
    sender = AsyncClient(f"http://127.0.0.1:{port}", options, observer=statuses)
    # The producers hold after a quarter of their batches until the API is dead, so the kill
    # always meets producers still sending (on a quiet machine they used to finish before it).
    api_dead = asyncio.Event()

    async def producer(number: int) -> list[str]:
        accepted = []
        for batch in range(BATCHES):
            if batch == BATCHES // 4:
                await api_dead.wait()
            events = [{"event_id": f"p{number}-{batch}-{i}", "payload": {}} for i in range(SIZE)]
            result = await sender.send("killed", events)
            assert not result.refused
            accepted += result.accepted
        return accepted

    async with sender:
        producers = asyncio.gather(*(producer(n) for n in range(PRODUCERS)))

        async def some_accepted() -> bool:
            return len(sender.results.accepted) >= 100

        async def kill_felt() -> bool:
            return any(status != "202" for status in statuses.ended)

        await eventually(some_accepted, message="100 events accepted")
        api.signal(signal.SIGKILL)
        api.wait()
        api_dead.set()
        await eventually(kill_felt, message="a producer to meet the dead API")
        launch(PORT=port).port()  # the same address again, while the producers retry
        accepted = [event_id for ids in await producers for event_id in ids]

    stored = set(ids_in_stream(redis_client, "killed"))
    assert len(accepted) == PRODUCERS * BATCHES * SIZE  # none given up: the deadline outlived it
    assert set(accepted) <= stored
    gc.collect()
