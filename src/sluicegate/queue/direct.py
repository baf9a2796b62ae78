"""The API's enqueue round trip on connections of its own: no pipeline, no retry after a send.

Two reasons. redis-py's pipeline costs about as much CPU as the rest of a single-event request
(pool bookkeeping and observability hooks on every checkout, a retry wrapper, command stacks;
``bench/profile_api.py``). And its retry is wrong for this write: a reply lost after the enqueue
script ran would send the script again and append the batch twice. Here a failure after the send
closes the connection and goes to the caller, which answers 503; the producer retries with the
same ids, and the database stores each id once.

Connections are redis-py's own (same URL, TLS and timeouts), kept on a free list and bounded like
the client's pool. One is never shared while an exchange uses it, so ``WAITAOF`` counts exactly the
writes sent before it on that connection. The commands are packed by hiredis in one C call each
(redis-py encodes every argument in Python first: 1.7 µs per event of a batch of 100, against
0.3), and the replies are read under one deadline (``socket_timeout``) instead of one per reply.
"""

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import hiredis
import redis.asyncio
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


class DirectConnections:
    """Commands in one write, replies read in order; the first error reply raised once all are
    read (as a pipeline does), the connection kept: it is clean."""

    def __init__(self, client: "redis.asyncio.Redis") -> None:
        pool = client.connection_pool
        self._connection_class = pool.connection_class
        self._connection_kwargs = pool.connection_kwargs
        self._idle: list[AbstractConnection] = []
        self._slots = asyncio.Semaphore(pool.max_connections)

    async def exchange(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """The replies of ``commands``, sent together on one connection."""
        replies = await self.replies(commands)
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
        return replies

    async def replies(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """As ``exchange``, with error replies returned in their place (``ResponseError``s)."""
        async with self._slots:
            connection = self._idle.pop() if self._idle else self._new()
            try:
                replies = await _exchange(connection, commands)
            except BaseException:  # replies may be unread: never reuse this connection
                await connection.disconnect(nowait=True)
                raise
            self._idle.append(connection)
        return replies

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.disconnect()

    def _new(self) -> AbstractConnection:
        return self._connection_class(**self._connection_kwargs)


async def _exchange(
    connection: AbstractConnection, commands: Sequence[tuple[Any, ...]]
) -> list[Any]:
    if connection.is_connected and await _closed_meanwhile(connection):
        await connection.disconnect()
    await connection.connect()  # type: ignore[no-untyped-call]
    packed = b"".join([hiredis.pack_command(command) for command in commands])
    await connection.send_packed_command(packed, check_health=False)
    try:
        async with asyncio.timeout(connection.socket_timeout):
            return [await _reply(connection) for _ in commands]
    except TimeoutError:
        raise RedisTimeoutError(f"no reply within {connection.socket_timeout} s") from None


async def _reply(connection: AbstractConnection) -> Any:
    """One reply, an error reply as its exception; no deadline of its own (``math.inf``)."""
    try:
        return await connection.read_response(timeout=math.inf)
    except ResponseError as error:  # an error reply; the next reply still follows
        return error


async def _closed_meanwhile(connection: AbstractConnection) -> bool:
    """Whether an idle connection went bad (the server closed it: a restart, a timeout).

    An idle connection has nothing to read, so readable means EOF or junk. redis-py up to 8.1
    answers ``True`` then; 8.2 with hiredis raises ``ConnectionError`` instead. Either way the
    connection is replaced, never reported to the caller as a failed write.
    """
    try:
        return await connection.can_read()
    except (RedisConnectionError, OSError):
        return True
