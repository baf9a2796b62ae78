"""``AsyncClient``: the asyncio client (httpx.AsyncClient underneath)."""

import asyncio
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from sluicegate.client.policy import (
    Attempts,
    Buffer,
    ClientOptions,
    Observer,
    Outcome,
    PendingEvent,
    Result,
    as_pending,
    encode,
    judge,
    judge_error,
    request_headers,
)


class AsyncClient:
    """Posts events so that none is lost: see ``sluicegate.client`` and docs/client.md."""

    def __init__(
        self,
        base_url: str,
        options: ClientOptions | None = None,
        *,
        observer: Observer | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.options = options or ClientOptions()
        self.base_url = base_url.rstrip("/")
        self.observer = observer
        limits = httpx.Limits(max_connections=self.options.max_connections)
        self._http = httpx.AsyncClient(
            timeout=self.options.timeout_s, limits=limits, transport=transport
        )
        self._buffer = Buffer(self.options.batch_size)
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[Result]] = set()
        self.results = Result()  # of every flush, including the automatic ones

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> Result:
        """Flush what is buffered, then close the connections."""
        result = await self.flush()
        await self._http.aclose()
        return result

    async def add(self, queue: str, payload: Mapping[str, Any], event_id: str | None = None) -> str:
        """Buffer one event; sent when ``batch_size`` are buffered or ``flush_interval_s`` after
        the first. Returns its id (chosen now, kept on every retry)."""
        event = as_pending(payload, event_id)
        if self._buffer.add(queue, event):
            await self.flush()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.options.flush_interval_s, self._flush_later)
        return event.event_id

    async def flush(self) -> Result:
        """Send everything buffered now, and wait for the automatic flushes under way."""
        result = await self._send_buffered()
        for earlier in list(self._flushes):
            result.add(await earlier)
        return result

    async def _send_buffered(self) -> Result:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        result = Result()
        for queue, events in self._buffer.take():
            result.add(await self.send(queue, events))
        return result

    def _flush_later(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self._send_buffered())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def send(
        self,
        queue: str,
        events: Iterable[PendingEvent | Mapping[str, Any]],
        should_stop: Callable[[], bool] | None = None,
    ) -> Result:
        """Post ``events`` now, in batches of ``batch_size``, each retried until accepted,
        refused, or ``deadline_s`` after its first attempt."""
        result = Result()
        pending = [as_pending(event) for event in events]
        for start in range(0, len(pending), self.options.batch_size):
            batch = pending[start : start + self.options.batch_size]
            result.add(await self._send_batch(queue, batch, should_stop))
        self.results.add(result)
        return result

    async def _send_batch(
        self, queue: str, batch: list[PendingEvent], should_stop: Callable[[], bool] | None
    ) -> Result:
        attempts = Attempts([event.event_id for event in batch], self.options)
        url = f"{self.base_url}/v1/events/{queue}"
        content, headers = encode(batch), request_headers(self.options.token)
        while should_stop is None or not should_stop():
            if self.observer is not None:
                self.observer.attempt_started(attempts.ids)
            try:
                verdict = judge(await self._http.post(url, content=content, headers=headers))
            except httpx.TransportError as error:
                verdict = judge_error(error)
            if self.observer is not None:
                self.observer.attempt_ended(attempts.ids, verdict.outcome, verdict.status)
            wait_s = attempts.next_wait_s(verdict)
            if verdict.outcome is Outcome.ACCEPTED or wait_s is None:
                break
            await asyncio.sleep(wait_s)
        return attempts.result()
