"""A response's head leaves with its body, in one write (in process: a transport that records)."""

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from sluicegate.api.serving.guard import HeadWithBody


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def _transport() -> tuple[HeadWithBody, Recorder, Any]:
    recorder = Recorder()
    cycle = SimpleNamespace(response_started=False)
    transport = HeadWithBody(cast(asyncio.Transport, recorder), cast(RequestResponseCycle, cycle))
    return transport, recorder, cycle


def test_the_head_waits_for_the_body_and_leaves_with_it() -> None:
    transport, recorder, cycle = _transport()
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the response starts: at once
    cycle.response_started = True
    transport.write(b"HTTP/1.1 202 Accepted\r\n\r\n")
    assert recorder.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    transport.write(b"{}")
    transport.write(b"more")  # a later chunk goes as it comes
    assert recorder.writes[1:] == [b"HTTP/1.1 202 Accepted\r\n\r\n{}", b"more"]
    assert transport.is_closing() is False  # the rest is the transport's own


def test_a_head_without_a_body_goes_out_before_the_close() -> None:
    transport, recorder, cycle = _transport()
    cycle.response_started = True
    transport.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
    transport.close()  # uvicorn's answer to an app that died after starting its response
    assert recorder.writes == [b"HTTP/1.1 500 Internal Server Error\r\n\r\n"]
    assert recorder.closed
