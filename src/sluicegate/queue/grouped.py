"""Concurrent enqueues sent as one group: one write, one ``WAITAOF`` for all, one read.

Requests that reach the enqueue in the same turn of the event loop (eight connections under load
often do) each hand their command here; at the end of that turn the group goes out on one of the
writer's own connections (``direct.py``) followed by the closing command (``WAITAOF``), and each
caller gets its own reply together with the closing one. ``WAITAOF`` counts every write sent
before it on its connection, so each caller's 202 still waits for its own events to be durable;
what the group shares is the system calls, the round trip, and Valkey's handling of one
``WAITAOF`` instead of one per request.

A failure of the exchange (a lost connection, a timeout) is every member's error: none of them
learns whether its command ran, each answers 503, and each producer retries with its own ids, as
it would alone. An error reply is only its own command's. Groups run concurrently, each on a
connection of its own, so a group never waits behind another's round trip.
"""

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.exceptions import ResponseError

from sluicegate.queue.direct import DirectConnections

Command = tuple[Any, ...]
# Bounds one write (a group of requests each up to MAX_BODY_BYTES); more waiting start another.
MAX_GROUP = 64


class GroupedWrites:
    def __init__(self, connections: DirectConnections, closing: Command | None) -> None:
        self._connections = connections
        self._closing = closing
        self._waiting: list[tuple[Command, asyncio.Future[tuple[Any, Any]]]] = []
        self._exchanges: set[asyncio.Task[None]] = set()

    async def send(self, command: Command) -> tuple[Any, Any]:
        """``command``'s reply and the closing command's (None without one), once both are in;
        an error reply of either is raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, Any]] = loop.create_future()
        self._waiting.append((command, future))
        if len(self._waiting) == 1:
            loop.call_soon(self._start)  # after the callers ready in this turn have joined
        elif len(self._waiting) >= MAX_GROUP:
            self._start()
        reply, closing = await future
        for value in (reply, closing):
            if isinstance(value, ResponseError):
                raise value
        return reply, closing

    async def aclose(self) -> None:
        """Wait for the groups under way (a drained server has none), then close."""
        if self._exchanges:
            await asyncio.wait(self._exchanges)
        await self._connections.aclose()

    def _start(self) -> None:
        group, self._waiting = self._waiting, []
        if group:
            task = asyncio.get_running_loop().create_task(self._exchange(group))
            self._exchanges.add(task)
            task.add_done_callback(self._exchanges.discard)

    async def _exchange(self, group: Sequence[tuple[Command, asyncio.Future[Any]]]) -> None:
        commands = [command for command, _ in group]
        if self._closing is not None:
            commands.append(self._closing)
        try:
            replies = await self._connections.replies(commands)
        except Exception as error:  # nobody knows what ran: each member answers for itself
            for _, future in group:
                if not future.done():
                    future.set_exception(error)
            return
        except BaseException:  # cancelled: the callers must not wait forever
            for _, future in group:
                future.cancel()
            raise
        closing = replies[-1] if self._closing is not None else None
        for (_, future), reply in zip(group, replies, strict=False):
            if not future.done():  # its caller may have been cancelled meanwhile
                future.set_result((reply, closing))
