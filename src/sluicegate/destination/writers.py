"""A consumer process's writers: one per destination it serves, opened on first use and kept.

With DESTINATIONS_FILE a destination is opened by the first batch for it, inside the visit's
retries: a store that cannot be reached is a transient error of that destination's visits,
never of the process, so it cannot hold back the other destinations. Without the file the one
SQL destination is opened at start, as before destinations (a database that is not there yet
ends the process with EXIT_DATABASE_UNAVAILABLE, and the agent forks again at its next poll).
"""

from collections.abc import Sequence

from sluicegate.destination.config import DEFAULT, Destination, Destinations
from sluicegate.destination.opening import open_destination
from sluicegate.events import Event
from sluicegate.repository import Repository
from sluicegate.settings import Settings


class LazyWriter:
    """A destination's writer that opens its store when first needed (a Repository)."""

    def __init__(self, destination: Destination, settings: Settings) -> None:
        self.destination = destination
        self._settings = settings
        self._opened: Repository | None = None

    def _writer(self) -> Repository:
        if self._opened is None:
            self._opened = open_destination(self.destination, self._settings)
        return self._opened

    def persist(self, events: Sequence[Event]) -> int:
        return self._writer().persist(events)

    @property
    def connected(self) -> bool:
        return self._opened is not None and self._opened.connected

    def count(self, queue: str | None = None) -> int:
        return self._writer().count(queue)

    def ids(self, queue: str | None = None) -> set[str]:
        return self._writer().ids(queue)

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()
            self._opened = None

    def maintain(self) -> object:
        """The store's own upkeep when it has one (a Delta table's OPTIMIZE and VACUUM, when
        due), once it is open; what it did, or None."""
        upkeep = getattr(self._opened, "maintain", None)
        return upkeep() if upkeep is not None else None


class Writers:
    """Every destination's writer in one consumer process."""

    def __init__(self, registry: Destinations, settings: Settings) -> None:
        self.registry = registry
        self._writers: dict[str, Repository] = {
            name: LazyWriter(registry.named(name), settings) for name in registry.names
        }
        if registry is DEFAULT:  # opened now: TransientStoreError when the database is away
            (name,) = registry.names
            self._writers[name] = open_destination(registry.named(name), settings)

    def __getitem__(self, destination: str) -> Repository:
        return self._writers[destination]

    def maintain(self, destination: str) -> object:
        """``destination``'s upkeep, between two visits (a Delta table compacts when due)."""
        writer = self._writers[destination]
        return writer.maintain() if isinstance(writer, LazyWriter) else None

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
