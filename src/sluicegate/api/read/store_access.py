"""The API's one database connection, for the read and delete routes of ``api/read/events.py``.

The ingest path never touches the database. These routes do, rarely: the repository (SQLite or
PostgreSQL, synchronous) is opened on the first such request and each call runs in a worker
thread, one at a time (a lock: one connection, one statement at a time). A database that is
away is a 503, as Redis away is.
"""

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

from sluicegate.api.problems import unavailable
from sluicegate.errors import TransientStoreError
from sluicegate.repository import EventStore, open_configured
from sluicegate.settings import Settings

T = TypeVar("T")


class StoreAccess:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._store: EventStore | None = None
        self._lock = threading.Lock()

    async def call(self, work: Callable[[EventStore], T]) -> T:
        """``work(store)`` in a thread; ProblemError 503 when the database is away."""
        try:
            return await asyncio.to_thread(self._locked, work)
        except TransientStoreError as error:
            raise unavailable(f"the database is unreachable ({error})") from None

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _locked(self, work: Callable[[EventStore], T]) -> T:
        with self._lock:
            if self._store is None:
                self._store = open_configured(self._settings)
            return work(self._store)
