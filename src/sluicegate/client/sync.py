"""``Client``: the blocking client (httpx.Client underneath); a timer thread does time flushes."""

import threading
import time
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


class Client:
    """Posts events so that none is lost: see ``sluicegate.client`` and docs/client.md.

    Safe to share between threads: the buffer is guarded by a lock, httpx's pool is thread-safe.
    """

    def __init__(
        self,
        base_url: str,
        options: ClientOptions | None = None,
        *,
        observer: Observer | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.options = options or ClientOptions()
        self.base_url = base_url.rstrip("/")
        self.observer = observer
        limits = httpx.Limits(max_connections=self.options.max_connections)
        self._http = httpx.Client(
            timeout=self.options.timeout_s, limits=limits, transport=transport
        )
        self._buffer = Buffer(self.options.batch_size)
        self._lock = threading.Lock()  # the buffer, the timer and the results
        self._timer: threading.Timer | None = None
        self.results = Result()  # of every flush, including the automatic ones

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> Result:
        """Flush what is buffered, then close the connections."""
        result = self.flush()
        self._http.close()
        return result

    def add(self, queue: str, payload: Mapping[str, Any], event_id: str | None = None) -> str:
        """Buffer one event; sent when ``batch_size`` are buffered or ``flush_interval_s`` after
        the first. Returns its id (chosen now, kept on every retry)."""
        event = as_pending(payload, event_id)
        with self._lock:
            full = self._buffer.add(queue, event)
            if not full and self._timer is None:
                self._timer = threading.Timer(self.options.flush_interval_s, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if full:
            self.flush()
        return event.event_id

    def flush(self) -> Result:
        """Send everything buffered now."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            taken = self._buffer.take()
        result = Result()
        for queue, events in taken:
            result.add(self.send(queue, events))
        return result

    def send(
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
            result.add(self._send_batch(queue, batch, should_stop))
        with self._lock:
            self.results.add(result)
        return result

    def _send_batch(
        self, queue: str, batch: list[PendingEvent], should_stop: Callable[[], bool] | None
    ) -> Result:
        attempts = Attempts([event.event_id for event in batch], self.options)
        url = f"{self.base_url}/v1/events/{queue}"
        content, headers = encode(batch), request_headers(self.options.token)
        while should_stop is None or not should_stop():
            if self.observer is not None:
                self.observer.attempt_started(attempts.ids)
            try:
                verdict = judge(self._http.post(url, content=content, headers=headers))
            except httpx.TransportError as error:
                verdict = judge_error(error)
            if self.observer is not None:
                self.observer.attempt_ended(attempts.ids, verdict.outcome, verdict.status)
            wait_s = attempts.next_wait_s(verdict)
            if verdict.outcome is Outcome.ACCEPTED or wait_s is None:
                break
            time.sleep(wait_s)
        return attempts.result()
