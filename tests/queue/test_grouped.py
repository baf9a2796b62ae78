"""Concurrent enqueues as one group: each caller its own reply, one closing WAITAOF for all."""

import asyncio
from typing import Any

import redis
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sluicegate.embedded.server import EmbeddedServer
from sluicegate.queue.client import async_client
from sluicegate.queue.direct import DirectConnections
from sluicegate.queue.grouped import GroupedWrites

_WAITAOF = ("WAITAOF", 1, 0, 1000)


def _send_together(url: str, commands: list[tuple[Any, ...]], timeout_s: float = 5.0) -> list[Any]:
    """Every command sent at once from its own task; each outcome (a reply pair or an error)."""

    async def run() -> list[Any]:
        client = async_client(url, socket_timeout_s=timeout_s)
        grouped = GroupedWrites(DirectConnections(client), _WAITAOF)
        sends = [grouped.send(command) for command in commands]
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        await grouped.aclose()
        await client.aclose()
        return outcomes

    return asyncio.run(run())


def _waitaof_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats").get("cmdstat_waitaof", {"calls": 0})
    return int(stats["calls"])


def test_concurrent_sends_share_one_write_and_one_waitaof(
    redis_server: EmbeddedServer, redis_client: redis.Redis
) -> None:
    """Eight callers, one WAITAOF; an error reply is only its own caller's."""
    before = _waitaof_calls(redis_client)
    commands: list[tuple[Any, ...]] = [("INCR", "n")] * 4
    commands += [("EVALSHA", "0" * 40, 0)] + [("INCR", "n")] * 3
    outcomes = _send_together(redis_server.url, commands)
    assert isinstance(outcomes[4], NoScriptError)
    replies = [outcome for n, outcome in enumerate(outcomes) if n != 4]
    assert sorted(reply for reply, _ in replies) == list(range(1, 8))
    assert all(waitaof == [1, 0] for _, waitaof in replies)  # fsynced locally, after all 7
    assert _waitaof_calls(redis_client) - before == 1


def test_a_failed_exchange_fails_every_member_and_sends_nothing_twice(
    redis_server: EmbeddedServer, redis_client: redis.Redis
) -> None:
    """A member's reply came too late: nobody learns what ran, so everyone gets the error (a 503
    each), and nothing is sent again: the INCR before the BLPOP ran once, the one behind it was
    dropped with the connection."""
    commands = [("INCR", "once"), ("BLPOP", "nothing-ever", 5), ("INCR", "once")]
    outcomes = _send_together(redis_server.url, commands, timeout_s=0.2)
    assert all(isinstance(outcome, RedisTimeoutError) for outcome in outcomes)
    assert redis_client.get("once") == b"1"
