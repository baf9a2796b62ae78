"""PostgreSQL: deleting events so they stay deleted, finding one, paging, and expiring by day.

Every statement that names one event gives its ``accepted_at`` (read from ``event_ids``), so
PostgreSQL looks in one partition. Deletions leave a tombstone in ``event_ids``. Expiry drops a
day's partition once every queue in it has expired (no row-by-row delete, no vacuum to pay);
queues kept shorter than others in the same day are deleted in chunks (docs/retention.md).
"""

from collections.abc import Sequence
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from sluicegate.repository import lifecycle
from sluicegate.repository.lifecycle import (
    DELETE_CHUNK_ROWS,
    DISTINCT_QUEUES,
    Cursor,
    RetentionReport,
    StoredEvent,
    StoredState,
)
from sluicegate.repository.postgres_schema import (
    PARTITIONS_AHEAD_DAYS,
    days_from,
    ensure_partitions,
    partition_day_ms,
    partitions,
)
from sluicegate.retention import DAY_MS, RetentionPolicy

_TOMBSTONE = """
INSERT INTO event_ids AS i (event_id, queue, deleted_at, deleted_by) VALUES (%s, %s, %s, %s)
ON CONFLICT (event_id) DO UPDATE SET deleted_at = excluded.deleted_at,
    deleted_by = excluded.deleted_by
WHERE i.queue = excluded.queue
RETURNING accepted_at
"""
_DELETE_ONE = "DELETE FROM events WHERE queue = %s AND accepted_at = %s AND event_id = %s"
# One chunk of a queue's rows accepted before a time in one partition (ctid: a plain table's row
# address), oldest first; RETURNING for the tombstones.
_DELETE_CHUNK = sql.SQL("""
DELETE FROM {table} WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM {table} WHERE queue = %s AND accepted_at < %s
    ORDER BY accepted_at LIMIT %s
)) RETURNING event_id
""")
_COUNT_BY_QUEUE = sql.SQL("SELECT queue, count(*) FROM {table} GROUP BY queue")
_DETACH = sql.SQL("ALTER TABLE events DETACH PARTITION {table} CONCURRENTLY")
_DROP = sql.SQL("DROP TABLE {table}")
_MARK_DELETED = "UPDATE event_ids SET deleted_at = %s, deleted_by = %s WHERE event_id = ANY(%s)"
_ID_ROW = (
    "SELECT queue, accepted_at, stored_at, deleted_at, deleted_by FROM event_ids "
    "WHERE event_id = %s"
)
_STORED = "SELECT persisted_at FROM events WHERE queue = %s AND accepted_at = %s AND event_id = %s"
_PAGE = (
    "SELECT event_id, queue, payload::text, accepted_at, persisted_at FROM events "
    "WHERE queue = %s AND (accepted_at, event_id) > (%s, %s) "
    "ORDER BY accepted_at, event_id LIMIT %s"
)
_OLDEST = "SELECT min(accepted_at) FROM events WHERE queue = %s"
# Forgotten: tombstones older than DEDUP_WINDOW, and stored ids older than their queue's window
# whose event is gone (expired). %(cuts)s maps named queues to their cutoff (-1: kept forever);
# other queues take %(default)s (NULL: kept forever). One scan of the id table a pass.
_FORGET = """
DELETE FROM event_ids i WHERE
    (i.deleted_at IS NOT NULL AND i.deleted_at < %(tombstones)s)
    OR (i.deleted_at IS NULL
        AND i.stored_at < coalesce((%(cuts)s::jsonb ->> i.queue)::bigint, %(default)s)
        AND NOT EXISTS (SELECT 1 FROM events e WHERE e.queue = i.queue
                        AND e.accepted_at = i.accepted_at AND e.event_id = i.event_id))
"""


def delete_ids(conn: Any, queue: str, ids: Sequence[str], who: str, now_ms: int) -> int:
    """Tombstone every id (stored or not yet) and remove the stored rows; returns rows removed.
    An id that belongs to another queue is left alone (the caller may not touch it)."""
    removed = 0
    with conn.transaction():
        for event_id in dict.fromkeys(ids):
            row = conn.execute(_TOMBSTONE, (event_id, queue, now_ms, who)).fetchone()
            if row is not None and row[0] is not None:
                cursor = conn.execute(_DELETE_ONE, (queue, row[0], event_id))
                removed += max(cursor.rowcount, 0)
    return removed


def delete_before(conn: Any, queue: str, before_ms: int, tombstone: tuple[str, int] | None) -> int:
    """Remove ``queue``'s rows accepted before ``before_ms``, partition by partition, in chunks
    (one short transaction each); with ``tombstone`` = (who, now) their ids are marked deleted,
    without it they have expired (the ids stay for DEDUP_WINDOW)."""
    return sum(
        _delete_chunks(conn, name, queue, before_ms, tombstone)
        for name in partitions(conn)
        if partition_day_ms(name) < before_ms
    )


def _delete_chunks(
    conn: Any, table: str, queue: str, before_ms: int, tombstone: tuple[str, int] | None
) -> int:
    removed = 0
    while True:
        with conn.transaction():
            statement = _DELETE_CHUNK.format(table=sql.Identifier(table))
            chunk = conn.execute(statement, (queue, before_ms, DELETE_CHUNK_ROWS))
            gone = [row[0] for row in chunk]
            if tombstone is not None and gone:
                conn.execute(_MARK_DELETED, (tombstone[1], tombstone[0], gone))
        removed += len(gone)
        if len(gone) < DELETE_CHUNK_ROWS:
            return removed


def locate(conn: Any, event_id: str) -> StoredState | None:
    return lifecycle.locate(conn, event_id, _ID_ROW, _STORED)


def page(conn: Any, queue: str, after: Cursor | None, limit: int) -> list[StoredEvent]:
    accepted, event_id = after if after is not None else (-1, "")
    rows = conn.execute(_PAGE, (queue, accepted, event_id, limit))
    return [StoredEvent(*row) for row in rows]


def oldest(conn: Any, queue: str) -> int | None:
    row = conn.execute(_OLDEST, (queue,)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def expire(conn: Any, policy: RetentionPolicy, now_ms: int) -> RetentionReport:
    """One pass: partitions created ahead; a day older than every queue's retention is detached
    and dropped whole; otherwise each queue kept for a limited time loses its expired rows in
    chunks; ids past their window are forgotten."""
    report = RetentionReport()
    report.partitions_created = ensure_partitions(conn, days_from(now_ms, PARTITIONS_AHEAD_DAYS))
    longest_s = policy.longest_s
    for name in partitions(conn):
        day = partition_day_ms(name)
        if longest_s is not None and day + DAY_MS <= now_ms - int(longest_s * 1000):
            _drop_partition(conn, name, report)
        else:
            _expire_rows(conn, name, day, policy, now_ms, report)
    report.ids_forgotten = _forget_ids(conn, policy, now_ms)
    return report


def _drop_partition(conn: Any, name: str, report: RetentionReport) -> None:
    """Every row in it expired, whatever its queue, also one a late writer adds meanwhile.
    Detached first (CONCURRENTLY: inserts into the other days go on), counted, then dropped."""
    table = sql.Identifier(name)
    conn.execute(_DETACH.format(table=table))
    for queue, rows in conn.execute(_COUNT_BY_QUEUE.format(table=table)).fetchall():
        report.add(queue, int(rows))
    conn.execute(_DROP.format(table=table))
    report.partitions_dropped.append(name)


def _expire_rows(
    conn: Any, name: str, day: int, policy: RetentionPolicy, now_ms: int, report: RetentionReport
) -> None:
    """Some queue keeps this day: delete the expired queues' rows in chunks."""
    distinct = sql.SQL(DISTINCT_QUEUES).format(table=sql.Identifier(name))
    for (queue,) in conn.execute(distinct).fetchall():
        cut = policy.cutoff_ms(queue, now_ms)
        if cut is not None and cut > day:
            report.add(queue, _delete_chunks(conn, name, queue, cut, None))


def _forget_ids(conn: Any, policy: RetentionPolicy, now_ms: int) -> int:
    cuts = {
        queue: -1 if (cut := policy.id_cutoff_ms(queue, now_ms)) is None else cut
        for queue in policy.per_queue_s
    }
    args = {
        "tombstones": policy.tombstone_cutoff_ms(now_ms),
        "cuts": Jsonb(cuts),
        "default": policy.default_id_cutoff_ms(now_ms),
    }
    with conn.transaction():
        return max(int(conn.execute(_FORGET, args).rowcount), 0)
