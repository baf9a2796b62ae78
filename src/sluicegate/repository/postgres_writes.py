"""The two ways to write a batch into PostgreSQL, both one transaction and both idempotent.

Each claims its ids in ``event_ids`` first (``ON CONFLICT DO NOTHING``: an id stored before, on
any day, or deleted, is not new) and stores only the events whose id was new, in the same
statement (``postgres_schema.py`` says why the partitioned ``events`` cannot do it alone).

``copy``: COPY the batch into a session-local staging table, then one statement moves the new
rows. ``executemany``: one such statement per row, sent in a single pipelined round trip by
psycopg. ``bench/bench_repositories.py`` and ``bench/bench_partitions.py`` measure them.
"""

from collections.abc import Sequence
from typing import Any, Literal

import psycopg

WriteStrategy = Literal["copy", "executemany"]
Row = tuple[str, str, str, int, int]

# No key or index on the staging table: COPY only appends. ON COMMIT DELETE ROWS empties it at the
# end of every transaction, and a rollback (a poison event in the batch) discards it as well.
CREATE_STAGING = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS events_incoming "
    "(LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_COPY = "COPY events_incoming (event_id, queue, payload, accepted_at, persisted_at) FROM STDIN"
# The batch comes without repeated ids (``unique_rows``): no unique key on the partitioned table
# would catch them, and a semi-join (IN) is cheaper than a join that must dedupe (measured:
# bench/bench_partitions.py).
_MOVE = """
WITH fresh AS (
    INSERT INTO event_ids (event_id, queue, accepted_at, stored_at)
    SELECT event_id, queue, accepted_at, persisted_at FROM events_incoming
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
)
INSERT INTO events (event_id, queue, payload, accepted_at, persisted_at)
SELECT event_id, queue, payload, accepted_at, persisted_at FROM events_incoming
WHERE event_id IN (SELECT event_id FROM fresh)
"""
_INSERT = """
WITH fresh AS (
    INSERT INTO event_ids (event_id, queue, accepted_at, stored_at)
    VALUES (%(id)s, %(queue)s, %(accepted)s, %(persisted)s)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
)
INSERT INTO events (event_id, queue, payload, accepted_at, persisted_at)
SELECT %(id)s, %(queue)s, %(payload)s::jsonb, %(accepted)s, %(persisted)s FROM fresh
"""


def copy_batch(conn: "psycopg.Connection[Any]", rows: Sequence[Row]) -> int:
    """COPY into the staging table, then move the new rows; returns how many were new."""
    with conn.transaction(), conn.cursor() as cursor:
        with cursor.copy(_COPY) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(_MOVE)
        return max(cursor.rowcount, 0)


def executemany_batch(conn: "psycopg.Connection[Any]", rows: Sequence[Row]) -> int:
    """Pipelined statements (psycopg 3 batches executemany into one round trip)."""
    params = [
        {"id": i, "queue": q, "payload": p, "accepted": a, "persisted": s} for i, q, p, a, s in rows
    ]
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(_INSERT, params)
        return max(cursor.rowcount, 0)


def unique_rows(rows: Sequence[Row]) -> list[Row]:
    """The first row of each event id (a batch may hold one event twice: a retried XADD)."""
    first: dict[str, Row] = {}
    for row in rows:
        first.setdefault(row[0], row)
    return list(first.values())


def prepare_session(conn: "psycopg.Connection[Any]", strategy: WriteStrategy) -> None:
    """Per-connection setup the strategy needs (the staging table lives as long as the session)."""
    if strategy == "copy":
        conn.execute(CREATE_STAGING)


WRITERS = {"copy": copy_batch, "executemany": executemany_batch}
