"""SQLite repository, the embedded default: WAL, a transaction per batch, ids claimed in
``event_ids`` so that an expired or deleted event's id is not stored again (docs/retention.md)."""

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from itertools import chain
from operator import attrgetter
from pathlib import Path

from sluicegate.errors import RejectedEventError, TransientStoreError
from sluicegate.events import Event, now_ms
from sluicegate.repository import sqlite_lifecycle
from sluicegate.repository.lifecycle import Cursor, RetentionReport, StoredEvent, StoredState
from sluicegate.repository.sqlite_lifecycle import write_transaction
from sluicegate.retention import RetentionPolicy

# A new file's pages are 8 KiB, not SQLite's 4 KiB: a row of a 2 KB payload fills a 4 KiB page
# alone, so each was written (to the WAL, then the file) twice over. Measured (a batch of 500
# events, WAL, synchronous=FULL): 2 KB payloads 11.5 -> 8.2 µs of CPU an event and a third less
# file; 1 KB 7.2 -> 6.6; 200 B 5.1 -> 4.8; batches of 5 (single events) the same. 16 KiB saves
# a little more on large rows but costs small commits (each writes whole pages to the WAL).
# page_size only takes effect on a file with nothing in it: older files keep 4 KiB.
PAGE_SIZE = 8192
# auto_vacuum only takes effect on a file with no table yet (`sluicegate migrate` converts an
# older file with VACUUM); it lets retention give freed pages back in small steps.
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id     TEXT NOT NULL,
    queue        TEXT NOT NULL,
    payload      TEXT NOT NULL,
    accepted_at  INTEGER NOT NULL,
    persisted_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_order ON events (queue, accepted_at, event_id);
DROP INDEX IF EXISTS events_queue;
CREATE TABLE IF NOT EXISTS event_ids (
    event_id     TEXT PRIMARY KEY,
    queue        TEXT NOT NULL,
    accepted_at  INTEGER,
    stored_at    INTEGER,
    deleted_at   INTEGER,
    deleted_by   TEXT
) WITHOUT ROWID;
"""
# A file from before event_ids: its stored ids are claimed once, when the table is created.
_FILL_IDS = (
    "INSERT INTO event_ids (event_id, queue, accepted_at, stored_at) "
    "SELECT event_id, queue, accepted_at, persisted_at FROM events WHERE true "
    "ON CONFLICT DO NOTHING"
)
_HAS_IDS = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'event_ids'"
_SCHEMA_NAMES = (
    "SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%'"
)
_CURRENT_SCHEMA = {"events", "events_order", "event_ids"}

# A batch claims its ids first, in multi-row statements, then stores the events whose id was new
# (an id stored before, expired within its window, or deleted is not). Three b-trees a row, as
# before the id table: events (rowid), its order index, event_ids (WITHOUT ROWID: the key is the
# table). docs/retention.md has the measured cost. Nearly every batch is new: its claim runs
# without RETURNING (half the claim's CPU: 0.95 against 1.9 µs an event, batches of 500) and the
# connection's change count says whether every id was new; only a batch with an id seen before
# is claimed again, after a rollback to a savepoint, returning the new ids.
# The claim's rows share one parameter, the batch's time (?1): each row's three values come from
# the events by a getter in C (the arguments of 500 rows: 0.5 against 0.9 µs an event).
_CLAIM_ROWS = 1000  # 3 parameters a row, under SQLite's 32,766
_CLAIM = (
    "INSERT INTO event_ids (event_id, queue, accepted_at, stored_at) VALUES {rows} "
    "ON CONFLICT (event_id) DO NOTHING"
)
_CLAIM_VALUES = attrgetter("event_id", "queue", "accepted_at_ms")
_RETURNING = " RETURNING event_id"
_INSERT = (
    "INSERT INTO events (event_id, queue, payload, accepted_at, persisted_at) "
    "VALUES (?, ?, ?, ?, ?)"
)

# A short busy timeout: a locked database is reported as transient quickly, and the consumer's
# own backoff (which also heartbeats its lock and watches for a stop) does the waiting.
_BUSY_TIMEOUT_MS = 1000
_MAINTAINER_BUSY_TIMEOUT_MS = 60_000


@contextmanager
def _classified_errors() -> Iterator[None]:
    try:
        yield
    # The event's fault: CHECK, NOT NULL, a trigger's RAISE(ABORT) (IntegrityError), or a value
    # over SQLite's length limit (DataError, a DatabaseError subclass, so it must come first).
    except (sqlite3.IntegrityError, sqlite3.DataError) as error:
        raise RejectedEventError(str(error)) from error
    except (sqlite3.OperationalError, sqlite3.DatabaseError) as error:  # locked, busy, I/O
        raise TransientStoreError(str(error)) from error


class SqliteRepository:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _classified_errors():
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            if self._db.execute("PRAGMA page_count").fetchone()[0] == 0:  # a new file, before WAL
                self._db.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # first: nothing written yet
                self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # (it takes the write lock)
            self._db.execute("PRAGMA journal_mode = WAL")
            # FULL: a commit is fsynced before we acknowledge the batch in Redis.
            self._db.execute("PRAGMA synchronous = FULL")
            if not self._schema_is_current():  # else no write lock: a busy file may be opened
                self._create_schema()

    def _schema_is_current(self) -> bool:
        return {row[0] for row in self._db.execute(_SCHEMA_NAMES)} == _CURRENT_SCHEMA

    def _create_schema(self) -> None:
        with write_transaction(self._db):
            fill = self._db.execute(_HAS_IDS).fetchone()[0] == 0
            for statement in filter(str.strip, SCHEMA.split(";")):
                self._db.execute(statement)
            if fill:
                self._db.execute(_FILL_IDS)

    def persist(self, events: Sequence[Event]) -> int:
        persisted_at = now_ms()
        events = unique_events(events)
        with _classified_errors(), write_transaction(self._db):
            fresh = self._claim(events, persisted_at)
            rows = [
                (e.event_id, e.queue, e.payload, e.accepted_at_ms, persisted_at)
                for e in events
                if fresh is None or e.event_id in fresh
            ]
            self._db.executemany(_INSERT, rows)
        return len(rows)

    def _claim(self, events: Sequence[Event], persisted_at: int) -> set[str] | None:
        """Give every id of ``events`` a row of ``event_ids``; returns None when all of them were
        new, else the ids that were."""
        self._db.execute("SAVEPOINT claim")
        before = self._db.total_changes  # rows inserted: a conflict or a trigger's adds none
        self._claim_chunks(events, persisted_at, "")
        if self._db.total_changes - before == len(events):
            self._db.execute("RELEASE claim")
            return None
        self._db.execute("ROLLBACK TO claim")
        self._db.execute("RELEASE claim")
        return self._claim_chunks(events, persisted_at, _RETURNING)

    def _claim_chunks(self, events: Sequence[Event], persisted_at: int, tail: str) -> set[str]:
        """The claim's statements; with ``tail`` RETURNING, the ids that were new."""
        fresh: set[str] = set()
        for start in range(0, len(events), _CLAIM_ROWS):
            chunk = events[start : start + _CLAIM_ROWS]
            args = [persisted_at, *chain.from_iterable(map(_CLAIM_VALUES, chunk))]
            fresh.update(
                row[0] for row in self._db.execute(_claim_statement(len(chunk)) + tail, args)
            )
        return fresh

    @property
    def connected(self) -> bool:
        return True  # a file in this process: nothing to connect to

    def count(self, queue: str | None = None) -> int:
        sql, args = _filtered("SELECT count(*) FROM events", queue)
        with _classified_errors():
            return int(self._db.execute(sql, args).fetchone()[0])

    def ids(self, queue: str | None = None) -> set[str]:
        sql, args = _filtered("SELECT event_id FROM events", queue)
        with _classified_errors():
            return {row[0] for row in self._db.execute(sql, args)}

    def delete(self, queue: str, event_ids: Sequence[str], who: str) -> int:
        with _classified_errors():
            return sqlite_lifecycle.delete_ids(self._db, queue, event_ids, who, now_ms())

    def delete_before(self, queue: str, before_ms: int, who: str) -> int:
        with _classified_errors(), self._patient():
            return sqlite_lifecycle.delete_before(self._db, queue, before_ms, (who, now_ms()))

    def locate(self, event_id: str) -> StoredState | None:
        with _classified_errors():
            return sqlite_lifecycle.locate(self._db, event_id)

    def page(self, queue: str, after: Cursor | None, limit: int) -> list[StoredEvent]:
        with _classified_errors():
            return sqlite_lifecycle.page(self._db, queue, after, limit)

    def oldest(self, queue: str) -> int | None:
        with _classified_errors():
            return sqlite_lifecycle.oldest(self._db, queue)

    def expire(self, policy: RetentionPolicy, at_ms: int) -> RetentionReport | None:
        """One maintenance pass (SQLite's write lock keeps two passes from interleaving a
        chunk; two passes at once only repeat each other's work)."""
        with _classified_errors(), self._patient():
            return sqlite_lifecycle.expire(self._db, policy, at_ms)

    def migrate(self) -> int | None:
        """``sluicegate migrate``: VACUUM a file made before ``auto_vacuum = INCREMENTAL`` (the
        only change SQLite does not make by itself); returns None when there was nothing to do."""
        with _classified_errors():
            if self._db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
                return None
            self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            self._db.execute("VACUUM")
            return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _patient(self) -> Iterator[None]:
        """A maintainer waits for the write lock longer than a consumer does: the consumers'
        batches come first, the pass's chunks fit between them."""
        self._db.execute(f"PRAGMA busy_timeout = {_MAINTAINER_BUSY_TIMEOUT_MS}")
        try:
            yield
        finally:
            self._db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")


@lru_cache(maxsize=32)  # a full batch's, and the few sizes of the last reads
def _claim_statement(rows: int) -> str:
    """The claim of ``rows`` events: ``(?2, ?3, ?4, ?1), (?5, ?6, ?7, ?1), …``."""
    values = (f"(?{i}, ?{i + 1}, ?{i + 2}, ?1)" for i in range(2, 3 * rows + 2, 3))
    return _CLAIM.format(rows=", ".join(values))


_EVENT_ID = attrgetter("event_id")


def unique_events(events: Sequence[Event]) -> list[Event]:
    """The first of each event id (a batch may hold one event twice: a retried XADD)."""
    if len(set(map(_EVENT_ID, events))) == len(events):  # nearly always: no Python step each
        return list(events)
    first: dict[str, Event] = {}
    for event in events:
        first.setdefault(event.event_id, event)
    return list(first.values())


def _filtered(sql: str, queue: str | None) -> tuple[str, tuple[str, ...]]:
    return (sql + " WHERE queue = ?", (queue,)) if queue is not None else (sql, ())
