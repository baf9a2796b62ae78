"""What the repositories answer about stored events' lives: where one is, a page of them, and
what a retention pass or a deletion did. Shared by SQLite and PostgreSQL (docs/retention.md)."""

from dataclasses import dataclass, field
from typing import Any, Literal

StoredStatus = Literal["persisted", "expired", "deleted"]
Cursor = tuple[int, str]  # (accepted_at ms, event_id): the key of acceptance order

# Rows a batched delete removes per transaction: short enough that a consumer's batch waiting
# for the write lock (SQLite) or a row lock is not held up long (docs/retention.md has figures).
DELETE_CHUNK_ROWS = 2000


@dataclass(frozen=True, slots=True)
class StoredState:
    """The database's side of an event's whereabouts (its id row, and its row if any)."""

    status: StoredStatus
    queue: str
    accepted_at_ms: int | None
    stored_at_ms: int | None  # first stored (None: deleted before any consumer stored it)
    persisted_at_ms: int | None = None
    deleted_at_ms: int | None = None
    deleted_by: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event_id: str
    queue: str
    payload: str  # the JSON text as stored
    accepted_at_ms: int
    persisted_at_ms: int

    @property
    def cursor(self) -> Cursor:
        return (self.accepted_at_ms, self.event_id)


@dataclass(slots=True)
class RetentionReport:
    """One maintenance pass: rows expired per queue, partitions dropped, ids forgotten."""

    dropped: dict[str, int] = field(default_factory=dict)
    partitions_dropped: list[str] = field(default_factory=list)
    partitions_created: list[str] = field(default_factory=list)
    ids_forgotten: int = 0

    def add(self, queue: str, rows: int) -> None:
        if rows:
            self.dropped[queue] = self.dropped.get(queue, 0) + rows

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())


# Every queue present in an index led by ``queue``, without reading every row: a loose index
# scan, one index probe per queue (both SQLite and PostgreSQL run it as written).
DISTINCT_QUEUES = """
WITH RECURSIVE q(name) AS (
    SELECT min(queue) FROM {table}
    UNION ALL
    SELECT (SELECT min(queue) FROM {table} WHERE queue > q.name) FROM q WHERE q.name IS NOT NULL
)
SELECT name FROM q WHERE name IS NOT NULL
"""


def locate(conn: Any, event_id: str, id_row_sql: str, stored_sql: str) -> StoredState | None:
    """Where the database has ``event_id``: its id row, then its event row. ``conn`` is a sqlite3
    or psycopg connection; the two queries are the backend's own (their placeholders differ)."""
    row = conn.execute(id_row_sql, (event_id,)).fetchone()
    if row is None:
        return None
    queue, accepted, stored, deleted, who = row
    if deleted is not None:
        return StoredState("deleted", queue, accepted, stored, None, deleted, who)
    found = conn.execute(stored_sql, (queue, accepted, event_id)).fetchone()
    if found is None:
        return StoredState("expired", queue, accepted, stored)
    return StoredState("persisted", queue, accepted, stored, int(found[0]))
