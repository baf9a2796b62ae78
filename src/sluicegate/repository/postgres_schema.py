"""The PostgreSQL schema: ``events`` range-partitioned by day of ``accepted_at``, and ``event_ids``.

Why two tables: a partitioned table's unique keys must contain the partition key, so ``events``
cannot say "this id once" across days, and a client's retry may be accepted after midnight.
``event_ids`` (one row per id, not partitioned) says it: a batch first inserts its ids there
(``ON CONFLICT DO NOTHING``) and stores only the events whose id was new, in the same
transaction. A deletion leaves a tombstone in that row (``deleted_at``), so a redelivery inserts
nothing. Its rows are forgotten by the maintenance pass (docs/retention.md).

A payload whose row passes ~2 KB is compressed by TOAST, with lz4 where the server has it
(``use_lz4``): pglz, PostgreSQL's default, was 18 % of the server's CPU per event with 2 KB
payloads. Tables of an older sluicegate are switched on the next start; their rows stay pglz (each
value names its method) and read as before.

Ids and queue names compare byte by byte (``COLLATE "C"``), whatever the database's collation:
they are keys, never sorted for people, and every b-tree comparison under a libc collation goes
through ``strcoll`` (PostgreSQL before 17 treats ``C.UTF-8`` as such a collation). Measured on
C.UTF-8 (bench_repositories, batches of 500): 10.0 -> 8.8 µs of the server's CPU an event; under
``en_US.UTF-8`` a comparison costs more still. Tables of an older sluicegate keep the collation
they were made with (changing it rebuilds their indexes: docs/postgres.md says how); a partition
made later copies its parent's, as it must to be attached.

Partitions are named ``events_YYYYMMDD`` (UTC days). ``sluicegate maintain`` creates them
ahead; a writer that meets a day without one creates it on the spot (``ensure_partitions``), so
writes never depend on the maintainer having run.
"""

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal, cast

import psycopg
from psycopg import errors, sql

from sluicegate.errors import TransientStoreError
from sluicegate.retention import DAY_MS, day_start_ms

PARTITIONS_AHEAD_DAYS = 3

# The payload's type (POSTGRES_PAYLOAD) is chosen when the table is made: json keeps the text as
# accepted (checked, not rebuilt), jsonb parses it (docs/postgres.md, "The payload's type").
PayloadType = Literal["json", "jsonb"]
_EVENTS = """CREATE TABLE IF NOT EXISTS events (
    event_id     TEXT COLLATE "C" NOT NULL,
    queue        TEXT COLLATE "C" NOT NULL,
    payload      {payload} NOT NULL,
    accepted_at  BIGINT NOT NULL,
    persisted_at BIGINT NOT NULL
) PARTITION BY RANGE (accepted_at)"""
# The one index: acceptance order per queue (keyset pages, per-queue expiry, the oldest event);
# with the id table's accepted_at it also finds one event: (queue, accepted_at, event_id).
EVENTS_ORDER = "CREATE INDEX IF NOT EXISTS events_order ON events (queue, accepted_at, event_id)"
EVENT_IDS = """CREATE TABLE IF NOT EXISTS event_ids (
    event_id     TEXT COLLATE "C" PRIMARY KEY,
    queue        TEXT COLLATE "C" NOT NULL,
    accepted_at  BIGINT,
    stored_at    BIGINT,
    deleted_at   BIGINT,
    deleted_by   TEXT
)"""


def schema(payload: PayloadType) -> tuple[str, ...]:
    """The statements that make the tables, with the payload column of type ``payload``."""
    return (_EVENTS.format(payload=payload.upper()), EVENTS_ORDER, EVENT_IDS)


_PAYLOAD_TYPE = (
    "SELECT format_type(atttypid, NULL) FROM pg_attribute "
    "WHERE attrelid = to_regclass('events') AND attname = 'payload'"
)


def payload_type(conn: "psycopg.Connection[Any]") -> PayloadType | None:
    """The type of the existing table's payload column (None: no table): the writes cast to it,
    whatever POSTGRES_PAYLOAD says now."""
    row = conn.execute(_PAYLOAD_TYPE).fetchone()
    if row is None:
        return None
    if row[0] not in ("json", "jsonb"):
        raise TransientStoreError(f"events.payload is of type {row[0]}: json or jsonb expected")
    return cast(PayloadType, row[0])


# CREATE … IF NOT EXISTS is not safe against a concurrent CREATE of the same table (both sessions
# pass the check, one fails on a catalog unique index), so every creator takes this lock first.
SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtext('sluicegate.schema'))"
_KIND = "SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass('events')"  # r: plain, p: split
_PARTITIONS = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = to_regclass('events') ORDER BY c.relname"
)

OUTDATED = (
    "the events table is not partitioned (created by a sluicegate before 0.x): stop the agents "
    "and run `sluicegate migrate` (docs/retention.md); events wait in Redis meanwhile"
)


class SchemaOutdatedError(TransientStoreError):
    """An unpartitioned ``events`` table from an older sluicegate: writes wait (the events stay
    pending in Redis) until a person runs ``sluicegate migrate``; never migrated silently."""


def ensure_schema(
    conn: "psycopg.Connection[Any]", now_ms: int, payload: PayloadType = "json"
) -> PayloadType:
    """Create the tables (the payload column of type ``payload``) and the partitions of
    yesterday (a backlog across midnight), today and the next few days if missing; refuse an
    unpartitioned table. Safe when several processes start at once. Returns the payload's type
    in the table as it is (an existing one keeps its own)."""
    with conn.transaction():
        conn.execute(SCHEMA_LOCK)
        if table_kind(conn) == "r":
            raise SchemaOutdatedError(OUTDATED)
        for statement in schema(payload):
            conn.execute(statement)
        made = payload_type(conn)
    use_lz4(conn)
    ensure_partitions(conn, days_from(now_ms - DAY_MS, PARTITIONS_AHEAD_DAYS + 1))
    return made or payload  # (made above, in the transaction holding the schema lock)


# ``events`` and its partitions whose payload is not compressed with lz4, if the server has lz4
# (its builds list it among default_toast_compression's values). A partition created later
# takes its parent's method; one created before does not, so each is changed.
_NOT_LZ4 = """
SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE a.attname = 'payload' AND a.attcompression <> 'l'
    AND (c.oid = to_regclass('events')
         OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass('events')))
    AND (SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression')
ORDER BY c.oid = to_regclass('events') DESC
"""
_SET_LZ4 = sql.SQL("ALTER TABLE {table} ALTER COLUMN payload SET COMPRESSION lz4")
LZ4_LOCK_TIMEOUT_MS = 2000


def use_lz4(conn: "psycopg.Connection[Any]") -> bool:
    """Compress new payloads with lz4 (a catalog change: rows written before stay as they are).
    The change locks each table exclusively for an instant, so it waits at most
    LZ4_LOCK_TIMEOUT_MS for readers and writers in flight, and otherwise waits for the next start;
    a role that does not own the tables leaves them as they are; a server before 14 has no choice
    of method. True once done."""
    if conn.info.server_version < 140000:
        return False
    try:
        with conn.transaction():
            conn.execute(SCHEMA_LOCK)
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (str(LZ4_LOCK_TIMEOUT_MS),))
            for (name,) in conn.execute(_NOT_LZ4).fetchall():
                conn.execute(_SET_LZ4.format(table=sql.Identifier(name)))
    except (errors.LockNotAvailable, errors.InsufficientPrivilege):
        return False
    return True


def table_kind(conn: "psycopg.Connection[Any]") -> str | None:
    """``r`` (a plain table), ``p`` (partitioned) or None (no table)."""
    row = conn.execute(_KIND).fetchone()
    return None if row is None else str(row[0])


def days_from(epoch_ms: int, ahead: int) -> list[int]:
    """The day starts (epoch ms) of ``epoch_ms``'s day and of the ``ahead`` days after it."""
    first = day_start_ms(epoch_ms)
    return [first + n * DAY_MS for n in range(ahead + 1)]


def partition_name(day_ms: int) -> str:
    return "events_" + datetime.fromtimestamp(day_ms / 1000, UTC).strftime("%Y%m%d")


def partition_day_ms(name: str) -> int:
    """The day start of a partition named by ``partition_name``."""
    day = datetime.strptime(name.removeprefix("events_"), "%Y%m%d").replace(tzinfo=UTC)
    return int(day.timestamp() * 1000)


def partitions(conn: "psycopg.Connection[Any]") -> list[str]:
    return [str(row[0]) for row in conn.execute(_PARTITIONS)]


def ensure_partitions(conn: "psycopg.Connection[Any]", days_ms: Iterable[int]) -> list[str]:
    """Create the partitions of these days that are missing; returns the ones created."""
    wanted = {partition_name(day): day for day in days_ms}
    missing = sorted(set(wanted) - set(partitions(conn)))
    created = []
    for name in missing:
        with conn.transaction():
            conn.execute(SCHEMA_LOCK)
            day = wanted[name]
            if _exists(conn, name):  # another process made it while we waited for the lock
                continue
            _create_partitions(conn, [day])
            created.append(name)
    return created


def is_missing_partition(error: psycopg.Error) -> bool:
    """The row's day has no partition (SQLSTATE 23514 with this text): create it, write again."""
    return error.sqlstate == "23514" and "no partition of relation" in str(error)


def _exists(conn: "psycopg.Connection[Any]", name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])


_RENAME_OLD = (
    "ALTER TABLE events RENAME TO events_unpartitioned",
    "ALTER INDEX IF EXISTS events_pkey RENAME TO events_unpartitioned_pkey",
)
_SPAN_OLD = "SELECT min(accepted_at), max(accepted_at) FROM events_unpartitioned"
_COPY_ROWS = (
    "INSERT INTO events (event_id, queue, payload, accepted_at, persisted_at) "
    "SELECT event_id, queue, payload, accepted_at, persisted_at FROM events_unpartitioned"
)
_COPY_IDS = (
    "INSERT INTO event_ids (event_id, queue, accepted_at, stored_at) "
    "SELECT event_id, queue, accepted_at, persisted_at FROM events_unpartitioned "
    "ON CONFLICT DO NOTHING"
)


def migrate(conn: "psycopg.Connection[Any]", now_ms: int) -> int | None:
    """``sluicegate migrate``: move an unpartitioned ``events`` table (an older sluicegate's) into
    the partitioned layout and fill ``event_ids`` from it, in one transaction (all or nothing;
    writers wait on its lock). Returns the rows moved, or None when there was nothing to do."""
    with conn.transaction():
        conn.execute(SCHEMA_LOCK)
        if table_kind(conn) != "r":
            return None
        kept = payload_type(conn) or "jsonb"  # the old table's: its rows move as they are
        for statement in (*_RENAME_OLD, *schema(kept)):
            conn.execute(statement)
        row = conn.execute(_SPAN_OLD).fetchone()
        first, last = (now_ms, now_ms) if row is None or row[0] is None else row
        start, end = min(int(first), now_ms), max(int(last), now_ms)
        days = (day_start_ms(end) - day_start_ms(start)) // DAY_MS + PARTITIONS_AHEAD_DAYS
        _create_partitions(conn, days_from(start, days))
        moved = conn.execute(_COPY_ROWS).rowcount
        conn.execute(_COPY_IDS)
        conn.execute("DROP TABLE events_unpartitioned")
    return max(moved, 0)


def _create_partitions(conn: "psycopg.Connection[Any]", days_ms: Iterable[int]) -> None:
    """Made alike, then attached: ``CREATE TABLE … PARTITION OF`` locks ``events`` exclusively,
    so it waited for every reader in flight (a long report) while every writer queued behind it;
    ``ATTACH PARTITION`` takes a lock readers and writers do not conflict with. The caller's
    transaction holds both steps: a table is never left made but not attached."""
    for day in days_ms:
        name = partition_name(day)
        conn.execute(f"CREATE TABLE {name} (LIKE events INCLUDING ALL)")
        bounds = f"FROM ({day}) TO ({day + DAY_MS})"
        conn.execute(f"ALTER TABLE events ATTACH PARTITION {name} FOR VALUES {bounds}")
