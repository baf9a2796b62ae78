"""PostgreSQL repository: one managed connection that reconnects, batches written idempotently.

Why one connection and not a pool: a consumer is a single-threaded process that runs one
transaction at a time, so a pool would only add worker threads and a ``getconn`` that waits up to
its timeout while the database is down. The consumer needs the opposite: fail fast with
``TransientStoreError`` so its retry loop keeps the worker lock alive and sees stop signals, then
reconnect on the next call. The connection is opened lazily for the same reason: a consumer that
starts while the database is away waits in that loop instead of crashing.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from sluicegate.errors import DatabaseRefusedError, RejectedEventError, TransientStoreError
from sluicegate.events import Event, now_ms
from sluicegate.logs import get_logger
from sluicegate.repository import postgres_lifecycle
from sluicegate.repository.lifecycle import Cursor, RetentionReport, StoredEvent, StoredState
from sluicegate.repository.postgres_schema import (
    PayloadType,
    ensure_partitions,
    ensure_schema,
    is_missing_partition,
    migrate,
)
from sluicegate.repository.postgres_writes import (
    WRITERS,
    Row,
    WriteStrategy,
    prepare_session,
    unique_rows,
)
from sluicegate.repository.standbys import wait_for_standbys
from sluicegate.retention import RetentionPolicy, day_start_ms

# Chosen by bench/bench_repositories.py (docs/postgres.md has the figures).
DEFAULT_STRATEGY: WriteStrategy = "arrays"

# One maintainer at a time per schema (a session lock: released at the end of the pass, or with
# the session); the schema in the key lets deployments share a database.
_MAINTAIN_KEY = "hashtext('sluicegate.maintain.' || current_schema())"
_TRY_MAINTAIN = f"SELECT pg_try_advisory_lock({_MAINTAIN_KEY})"
_END_MAINTAIN = f"SELECT pg_advisory_unlock({_MAINTAIN_KEY})"


# Fail fast on a dead address, and notice a silently vanished server within ~20 s instead of
# hanging in recv() forever. Values given in the URL win.
_CONNECT_DEFAULTS = {
    "connect_timeout": "3",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "3",
    "keepalives_count": "3",
    "application_name": "sluicegate",
}


def with_connect_defaults(url: str) -> str:
    """The URL as a libpq conninfo string, with our timeouts where the URL sets none. With
    several hosts (a primary and its standbys), connect to the one that accepts writes: after a
    failover, the next connection finds the new primary."""
    given = conninfo_to_dict(url)
    several = "," in str(given.get("host", "")) or "," in str(given.get("hostaddr", ""))
    defaults = _CONNECT_DEFAULTS | ({"target_session_attrs": "read-write"} if several else {})
    return make_conninfo("", **{**defaults, **given})


class PostgresRepository:
    """``replicas``: DATABASE_REPLICAS, standbys that must have flushed a batch before
    ``persist`` returns (``repository/standbys.py``), waited for up to ``replicas_timeout_s``.
    ``payload``: POSTGRES_PAYLOAD, the payload column's type in tables made here; ``self.payload``
    is the type of the table found at connect (one made before keeps its own)."""

    def __init__(
        self,
        url: str,
        strategy: WriteStrategy = DEFAULT_STRATEGY,
        replicas: int = 0,
        replicas_timeout_s: float = 1.0,
        payload: PayloadType = "json",
    ) -> None:
        self._conninfo = with_connect_defaults(url)
        self.strategy = strategy
        self._write = WRITERS[strategy]
        self._wanted = payload
        self.payload = payload
        self._conn: psycopg.Connection[Any] | None = None
        self.replicas = replicas
        self.replicas_timeout_s = replicas_timeout_s
        self._unconfirmed: tuple[tuple[str, ...], int] | None = None  # ids, rows added

    def persist(self, events: Sequence[Event]) -> int:
        if not events:
            return 0
        persisted_at = now_ms()
        rows = unique_rows(
            [(e.event_id, e.queue, e.payload, e.accepted_at_ms, persisted_at) for e in events]
        )
        with self._classified_errors():
            conn = self._connection()
            inserted = self._write_with_partitions(conn, rows)
            if self.replicas:
                inserted = self._confirmed(conn, rows, inserted)
            return inserted

    def _confirmed(
        self, conn: "psycopg.Connection[Any]", rows: Sequence[Row], inserted: int
    ) -> int:
        """Wait for the standbys (StandbysBehindError: transient, the connection is fine). The
        rows a batch added before a wait that timed out still count as new when the same batch
        is written again (it then finds them there): the metrics count each event once."""
        batch = tuple(row[0] for row in rows)
        unconfirmed, self._unconfirmed = self._unconfirmed, (batch, inserted)
        if unconfirmed is not None and unconfirmed[0] == batch:
            inserted = max(inserted, unconfirmed[1])
            self._unconfirmed = (batch, inserted)
        wait_for_standbys(conn, self.replicas, self.replicas_timeout_s)
        self._unconfirmed = None
        return inserted

    def _write_with_partitions(self, conn: "psycopg.Connection[Any]", rows: list[Row]) -> int:
        """Write; a day without a partition (a backlog from before the ones made ahead, or a
        replayed old event) gets one, and the batch is written again."""
        try:
            return self._write(conn, rows, self.payload)
        except psycopg.Error as error:
            if not is_missing_partition(error):
                raise
        ensure_partitions(conn, {day_start_ms(row[3]) for row in rows})
        return self._write(conn, rows, self.payload)

    def migrate(self) -> int | None:
        """``sluicegate migrate`` (``postgres_schema.migrate``): rows moved, or None."""
        with self._classified_errors(), psycopg.connect(self._conninfo, autocommit=True) as conn:
            moved = migrate(conn, now_ms())
            ensure_schema(conn, now_ms(), self._wanted)
            return moved

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def delete(self, queue: str, event_ids: Sequence[str], who: str) -> int:
        with self._classified_errors():
            return postgres_lifecycle.delete_ids(
                self._connection(), queue, event_ids, who, now_ms()
            )

    def delete_before(self, queue: str, before_ms: int, who: str) -> int:
        with self._classified_errors():
            conn = self._connection()
            return postgres_lifecycle.delete_before(conn, queue, before_ms, (who, now_ms()))

    def locate(self, event_id: str) -> StoredState | None:
        with self._classified_errors():
            return postgres_lifecycle.locate(self._connection(), event_id)

    def page(self, queue: str, after: Cursor | None, limit: int) -> list[StoredEvent]:
        with self._classified_errors():
            return postgres_lifecycle.page(self._connection(), queue, after, limit)

    def oldest(self, queue: str) -> int | None:
        with self._classified_errors():
            return postgres_lifecycle.oldest(self._connection(), queue)

    def expire(self, policy: RetentionPolicy, at_ms: int) -> RetentionReport | None:
        """One maintenance pass, or None when another maintainer holds the lock."""
        with self._classified_errors():
            conn = self._connection()
            if not conn.execute(_TRY_MAINTAIN).fetchone()[0]:  # type: ignore[index]
                return None
            try:
                return postgres_lifecycle.expire(conn, policy, at_ms)
            finally:
                conn.execute(_END_MAINTAIN)

    def count(self, queue: str | None = None) -> int:
        sql, args = _filtered("SELECT count(*) FROM events", queue)
        with self._classified_errors():
            row = self._connection().execute(sql, args).fetchone()
        return int(row[0]) if row else 0

    def ids(self, queue: str | None = None) -> set[str]:
        sql, args = _filtered("SELECT event_id FROM events", queue)
        with self._classified_errors():
            return {row[0] for row in self._connection().execute(sql, args)}

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connection(self) -> "psycopg.Connection[Any]":
        """The open connection, or a new one with the schema ensured (after a start or a loss)."""
        if self._conn is not None and not self._conn.closed:
            return self._conn
        conn = psycopg.connect(self._conninfo, autocommit=True)
        try:
            found = ensure_schema(conn, now_ms(), self._wanted)
            prepare_session(conn, self.strategy)
        except BaseException:
            conn.close()
            raise
        if found != self.payload:  # said once, not at every reconnect
            get_logger().warning(
                "postgres-payload-type-kept",
                table=found,
                setting=self._wanted,
                hint="a table keeps the type it was made with (docs/postgres.md)",
            )
        self.payload = found
        self._conn = conn
        return conn

    @contextmanager
    def _classified_errors(self) -> Iterator[None]:
        """Translate psycopg errors; after a transient one, drop the connection to reconnect."""
        try:
            yield
        except psycopg.Error as error:
            translated = classify(error)
            if isinstance(translated, TransientStoreError):
                self._drop_connection()
            raise translated from error

    def _drop_connection(self) -> None:
        """Forget a connection that failed; closing a broken one must not raise over the cause."""
        try:
            self.close()
        except psycopg.Error:
            pass


# The server refuses new connections: too_many_connections, cannot_connect_now (starting up or
# shutting down). At connect time libpq reports them as text, without a SQLSTATE.
_REFUSED_STATES = frozenset({"53300", "57P03"})
_REFUSED_TEXTS = (
    "too many clients",
    "too many connections for",  # a role's or a database's CONNECTION LIMIT (53300 as well)
    "remaining connection slots are reserved",
    "the database system is starting up",
    "the database system is shutting down",
)


def classify(error: psycopg.Error) -> TransientStoreError | RejectedEventError:
    """The event's fault -> RejectedEventError; anything else -> TransientStoreError.

    Only data and integrity errors (SQLSTATE classes 22 and 23, or psycopg refusing a NUL before
    sending) blame the batch. Everything else (connection lost or refused, admin shutdown,
    serialization failure, deadlock, too many connections, but also a missing table or a
    revoked permission) keeps the batch pending: retrying forever is safe, dead-lettering good
    events is not. A refused connection is ``DatabaseRefusedError``: the agent's consumers back off
    from it together (worker/board.py) instead of each adding to the storm.
    """
    if isinstance(error, psycopg.DataError | psycopg.IntegrityError):
        return RejectedEventError(_describe(error))
    if error.sqlstate in _REFUSED_STATES or any(text in str(error) for text in _REFUSED_TEXTS):
        return DatabaseRefusedError(_describe(error))
    return TransientStoreError(_describe(error))


def _filtered(sql: str, queue: str | None) -> tuple[str, tuple[str, ...]]:
    return (sql + " WHERE queue = %s", (queue,)) if queue is not None else (sql, ())


def _describe(error: psycopg.Error) -> str:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"{error.sqlstate or type(error).__name__}: {first_line}"
