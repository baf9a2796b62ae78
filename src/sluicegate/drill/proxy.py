"""A TCP proxy the drill controls, for network faults between the consumers and Redis.

The drill's local system points the agent (and so every consumer it forks) at this proxy instead
of Redis; the API and the drill's own observer talk to Redis directly. Three faults:

- **latency**: every chunk is held ``latency_s`` before it is passed on, in both directions (a
  delay line: order and throughput are kept, only the time changes);
- **reset**: every open connection is closed with a TCP RST (``SO_LINGER`` 0), as a middlebox or
  a restarted host does; new connections work;
- **black hole**: nothing moves in either direction and new connections are accepted but not
  connected upstream, until it ends; then the held bytes flow again. Like packets dropped by a
  firewall while TCP retransmits: a client sees a stall, or its own socket timeout.

The proxy runs an asyncio loop on a thread of its own; the drill controls it from its thread.
Why not an existing tool: Toxiproxy's server is a Go binary that neither Debian nor PyPI nor npm
ships (they carry only its clients), and tc/netem needs CAP_NET_ADMIN.
"""

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

_CHUNK = 65_536
_START_TIMEOUT_S = 5.0
_CONTROL_TIMEOUT_S = 5.0


@dataclass(eq=False)  # hashed by identity: a set of open links
class _Link:
    """One client connection and its upstream connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list["asyncio.Task[None]"] = field(default_factory=list)


class Proxy:
    """Listens on 127.0.0.1:``port`` and forwards to ``upstream_host``:``upstream_port``."""

    def __init__(self, upstream_host: str, upstream_port: int, port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = port  # 0: any free port, known once started
        self.latency_s = 0.0
        self.resets = 0  # connections reset so far
        self._loop: asyncio.AbstractEventLoop | None = None  # made by start(), closed by stop()
        self._thread: threading.Thread | None = None
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()

    # Control, from the drill's thread ----------------------------------------------------------

    def start(self) -> "Proxy":
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="drill-proxy")
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        """Close every connection and the listener; stop the loop's thread."""
        if self._loop is None or self._thread is None or not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_CONTROL_TIMEOUT_S)
        self._loop.close()

    def set_latency(self, seconds: float) -> None:
        self.latency_s = seconds  # read by the forwarding tasks for every chunk

    def reset(self) -> int:
        """Reset every open connection; returns how many."""
        return self._call(self._reset())

    def blackhole(self, on: bool) -> None:
        self._call(self._set_flowing(not on))

    def clear(self) -> None:
        """Back to a transparent proxy."""
        self.set_latency(0.0)
        self.blackhole(False)

    @property
    def connections(self) -> int:
        return len(self._links)

    def _call(self, coroutine: Coroutine[Any, Any, int]) -> int:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("the proxy is not started")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(_CONTROL_TIMEOUT_S)

    # The loop's side ----------------------------------------------------------------------------

    async def _listen(self) -> int:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def _set_flowing(self, flowing: bool) -> int:
        assert self._flowing is not None
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()
        return 0

    async def _reset(self) -> int:
        links = list(self._links)
        for link in links:
            _abort(link.client)
            if link.upstream is not None:
                link.upstream.close()
            for task in link.tasks:
                task.cancel()
        self._links.difference_update(links)
        self.resets += len(links)
        return len(links)

    async def _close(self) -> int:
        closed = await self._reset()
        if self._server is not None:
            self._server.close()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        return closed

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        link = _Link(writer)
        self._links.add(link)
        try:
            await self._flowing.wait()  # a black hole: the connection is accepted, nothing more
            up_reader, link.upstream = await asyncio.open_connection(*self.upstream)
        except OSError:
            _abort(writer)  # upstream away (Redis restarting): the client sees a reset
            self._links.discard(link)
            return
        link.tasks = [
            asyncio.ensure_future(self._pipe(reader, link.upstream)),
            asyncio.ensure_future(self._pipe(up_reader, writer)),
        ]
        try:
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # Our own ``_close`` cancels every task: end here, or asyncio's stream callback
            # prints the cancellation as an error at every proxy's shutdown.
            pass
        for task in link.tasks:
            task.cancel()
        writer.close()
        link.upstream.close()
        self._links.discard(link)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One direction through a delay line: each chunk leaves ``latency_s`` after it came."""
        line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.ensure_future(self._send(line, writer))
        try:
            while data := await reader.read(_CHUNK):
                line.put_nowait((time.monotonic() + self.latency_s, data))
            line.put_nowait((time.monotonic() + self.latency_s, b""))
            await sender
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            sender.cancel()

    async def _send(
        self, line: "asyncio.Queue[tuple[float, bytes]]", writer: asyncio.StreamWriter
    ) -> None:
        assert self._flowing is not None
        while True:
            due, data = await line.get()
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await self._flowing.wait()
            if not data:
                return
            writer.write(data)
            await writer.drain()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a RST rather than a FIN: SO_LINGER on, timeout 0."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Proxies:
    """The proxies one fault acts on together: Redis's and, on PostgreSQL, the database's."""

    def __init__(self, proxies: list[Proxy]) -> None:
        self.proxies = proxies

    def start(self) -> None:
        for proxy in self.proxies:
            proxy.start()

    def stop(self) -> None:
        for proxy in self.proxies:
            proxy.stop()

    def set_latency(self, seconds: float) -> None:
        for proxy in self.proxies:
            proxy.set_latency(seconds)

    def reset(self) -> int:
        return sum(proxy.reset() for proxy in self.proxies)

    def blackhole(self, on: bool) -> None:
        for proxy in self.proxies:
            proxy.blackhole(on)

    def clear(self) -> None:
        for proxy in self.proxies:
            proxy.clear()
