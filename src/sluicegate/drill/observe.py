"""Where a queue's ids are: read from the stream itself, the dead letters and the database.

Read in the order that makes the checker's arithmetic safe while events move (stream -> DB): the
stream first (XRANGE for every entry, XPENDING for the delivered ones), then the dead letters, then
the database. Redis calls are retried through a restart of the server (the redis-restart fault).

The drill is the auditor, so this module reads Redis on its own on purpose (XRANGE, XPENDING on
the key names of ``sluicegate.queue.keys``) rather than through the queue layer's reader: a bug
in how the queue layer reads or acknowledges entries must not also blind the check. It borrows
only the read-only helpers whose answers it reports as they are (``queue.stats.snapshot`` for the
counts, ``worker.lock.lock_holder`` for the lock).
"""

import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar, cast

from redis.exceptions import ResponseError

from sluicegate.drill import database
from sluicegate.drill.checker import Holdings
from sluicegate.errors import DrillError
from sluicegate.queue import keys
from sluicegate.queue.client import TRANSIENT_REDIS_ERRORS, TlsFiles, as_text, sync_client
from sluicegate.queue.stats import QueueSnapshot, snapshot
from sluicegate.worker.lock import lock_holder

T = TypeVar("T")
PAGE = 10_000
_TRANSIENT = TRANSIENT_REDIS_ERRORS
_RETRY_S = 0.05


class Observer:
    def __init__(
        self, redis_url: str, database_url: str, queue: str, redis_timeout_s: float = 30.0
    ) -> None:
        self.client = sync_client(
            redis_url, socket_timeout_s=5.0, tls=TlsFiles.from_environment(redis_url)
        )
        self.database_url = database_url
        self.queue = queue
        self.redis_timeout_s = redis_timeout_s
        self._stream = keys.stream_key(queue)

    def close(self) -> None:
        self.client.close()

    def _redis(self, operation: Callable[[], T]) -> T:
        """Run a Redis read, riding through a restarting server until the timeout."""
        deadline = time.monotonic() + self.redis_timeout_s
        while True:
            try:
                return operation()
            except _TRANSIENT as error:
                if time.monotonic() > deadline:
                    raise DrillError(
                        f"Redis unreachable for {self.redis_timeout_s:.0f} s: {error}"
                    ) from error
                time.sleep(_RETRY_S)

    def counts(self) -> QueueSnapshot:
        return self._redis(lambda: snapshot(self.client, self.queue))

    def lock_holder(self) -> int | None:
        """The pid in the queue's consumer lock, or None when there is none."""

        def read() -> int | None:
            entry = lock_holder(self.client, self.queue)
            return None if entry is None else entry.pid

        return self._redis(read)

    def pending_by_consumer(self) -> dict[str, int]:
        return self._redis(self._pending_by_consumer)

    def _pending_by_consumer(self) -> dict[str, int]:
        try:
            summary = self.client.xpending(self._stream, keys.CONSUMER_GROUP)
        except ResponseError:  # no stream or no group yet
            return {}
        return {as_text(row["name"]): int(row["pending"]) for row in summary.get("consumers") or []}

    def holdings(self) -> Holdings:
        entries = self._redis(lambda: self._scan(self._stream))
        pending = self._redis(self._pending_entry_ids)
        dead = self._redis(lambda: self._scan(keys.dead_letter_key(self.queue)))
        rows = database.event_rows(self.database_url, self.queue)
        in_flight = {event_id for entry_id, event_id in entries.items() if entry_id in pending}
        counted = Counter(rows)
        return Holdings(
            queued=frozenset(set(entries.values()) - in_flight),
            in_flight=frozenset(in_flight),
            dead=frozenset(dead.values()),
            persisted=frozenset(counted),
            duplicated=frozenset(event_id for event_id, n in counted.items() if n > 1),
            rows=len(rows),
        )

    def _scan(self, key: str) -> dict[str, str]:
        """Entry id -> event id for every entry of a stream, page by page."""
        found: dict[str, str] = {}
        start = "-"
        while True:
            page = cast(list[Any], self.client.xrange(key, min=start, max="+", count=PAGE))
            for entry_id, fields in page:
                found[as_text(entry_id)] = as_text(fields[keys.FIELD_EVENT_ID.encode()])
            if len(page) < PAGE:
                return found
            start = "(" + as_text(page[-1][0])

    def _pending_entry_ids(self) -> set[str]:
        found: set[str] = set()
        start = "-"
        while True:
            try:
                page: Any = self.client.xpending_range(
                    self._stream, keys.CONSUMER_GROUP, min=start, max="+", count=PAGE
                )
            except ResponseError:  # no stream or no group yet
                return found
            found.update(as_text(row["message_id"]) for row in page)
            if len(page) < PAGE:
                return found
            start = "(" + as_text(page[-1]["message_id"])

    def wait_until(
        self, condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.05
    ) -> bool:
        """Poll ``condition`` until it holds or ``timeout_s`` passes; True if it held."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(interval_s)
        return True
