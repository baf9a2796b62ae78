"""What every repository promises: idempotent batch writes keyed by event id."""

from collections.abc import Sequence
from typing import Protocol

from sluicegate.events import Event


class Repository(Protocol):
    """A database that stores each event at most once.

    ``persist`` writes a batch in one transaction and returns how many rows were new; events already
    stored (a redelivery) are skipped silently. It raises ``TransientStoreError`` when the database
    is away or busy (retry later) and ``RejectedEventError`` when it refuses the batch for good
    (the caller isolates the poison event by persisting one at a time).
    """

    def persist(self, events: Sequence[Event]) -> int: ...

    @property
    def connected(self) -> bool:
        """False when the next call must first open a connection (a server database)."""
        ...

    def count(self, queue: str | None = None) -> int: ...

    def ids(self, queue: str | None = None) -> set[str]: ...

    def close(self) -> None: ...
