"""What every repository promises: idempotent batch writes keyed by event id."""

from collections.abc import Sequence
from typing import Protocol

from sluicegate.events import Event
from sluicegate.repository.lifecycle import Cursor, RetentionReport, StoredEvent, StoredState
from sluicegate.retention import RetentionPolicy


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


class EventStore(Repository, Protocol):
    """A repository's stored events' lives (docs/retention.md): deletions that stick (a tombstone
    in the id table), where one event is, pages in acceptance order, and the maintenance pass.
    ``who`` names the deleter for the tombstone (a token's name, a user)."""

    def delete(self, queue: str, event_ids: Sequence[str], who: str) -> int: ...

    def delete_before(self, queue: str, before_ms: int, who: str) -> int: ...

    def locate(self, event_id: str) -> StoredState | None: ...

    def page(self, queue: str, after: Cursor | None, limit: int) -> list[StoredEvent]: ...

    def oldest(self, queue: str) -> int | None: ...

    def expire(self, policy: RetentionPolicy, at_ms: int) -> RetentionReport | None: ...

    def migrate(self) -> int | None: ...
