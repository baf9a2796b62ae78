"""uvicorn's httptools protocol with the limits it lacks against slow and greedy clients.

uvicorn bounds a connection only between requests (``timeout_keep_alive``) and, with h11, the
size of an incomplete request head (``h11_max_incomplete_event_size``). With httptools (our
parser: faster) a request head has neither a time nor a size limit, so a slow-loris client that
sends a header byte every few seconds, or one that never stops sending header bytes, holds a
connection (and its memory) for as long as it likes; and a client that never reads its
responses parks a response in ``drain()`` forever. This protocol adds:

- ``API_HEADER_TIMEOUT``: from a connection's first byte (or from the connection itself), the
  request line and headers must be complete within it, else ``408`` and the connection closes;
- ``API_MAX_HEADER_BYTES``: a request line plus headers above it get ``431`` and a close (also
  given to uvicorn as ``h11_max_incomplete_event_size``);
- ``API_SEND_TIMEOUT``: a connection whose writes stay paused this long (the client reads
  nothing) is aborted, freeing its buffer and its task.

``limit_concurrency`` (``API_LIMIT_CONCURRENCY``; uvicorn answers 503 above it) bounds how many
connections exist at all. Everything here runs in the event loop: timers and counters only.

Two costs per request are cut here too (issue 21): the head timer is one per connection whose
deadline each request moves (instead of a timer made and cancelled per request), and a response's
head leaves with its body in one ``send()`` (uvicorn writes them apart: a system call per
response more, about 10 % of a single-event request's CPU).
"""

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from sluicegate.logs import get_logger

_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_431_BODY = b"request line and headers too large"
_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
    b"content-length: "
    + str(len(_431_BODY)).encode()
    + b"\r\nconnection: close\r\n\r\n"
    + _431_BODY
)


@dataclass(frozen=True, slots=True)
class ClientLimits:
    header_timeout_s: float
    max_header_bytes: int
    send_timeout_s: float


class HeadTooLargeError(Exception):
    """Raised from a parser callback; httptools turns it into a parser error uvicorn handles."""


class HeadWithBody:
    """A response's view of the transport: the head, written when the response starts, is held
    until the response's first body write (or ``close``) and leaves in the same ``write``.
    Everything else is the transport's own."""

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self._transport = transport
        self._cycle = cycle
        self._head: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif self._cycle.response_started and not self._head_seen:
            self._head, self._head_seen = data, True  # uvicorn writes the head first
            return
        self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:
            self._transport.write(self._head)
            self._head = None
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedProtocol(HttpToolsProtocol):
    limits: ClassVar[ClientLimits]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_bytes = 0
        self._in_head = True
        self._first_head = True
        self._head_deadline_s = 0.0
        self._head_too_large = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._open_cycles: list[RequestResponseCycle] = []  # running and pipelined requests
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """httptools hands a header over only once complete, buffering it meanwhile: count the
        raw bytes of a head still incomplete after this chunk (at most one chunk too many)."""
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._head_too_large = True
                self.send_400_response("")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._in_head = True
        if not self._first_head:  # a connection's first request: timed from the connection
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = self._first_head = False  # the head timer, when it fires, sees it
        super().on_headers_complete()
        self._open_cycles = [c for c in self._open_cycles if not c.response_complete]
        cycle = self.cycle
        if cycle is not None:
            self._open_cycles.append(cycle)
            if cycle.scope["method"] != "HEAD":  # a HEAD response has no body write
                cycle.transport = HeadWithBody(self.transport, cycle)  # type: ignore[assignment]

    def send_400_response(self, msg: str) -> None:
        if not self._head_too_large:
            super().send_400_response(msg)
        elif not self.transport.is_closing():
            self.transport.write(_431)
            self.transport.close()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self.limits.send_timeout_s, self._send_stalled)

    def resume_writing(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        super().resume_writing()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.limits.max_header_bytes:
            self._head_too_large = True
            raise HeadTooLargeError

    def _arm_head_timer(self) -> None:
        """The head must be complete within ``header_timeout_s`` from now: the deadline moves,
        the connection's one timer checks it when it fires."""
        self._head_deadline_s = self.loop.time() + self.limits.header_timeout_s
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(self._head_deadline_s, self._head_check)

    def _head_check(self) -> None:
        self._head_timer = None
        if not self._in_head:  # complete: the next request arms it again
            return
        if self.loop.time() < self._head_deadline_s:  # a later request moved the deadline
            self._head_timer = self.loop.call_at(self._head_deadline_s, self._head_check)
            return
        self._head_late()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_head_timer()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _head_late(self) -> None:
        """The request head did not arrive in time (a slow-loris, or a silent connection)."""
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_408)
        self.transport.close()

    def _send_stalled(self) -> None:
        """The client has not read for ``send_timeout_s``: drop it, buffered bytes and all.

        Its pipelined requests are dropped too, and the response under way is told the client
        left, so nothing more is written to the aborted transport."""
        self._send_timer = None
        self.pipeline.clear()
        for cycle in self._open_cycles:  # the one writing may precede self.cycle (pipelining)
            cycle.disconnected = True
        get_logger().warning("api-client-dropped", reason="send-timeout", client=self.client)
        self.transport.abort()
        self.flow.resume_writing()


def protocol_class(limits: ClientLimits) -> type[GuardedProtocol]:
    """A GuardedProtocol bound to ``limits`` (uvicorn builds protocols from a class)."""
    return type("SluicegateHttpProtocol", (GuardedProtocol,), {"limits": limits})
