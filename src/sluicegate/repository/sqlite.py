"""SQLite repository, the embedded default: WAL, a transaction per batch, ON CONFLICT DO NOTHING."""

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sluicegate.errors import RejectedEventError, TransientStoreError
from sluicegate.events import Event, now_ms

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id     TEXT PRIMARY KEY,
    queue        TEXT NOT NULL,
    payload      TEXT NOT NULL,
    accepted_at  INTEGER NOT NULL,
    persisted_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_queue ON events (queue);
"""

_INSERT = (
    "INSERT INTO events (event_id, queue, payload, accepted_at, persisted_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING"
)

# A short busy timeout: a locked database is reported as transient quickly, and the consumer's
# own backoff (which also heartbeats its lock and watches for a stop) does the waiting.
_BUSY_TIMEOUT_MS = 1000


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
            self._db.execute("PRAGMA journal_mode = WAL")
            # FULL: a commit is fsynced before we acknowledge the batch in Redis.
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.executescript(SCHEMA)

    def persist(self, events: Sequence[Event]) -> int:
        persisted_at = now_ms()
        rows = [(e.event_id, e.queue, e.payload, e.accepted_at_ms, persisted_at) for e in events]
        with _classified_errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                inserted = self._db.executemany(_INSERT, rows).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return inserted

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

    def close(self) -> None:
        self._db.close()


def _filtered(sql: str, queue: str | None) -> tuple[str, tuple[str, ...]]:
    return (sql + " WHERE queue = ?", (queue,)) if queue is not None else (sql, ())
