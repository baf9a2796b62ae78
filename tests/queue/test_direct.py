"""The enqueue's own connections: one round trip, never sent twice, never reused half-read."""

import asyncio

import pytest
import redis
import redis.asyncio
from redis._parsers import _AsyncHiredisParser, _AsyncRESP2Parser
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sluicegate.embedded.server import EmbeddedServer
from sluicegate.queue.client import async_client
from sluicegate.queue.direct import DirectConnections


def _run(url: str, *rounds: list[tuple[object, ...]], timeout_s: float = 5.0) -> list[object]:
    """Each round's replies (or the exception it raised), on one DirectConnections."""

    async def run() -> list[object]:
        client = async_client(url, socket_timeout_s=timeout_s)
        direct = DirectConnections(client)
        outcomes: list[object] = []
        for commands in rounds:
            try:
                outcomes.append(await direct.exchange(commands))
            except Exception as error:
                outcomes.append(error)
        await direct.aclose()
        await client.aclose()
        return outcomes

    return asyncio.run(run())


def test_replies_come_back_in_order(redis_server: EmbeddedServer) -> None:
    [replies] = _run(redis_server.url, [("INCR", "n"), ("INCR", "n"), ("GET", "n")])
    assert replies == [1, 2, b"2"]


def test_a_lost_reply_is_not_sent_again(redis_server: EmbeddedServer, redis_client: redis.Redis):
    """The server ran the INCR, the reply of what follows never came in time: an error for the
    caller (a 503), and the INCR ran once, where a retrying pipeline would run it again."""
    slow = [("INCR", "once"), ("BLPOP", "nothing-ever", 1)]
    timed_out, after = _run(redis_server.url, slow, [("GET", "once")], timeout_s=0.2)
    assert isinstance(timed_out, RedisTimeoutError)
    assert after == [b"1"]  # and the next exchange had a clean connection
    assert redis_client.get("once") == b"1"


def test_an_error_reply_is_raised_and_the_connection_stays_usable(redis_server: EmbeddedServer):
    missing_script = [("EVALSHA", "0" * 40, 0), ("INCR", "after")]
    failed, after = _run(redis_server.url, missing_script, [("GET", "after")])
    assert isinstance(failed, NoScriptError)
    assert after == [b"1"]  # the INCR behind the error ran and its reply was read


@pytest.mark.parametrize(
    "parser_class",
    [_AsyncHiredisParser, _AsyncRESP2Parser],
    ids=["hiredis", "pure-python"],
)
def test_a_connection_the_server_closed_meanwhile_is_replaced(
    redis_server: EmbeddedServer, parser_class: type
):
    """redis-py 8.2 with hiredis raises where 8.0/8.1 answered True: both mean a new connection,
    never a 503 for the first POST after a Redis restart."""

    async def run() -> list[object]:
        client = redis.asyncio.Redis.from_url(redis_server.url, parser_class=parser_class)
        direct = DirectConnections(client)
        first = await direct.exchange([("SET", "k", "v")])
        # In a thread, so that the event loop runs meanwhile and sees the server close the
        # idle connection, as a serving API's loop does.
        await asyncio.to_thread(redis_server.restart)
        second = await direct.exchange([("GET", "k")])
        await direct.aclose()
        await client.aclose()
        return [first, second]

    first, second = asyncio.run(run())
    assert first == [b"OK"]  # raw replies: no response callbacks on this path
    assert second == [b"v"]  # the AOF kept it; no ConnectionError for the stale socket


def test_concurrent_exchanges_never_share_a_connection(redis_server: EmbeddedServer) -> None:
    """Each exchange holds its connection to the end: replies never cross between requests."""

    async def run() -> list[list[object]]:
        client = async_client(redis_server.url)
        direct = DirectConnections(client)
        rounds = [
            direct.exchange([("SET", f"k{n}", n), ("BLPOP", "nothing", 0.05), ("GET", f"k{n}")])
            for n in range(8)
        ]
        replies = await asyncio.gather(*rounds)
        await direct.aclose()
        await client.aclose()
        return replies

    for n, replies in enumerate(asyncio.run(run())):
        assert replies == [b"OK", None, str(n).encode()]
