"""SQLite: deleting events so they stay deleted, finding one, paging, and expiring in chunks.

SQLite has one write lock for the whole file, so expiry deletes in chunks of
``DELETE_CHUNK_ROWS`` rows, each its own short transaction, and rests between chunks as long as
the chunk took: a consumer's batch waiting for the lock gets it within about one chunk's time
(docs/retention.md has the figures). The freed pages go back to the file system in small steps
too (``PRAGMA incremental_vacuum``; the file is created with ``auto_vacuum = INCREMENTAL``).
"""

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sluicegate.repository import lifecycle
from sluicegate.repository.lifecycle import (
    DELETE_CHUNK_ROWS,
    DISTINCT_QUEUES,
    Cursor,
    RetentionReport,
    StoredEvent,
    StoredState,
)
from sluicegate.retention import RetentionPolicy

_VACUUM_STEP_BYTES = 1 << 20  # 1 MiB a step, whatever the page size (4 KiB in older files)
_INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL
_TOMBSTONE = """
INSERT INTO event_ids (event_id, queue, deleted_at, deleted_by) VALUES (?, ?, ?, ?)
ON CONFLICT (event_id) DO UPDATE SET deleted_at = excluded.deleted_at,
    deleted_by = excluded.deleted_by
WHERE event_ids.queue = excluded.queue
RETURNING accepted_at
"""
_DELETE_ONE = "DELETE FROM events WHERE queue = ? AND accepted_at = ? AND event_id = ?"
_DELETE_CHUNK = """
DELETE FROM events WHERE rowid IN (
    SELECT rowid FROM events WHERE queue = ? AND accepted_at < ?
    ORDER BY accepted_at LIMIT ?
) RETURNING event_id
"""
_MARK_DELETED = "UPDATE event_ids SET deleted_at = ?, deleted_by = ? WHERE event_id = ?"
_ID_ROW = (
    "SELECT queue, accepted_at, stored_at, deleted_at, deleted_by FROM event_ids WHERE event_id = ?"
)
_STORED = "SELECT persisted_at FROM events WHERE queue = ? AND accepted_at = ? AND event_id = ?"
_PAGE = (
    "SELECT event_id, queue, payload, accepted_at, persisted_at FROM events "
    "WHERE queue = ? AND (accepted_at, event_id) > (?, ?) "
    "ORDER BY accepted_at, event_id LIMIT ?"
)
_OLDEST = "SELECT min(accepted_at) FROM events WHERE queue = ?"
_FORGET_TOMBSTONES = """
DELETE FROM event_ids WHERE event_id IN (
    SELECT event_id FROM event_ids WHERE deleted_at < ? LIMIT ?)
"""
_FORGET_IDS = """
DELETE FROM event_ids WHERE event_id IN (
    SELECT i.event_id FROM event_ids i WHERE i.queue = ? AND i.deleted_at IS NULL
    AND i.stored_at < ? AND NOT EXISTS (SELECT 1 FROM events e WHERE e.queue = i.queue
        AND e.accepted_at = i.accepted_at AND e.event_id = i.event_id)
    LIMIT ?)
"""


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def delete_ids(db: sqlite3.Connection, queue: str, ids: Sequence[str], who: str, now: int) -> int:
    """Tombstone every id (stored or not yet) and remove the stored rows; returns rows removed.
    An id that belongs to another queue is left alone."""
    removed = 0
    with write_transaction(db):
        for event_id in dict.fromkeys(ids):
            row = db.execute(_TOMBSTONE, (event_id, queue, now, who)).fetchone()
            if row is not None and row[0] is not None:
                removed += db.execute(_DELETE_ONE, (queue, row[0], event_id)).rowcount
    return removed


def delete_before(
    db: sqlite3.Connection, queue: str, before_ms: int, tombstone: tuple[str, int] | None
) -> int:
    """Remove ``queue``'s rows accepted before ``before_ms`` in chunks; with ``tombstone`` =
    (who, now) their ids are marked deleted, without it they have expired."""
    removed = 0
    while True:
        started = time.monotonic()
        with write_transaction(db):
            gone = [
                row[0]
                for row in db.execute(
                    _DELETE_CHUNK, (queue, before_ms, DELETE_CHUNK_ROWS)
                ).fetchall()
            ]
            if tombstone is not None:
                db.executemany(_MARK_DELETED, [(tombstone[1], tombstone[0], i) for i in gone])
        removed += len(gone)
        if len(gone) < DELETE_CHUNK_ROWS:
            return removed
        _rest(started)


def locate(db: sqlite3.Connection, event_id: str) -> StoredState | None:
    return lifecycle.locate(db, event_id, _ID_ROW, _STORED)


def page(db: sqlite3.Connection, queue: str, after: Cursor | None, limit: int) -> list[StoredEvent]:
    accepted, event_id = after if after is not None else (-1, "")
    rows = db.execute(_PAGE, (queue, accepted, event_id, limit)).fetchall()
    return [StoredEvent(*row) for row in rows]


def oldest(db: sqlite3.Connection, queue: str) -> int | None:
    row = db.execute(_OLDEST, (queue,)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def expire(db: sqlite3.Connection, policy: RetentionPolicy, now_ms: int) -> RetentionReport:
    """One pass: every queue's expired rows deleted in chunks, ids past their window forgotten,
    the freed pages given back."""
    report = RetentionReport()
    for (queue,) in db.execute(DISTINCT_QUEUES.format(table="events")).fetchall():
        cut = policy.cutoff_ms(queue, now_ms)
        if cut is not None:
            report.add(queue, delete_before(db, queue, cut, None))
    report.ids_forgotten = _chunked(db, _FORGET_TOMBSTONES, (policy.tombstone_cutoff_ms(now_ms),))
    for (queue,) in db.execute("SELECT DISTINCT queue FROM event_ids").fetchall():
        cut = policy.id_cutoff_ms(queue, now_ms)
        if cut is not None:
            report.ids_forgotten += _chunked(db, _FORGET_IDS, (queue, cut))
    reclaim_space(db)
    return report


def reclaim_space(db: sqlite3.Connection) -> None:
    """Give free pages back to the file system a step at a time (each a short write)."""
    if db.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
        return  # a file made before auto_vacuum was set: `sluicegate migrate` vacuums it
    step_pages = _VACUUM_STEP_BYTES // db.execute("PRAGMA page_size").fetchone()[0]
    while db.execute("PRAGMA freelist_count").fetchone()[0]:
        started = time.monotonic()
        db.execute(f"PRAGMA incremental_vacuum({step_pages})").fetchall()
        _rest(started)
    # The shorter file is written to the WAL; a passive checkpoint (it waits for nobody) moves it
    # into the database file, which then shrinks.
    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _chunked(db: sqlite3.Connection, statement: str, args: tuple[object, ...]) -> int:
    total = 0
    while True:
        started = time.monotonic()
        with write_transaction(db):
            count = db.execute(statement, (*args, DELETE_CHUNK_ROWS)).rowcount
        total += count
        if count < DELETE_CHUNK_ROWS:
            return total
        _rest(started)


def _rest(started: float) -> None:
    """Leave the write lock free as long as we held it: a waiting consumer takes it meanwhile
    (SQLite's lock has no queue; a writer that comes straight back could starve the others)."""
    time.sleep(min(time.monotonic() - started, 0.1))
