"""Each destination's store as ``sluicegate status`` reads it: rows and the oldest row per queue.

The default destination, ``sql`` over DATABASE_URL, is the repository the command opened (its
errors end the command, as before destinations). Any other destination's store is opened from
DESTINATIONS_FILE the first time a lane of it is shown; one that cannot be opened or read shows
nothing (None: *unavailable*), so one store that is down never hides the others. A consumer group
no destination of the file owns (left behind by a removed destination) has no store to read.
"""

from collections.abc import Callable
from typing import TypeVar, cast

from sluicegate.destination.config import DEFAULT, Destinations
from sluicegate.destination.opening import open_destination
from sluicegate.errors import SluicegateError
from sluicegate.queue.keys import DEFAULT_DESTINATION
from sluicegate.repository import EventStore, Repository
from sluicegate.settings import Settings

T = TypeVar("T")
_UNAVAILABLE = object()


class DestinationStores:
    def __init__(
        self,
        default: EventStore,
        registry: Destinations = DEFAULT,
        settings: Settings | None = None,
    ) -> None:
        self._registry = registry
        self._settings = settings
        self._opened: dict[str, Repository | object] = {}
        if _is_default(registry):
            self._opened[DEFAULT_DESTINATION] = default

    def rows(self, destination: str, queue: str) -> int | None:
        """The queue's rows in the destination's store; None when it cannot be read."""
        return self._read(destination, lambda store: store.count(queue))

    def oldest(self, destination: str, queue: str) -> int | None:
        """``accepted_at`` of the queue's oldest row (a SQL store's; a lake's: None)."""
        if destination not in self._registry.names or self._kind(destination) != "sql":
            return None
        return self._read(destination, lambda store: cast(EventStore, store).oldest(queue))

    def close(self) -> None:
        """Close what this opened (the default repository is its owner's to close)."""
        for name, store in self._opened.items():
            ours = name != DEFAULT_DESTINATION or not _is_default(self._registry)
            if ours and store is not _UNAVAILABLE:
                cast(Repository, store).close()

    def _kind(self, destination: str) -> str:
        return self._registry.named(destination).kind

    def _read(self, destination: str, read: Callable[[Repository], T]) -> T | None:
        store = self._store(destination)
        if store is None:
            return None
        if destination == DEFAULT_DESTINATION and _is_default(self._registry):
            return read(store)  # the default database: its errors end the command
        try:
            return read(store)
        except SluicegateError:
            return None

    def _store(self, destination: str) -> Repository | None:
        if destination not in self._opened:
            self._opened[destination] = self._open(destination)
        store = self._opened[destination]
        return None if store is _UNAVAILABLE else cast(Repository, store)

    def _open(self, destination: str) -> Repository | object:
        if destination not in self._registry.names or self._settings is None:
            return _UNAVAILABLE  # a group left behind: no store of the file
        try:
            return open_destination(self._registry.named(destination), self._settings)
        except SluicegateError:
            return _UNAVAILABLE


def _is_default(registry: Destinations) -> bool:
    """``sql`` is DATABASE_URL's store: without the file, or named in it without a URL."""
    if DEFAULT_DESTINATION not in registry.names:
        return False
    named = registry.named(DEFAULT_DESTINATION)
    return named.kind == "sql" and named.url is None
