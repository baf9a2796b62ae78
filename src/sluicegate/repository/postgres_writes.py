"""The two ways to write a batch into PostgreSQL, both one transaction and both idempotent.

``copy``: COPY the batch into a session-local staging table, then move it with one
``INSERT … SELECT … ON CONFLICT (event_id) DO NOTHING``. ``executemany``: one INSERT per row,
sent in a single pipelined round trip by psycopg. ``bench/bench_repositories.py`` measures both.
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
_MOVE = (
    "INSERT INTO events (event_id, queue, payload, accepted_at, persisted_at) "
    "SELECT event_id, queue, payload, accepted_at, persisted_at FROM events_incoming "
    "ON CONFLICT (event_id) DO NOTHING"
)
_INSERT = (
    "INSERT INTO events (event_id, queue, payload, accepted_at, persisted_at) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING"
)


def copy_batch(conn: "psycopg.Connection[Any]", rows: Sequence[Row]) -> int:
    """COPY into the staging table, then move the new rows; returns how many were new."""
    with conn.transaction(), conn.cursor() as cursor:
        with cursor.copy(_COPY) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(_MOVE)
        return max(cursor.rowcount, 0)


def executemany_batch(conn: "psycopg.Connection[Any]", rows: Sequence[Row]) -> int:
    """Pipelined INSERTs (psycopg 3 batches executemany into one round trip)."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(_INSERT, rows)
        return max(cursor.rowcount, 0)


def prepare_session(conn: "psycopg.Connection[Any]", strategy: WriteStrategy) -> None:
    """Per-connection setup the strategy needs (the staging table lives as long as the session)."""
    if strategy == "copy":
        conn.execute(CREATE_STAGING)


WRITERS = {"copy": copy_batch, "executemany": executemany_batch}
