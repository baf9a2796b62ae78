"""A batch of events as the Arrow rows of a queue's Delta table, and the MERGE that adds them once.

The table (one per queue): ``event_id``, ``queue``, ``payload`` (the JSON text as accepted),
``accepted_at`` and ``persisted_at`` (UTC timestamps, microseconds), partitioned by ``day``, the
UTC date of ``accepted_at``. Partition values are not in the Parquet files (the Delta protocol
keeps them in the log and the folder names, ``day=2026-12-06``).

The MERGE inserts the batch's events whose id no row has among the events accepted within the
dedup window of the batch's: ``day`` prunes partitions, ``accepted_at`` prunes files by their
statistics (a redelivered event keeps its ``accepted_at``, so its first copy is always inside),
and the source's ``event_id`` range prunes the rest when ids are time-ordered (UUIDv7).

Only arro3 (deltalake's own Arrow library) is used, never pyarrow: pyarrow's scanner threads
abort the interpreter at exit ("terminate called without an active exception").
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sluicegate.events import Event
from sluicegate.retention import DAY_MS

if TYPE_CHECKING:
    from arro3.core import Table

PARTITION = "day"
COLUMNS = ("event_id", "queue", "payload", "accepted_at", "persisted_at", PARTITION)
# Statistics only where they prune: the payload's min/max would only bloat the log.
STATS_COLUMNS = "event_id,accepted_at,persisted_at"
SOURCE, TARGET = "s", "t"


@dataclass(frozen=True, slots=True)
class Window:
    """The accepted_at range (epoch ms, both ends in) a batch's ids are looked up in."""

    low_ms: int
    high_ms: int

    @classmethod
    def around(cls, events: Sequence[Event], dedup_window_s: float) -> "Window":
        margin_ms = int(dedup_window_s * 1000)
        accepted = [event.accepted_at_ms for event in events]
        return cls(min(accepted) - margin_ms, max(accepted) + margin_ms)

    def days(self) -> list[str]:
        """Every UTC day the window touches, as partition values."""
        first, last = self.low_ms // DAY_MS, self.high_ms // DAY_MS
        return [day_of(day * DAY_MS) for day in range(first, last + 1)]

    def predicate(self) -> str:
        """The MERGE's condition: same id, inside the window (what lets delta-rs prune)."""
        days = ", ".join(f"'{day}'" for day in self.days())
        return (
            f"{TARGET}.{PARTITION} IN ({days})"
            f" AND {TARGET}.accepted_at >= '{_instant(self.low_ms)}'"
            f" AND {TARGET}.accepted_at <= '{_instant(self.high_ms)}'"
            f" AND {TARGET}.event_id = {SOURCE}.event_id"
        )


def rows(events: Sequence[Event], persisted_at_ms: int) -> "Table":
    """The events as one Arrow table in the table's column order."""
    from arro3.core import Array, DataType, Table

    text, micros = DataType.string(), DataType.timestamp("us", tz="UTC")
    accepted = [event.accepted_at_ms for event in events]

    def timestamps(values_ms: list[int]) -> Array:
        return Array([value * 1000 for value in values_ms], DataType.int64()).cast(micros)

    columns = [
        Array([event.event_id for event in events], text),
        Array([event.queue for event in events], text),
        Array([event.payload for event in events], text),
        timestamps(accepted),
        timestamps([persisted_at_ms] * len(events)),
        Array([value // DAY_MS for value in accepted], DataType.int32()).cast(DataType.date32()),
    ]
    return Table.from_arrays(columns, names=list(COLUMNS))


def schema() -> "Schema":
    """The table's schema, every column required (delta-rs checks each write against it)."""
    from deltalake.schema import Field, PrimitiveType, Schema

    types = ("string", "string", "string", "timestamp", "timestamp", "date")
    return Schema(
        [Field(n, PrimitiveType(t), nullable=False) for n, t in zip(COLUMNS, types, strict=True)]
    )


def day_of(epoch_ms: int) -> str:
    """The partition value (UTC date) of an instant."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).date().isoformat()


def _instant(epoch_ms: int) -> str:
    """An RFC 3339 UTC instant DataFusion compares with a timestamp column."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


if TYPE_CHECKING:
    from deltalake.schema import Schema
