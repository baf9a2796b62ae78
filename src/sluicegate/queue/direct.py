"""The API's enqueue round trip on connections of its own: no pipeline, no retry after a send.

Two reasons. redis-py's pipeline costs about as much CPU as the rest of a single-event request
(pool bookkeeping and observability hooks on every checkout, a retry wrapper, command stacks;
``bench/profile_api.py``). And its retry is wrong for this write: a reply lost after the enqueue
script ran would send the script again and append the batch twice. Here a failure after the send
closes the connection and goes to the caller, which answers 503; the producer retries with the
same ids, and the database stores each id once.

Connections are redis-py's own (same URL, TLS, handshake and timeouts), kept on a free list and
bounded like the client's pool. One is never shared while an exchange uses it, so ``WAITAOF`` counts
exactly the writes sent before it on that connection. The exchange itself is done here, on the
connection's streams: redis-py's ``send_packed_command`` runs the write in a task of its own
(``asyncio.wait_for``) and ``read_response`` arms a timer per reply; with its argument encoding
that was about 200 µs of CPU per single-event request. Here the commands are packed by hiredis
(one C call each), written at once, and the replies parsed by hiredis as they arrive, all under one
deadline (``socket_timeout``).
"""

import asyncio
from collections.abc import Sequence
from typing import Any

import hiredis
import redis.asyncio
from redis._parsers.base import BaseParser
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

_READ_BYTES = 65536


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
    """Connected (or connected again) by redis-py: its handshake (AUTH, TLS, Sentinel's choice of
    the primary); then one write and the replies read on its streams under one deadline."""
    if connection.is_connected and await _closed_meanwhile(connection):
        await connection.disconnect()
    await connection.connect()  # type: ignore[no-untyped-call]
    reader, writer = connection._reader, connection._writer  # redis-py 8.0-8.2 keep them here
    if reader is None or writer is None:
        raise RedisConnectionError("the connection closed as it opened")
    try:
        async with asyncio.timeout(connection.socket_timeout):
            writer.write(b"".join([hiredis.pack_command(command) for command in commands]))
            await writer.drain()
            return await _replies(reader, len(commands))
    except TimeoutError:
        raise RedisTimeoutError(f"no reply within {connection.socket_timeout} s") from None


async def _replies(stream: asyncio.StreamReader, count: int) -> list[Any]:
    """``count`` replies, an error reply as its exception (redis-py's classes: NoScriptError,
    OutOfMemoryError...), fed to hiredis as they arrive (often all in one read)."""
    parser = hiredis.Reader(protocolError=InvalidResponse, replyError=BaseParser.parse_error)
    replies: list[Any] = []
    while len(replies) < count:
        reply = parser.gets()
        if reply is not False:
            replies.append(reply)
            continue
        data = await stream.read(_READ_BYTES)
        if not data:
            raise RedisConnectionError("the server closed the connection")
        parser.feed(data)
    if parser.has_data():  # more than was asked: never reuse such a connection
        raise InvalidResponse("unexpected data after the replies")
    return replies


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
