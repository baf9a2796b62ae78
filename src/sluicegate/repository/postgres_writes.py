"""The four ways to write a batch into PostgreSQL, each one transaction and idempotent.

Each claims its ids in ``event_ids`` first (``ON CONFLICT DO NOTHING``: an id stored before, on
any day, or deleted, is not new) and stores only the events whose id was new, in the same
statement (``postgres_schema.py`` says why the partitioned ``events`` cannot do it alone).

``arrays`` (the default): the batch travels as one text per column (ids, queues, payloads,
acceptance times), its values joined by U+001E, parameters of one statement that splits them into
arrays and reads those as rows: one round trip, its own transaction (a single statement is
atomic), no session state, little for the consumer to do per event (a join is one C call a
column), and nothing for the server to parse but each payload, once, cast to the payload
column's type (``json``: checked and kept; ``jsonb``: rebuilt). ``json``: the same statement over
one JSON document, which the server parses twice (its ``json`` cast, then
``json_to_recordset``) before each payload's text is cast again. ``copy``:
BEGIN, COPY into a session-local staging table, one statement that moves the new rows, COMMIT:
four round trips and more client CPU (psycopg's per-row COPY formatting). ``executemany``: one
statement per row, pipelined by psycopg. ``bench/bench_repositories.py`` measures them
(docs/postgres.md has the figures).
"""

from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, get_args

import orjson
import psycopg

from sluicegate.repository.postgres_schema import PayloadType

WriteStrategy = Literal["arrays", "json", "copy", "executemany"]
PAYLOAD_TYPES: tuple[PayloadType, ...] = get_args(PayloadType)
Row = tuple[str, str, str, int, int]
_Part = TypeVar("_Part")

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


def _per_payload_type(statement: str, **parts: str) -> dict[PayloadType, str]:
    """``statement`` for each type of payload column ({payload}: what the payload is cast to)."""
    return {payload: statement.format(payload=payload, **parts) for payload in PAYLOAD_TYPES}


# The one statement of ``json`` and ``arrays``: {incoming} (a query of the batch's rows as columns
# i, q, p, a; its parameters come first) claims its ids, and the events whose id was new are
# stored, their payloads cast to the column's type ({payload}: json checks the text, jsonb parses
# it); then the batch's persisted_at, twice.
_CLAIM_THEN_STORE = """
WITH incoming AS (
    {incoming}
), fresh AS (
    INSERT INTO event_ids (event_id, queue, accepted_at, stored_at)
    SELECT i, q, a, %s FROM incoming
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
)
INSERT INTO events (event_id, queue, payload, accepted_at, persisted_at)
SELECT i, q, p::{payload}, a, %s FROM incoming
WHERE i IN (SELECT event_id FROM fresh)
"""


# The payload goes as a JSON string and is cast to the column's type here, not embedded as raw
# JSON: a payload that is not valid JSON then fails the cast (its batch is refused and split, as
# with COPY) and can never change the document's structure. Every row of a batch has the same
# persisted_at.
_MOVE_JSON = _per_payload_type(
    _CLAIM_THEN_STORE,
    incoming="SELECT * FROM json_to_recordset(%s::json) AS r(i text, q text, p text, a bigint)",
)

# Each column's values joined by the ASCII record separator, which a JSON text never holds raw
# (JSON escapes every control character inside a string, and allows none outside one), so the
# split gives back each payload whole; a batch with a value that holds one goes the json way.
# A payload is checked by its cast alone: one that is not valid JSON fails it (its batch is
# refused and split).
SEPARATOR = "\x1e"
_MOVE_ARRAYS = _per_payload_type(
    _CLAIM_THEN_STORE,
    incoming="""SELECT * FROM unnest(
        string_to_array(%s, E'\\x1e'), string_to_array(%s, E'\\x1e'),
        string_to_array(%s, E'\\x1e'), string_to_array(%s, E'\\x1e')::bigint[]
    ) AS r(i, q, p, a)""",
)
# A text value is at most 1 GB in PostgreSQL; a larger batch (10,000 events of a raised
# MAX_EVENT_BYTES) goes in parts of one transaction. For arrays the bound counts characters: at
# most 4 bytes each in UTF-8.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
_INSERT = """
WITH fresh AS (
    INSERT INTO event_ids (event_id, queue, accepted_at, stored_at)
    VALUES (%(id)s, %(queue)s, %(accepted)s, %(persisted)s)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
)
INSERT INTO events (event_id, queue, payload, accepted_at, persisted_at)
SELECT %(id)s, %(queue)s, %(payload)s::{payload}, %(accepted)s, %(persisted)s FROM fresh
"""
_INSERTS = _per_payload_type(_INSERT)


def arrays_batch(conn: "psycopg.Connection[Any]", rows: Sequence[Row], payload: PayloadType) -> int:
    """One statement whose parameters are the batch's columns; returns how many rows were new."""
    return _in_parts(conn, _array_parts(rows), lambda c, part: _move_arrays(c, part, payload))


def _move_arrays(conn: "psycopg.Connection[Any]", rows: Sequence[Row], payload: PayloadType) -> int:
    ids, queues, payloads, accepted, _ = zip(*rows, strict=True)
    columns = [SEPARATOR.join(ids), SEPARATOR.join(queues), SEPARATOR.join(payloads)]
    # A value holding a separator (never a JSON payload), or one empty value alone (which
    # string_to_array reads as none): the json statement takes the batch as it is.
    if any(column.count(SEPARATOR) != len(rows) - 1 or not column for column in columns):
        return json_batch(conn, rows, payload)
    params = (*columns, SEPARATOR.join(map(str, accepted)), rows[0][4], rows[0][4])
    try:
        return max(conn.execute(_MOVE_ARRAYS[payload], params).rowcount, 0)
    except UnicodeEncodeError as error:  # a str that is not Unicode text: the event's fault
        raise psycopg.DataError(f"event not encodable as UTF-8: {error}") from error


def _array_parts(rows: Sequence[Row]) -> list[Sequence[Row]]:
    """``rows`` in parts of under MAX_DOCUMENT_BYTES characters (or of one row)."""
    if len(rows) == 1 or sum(len(r[0]) + len(r[2]) for r in rows) <= MAX_DOCUMENT_BYTES:
        return [rows]
    half = len(rows) // 2
    return _array_parts(rows[:half]) + _array_parts(rows[half:])


def json_batch(conn: "psycopg.Connection[Any]", rows: Sequence[Row], payload: PayloadType) -> int:
    """One statement whose parameter is the batch as JSON; returns how many rows were new."""
    statement, persisted_at = _MOVE_JSON[payload], rows[0][4]
    return _in_parts(conn, _documents(rows), lambda c, d: _move_json(c, statement, d, persisted_at))


def _in_parts(
    conn: "psycopg.Connection[Any]",
    parts: Sequence[_Part],
    move: "Callable[[psycopg.Connection[Any], _Part], int]",
) -> int:
    """One part: one statement, a transaction of its own, one round trip; else one transaction."""
    if len(parts) == 1:
        return move(conn, parts[0])
    with conn.transaction():
        return sum(move(conn, part) for part in parts)


def _move_json(
    conn: "psycopg.Connection[Any]", statement: str, document: str, persisted_at: int
) -> int:
    return max(conn.execute(statement, (document, persisted_at, persisted_at)).rowcount, 0)


def _documents(rows: Sequence[Row]) -> list[str]:
    """``rows`` as JSON arrays of objects, each under MAX_DOCUMENT_BYTES (or of one row)."""
    try:
        document = orjson.dumps([{"i": i, "q": q, "p": p, "a": a} for i, q, p, a, _ in rows])
    except orjson.JSONEncodeError as error:  # a str that is not Unicode text: the event's fault
        raise psycopg.DataError(f"event not encodable as JSON: {error}") from error
    if len(document) <= MAX_DOCUMENT_BYTES or len(rows) == 1:
        return [document.decode()]
    half = len(rows) // 2
    return _documents(rows[:half]) + _documents(rows[half:])


def copy_batch(conn: "psycopg.Connection[Any]", rows: Sequence[Row], payload: PayloadType) -> int:
    """COPY into the staging table (made like ``events``: COPY reads each payload as the column's
    type, whichever ``payload`` is), then move the new rows; returns how many were new."""
    with conn.transaction(), conn.cursor() as cursor:
        with cursor.copy(_COPY) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(_MOVE)
        return max(cursor.rowcount, 0)


def executemany_batch(
    conn: "psycopg.Connection[Any]", rows: Sequence[Row], payload: PayloadType
) -> int:
    """Pipelined statements (psycopg 3 batches executemany into one round trip)."""
    params = [
        {"id": i, "queue": q, "payload": p, "accepted": a, "persisted": s} for i, q, p, a, s in rows
    ]
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(_INSERTS[payload], params)
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


WRITERS = {
    "arrays": arrays_batch,
    "json": json_batch,
    "copy": copy_batch,
    "executemany": executemany_batch,
}
