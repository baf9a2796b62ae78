"""The asyncio client: the same rules as the blocking one (its tests cover them in depth)."""

import asyncio

import httpx
import pytest

from sluicegate.client import AsyncClient, ClientOptions
from tests.client.test_sync import FAST, Server

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client(server: Server, options: ClientOptions = FAST) -> AsyncClient:
    return AsyncClient("http://api", options, transport=httpx.MockTransport(server))


async def test_retries_keep_the_ids() -> None:
    server = Server(503, httpx.ConnectError)
    async with client(server) as sender:
        result = await sender.send("q", [{"payload": {}}])
    assert server.ids(0) == server.ids(1) == server.ids(2) == result.accepted


async def test_add_batches_by_size_then_by_time() -> None:
    server = Server()
    sender = client(server)
    ids = [await sender.add("q", {"n": n}) for n in range(3)]
    assert len(server.requests) == 1

    for _ in range(100):  # the time flush runs on this loop
        if len(server.requests) == 2:
            break
        await asyncio.sleep(0.02)
    assert server.ids(1) == ids[2:]
    await sender.close()
    assert sender.results.accepted == ids
