"""The drill's own view of the database: the stored ids, and making the database unavailable.

It reads ``event_id`` rows with one statement (not ``Repository.ids()``, which returns a set and so
could never show a duplicate): the list comes from one snapshot, so ``len(rows) - len(set(rows))``
counts duplicates exactly even while consumers write. The drill is the auditor: it reads the
database on its own on purpose, not through ``sluicegate.repository``, whose bugs it must catch.
"""

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

from sluicegate.errors import DrillError
from sluicegate.masking import mask_url

_SELECT = "SELECT queue, event_id FROM events WHERE queue >= {p} AND queue <= {p}"
_LAGS = (
    "SELECT queue, max(persisted_at - accepted_at) FROM events "
    "WHERE queue >= {p} AND queue <= {p} GROUP BY queue"
)
_SQLITE_BUSY_MS = 10_000
_MAINTENANCE_DB = "postgres"


def is_postgres(url: str) -> bool:
    return urlparse(url).scheme in ("postgresql", "postgres")


def sqlite_path(url: str) -> str:
    if not url.startswith("sqlite:///"):
        raise DrillError(f"not a sqlite:/// or postgresql:// database URL: {mask_url(url)!r}")
    return url.removeprefix("sqlite:///")


def event_rows(url: str, queue: str) -> list[str]:
    """Every stored ``event_id`` of ``queue``, one per row (a duplicate appears twice)."""
    return rows_by_queue(url, [queue])[queue]


def rows_by_queue(url: str, queues: list[str]) -> dict[str, list[str]]:
    """Every stored ``event_id`` of each of ``queues``, one per row, in ONE query however many
    queues: the rows between the first and the last name (the index's range), kept if theirs."""
    found: dict[str, list[str]] = {queue: [] for queue in queues}
    for queue, event_id in _query(url, _SELECT, (min(queues), max(queues))):
        if queue in found:
            found[queue].append(event_id)
    return found


def worst_lag_ms(url: str, queues: list[str]) -> dict[str, int]:
    """Each queue's worst lag, ``persisted_at - accepted_at`` of its slowest event (one query)."""
    wanted = set(queues)
    rows = _query(url, _LAGS, (min(queues), max(queues)))
    return {queue: int(lag) for queue, lag in rows if queue in wanted}


def _query(url: str, statement: str, bounds: tuple[str, str]) -> list[tuple[Any, ...]]:
    """Rows of ``statement`` (placeholders ``{p}``); none while the table does not exist yet."""
    if is_postgres(url):
        psycopg = _psycopg()
        with psycopg.connect(url, autocommit=True) as db:
            try:
                return list(db.execute(statement.format(p="%s"), bounds))
            except psycopg.errors.UndefinedTable:
                return []
    db = sqlite3.connect(sqlite_path(url), timeout=_SQLITE_BUSY_MS / 1000)
    try:
        return list(db.execute(statement.format(p="?"), bounds))
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return []  # no consumer has opened the database yet
        raise
    finally:
        db.close()


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as error:
        raise DrillError("PostgreSQL needs psycopg: pip install 'sluicegate[postgres]'") from error
    return psycopg


@contextmanager
def outage(url: str) -> Iterator[None]:
    """The database is unavailable to the consumers inside this block, and back after it."""
    if is_postgres(url):
        with _postgres_outage(url):
            yield
    else:
        with _sqlite_outage(sqlite_path(url)):
            yield


@contextmanager
def _sqlite_outage(path: str) -> Iterator[None]:
    """Hold the write lock (BEGIN EXCLUSIVE): every consumer's BEGIN IMMEDIATE gets SQLITE_BUSY."""
    db = sqlite3.connect(
        path, timeout=_SQLITE_BUSY_MS / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        db.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        if db.in_transaction:
            db.execute("ROLLBACK")
        db.close()


@contextmanager
def _postgres_outage(url: str) -> Iterator[None]:
    """Refuse new connections to the database and end the open ones; allow them again after."""
    psycopg = _psycopg()
    from psycopg import sql

    name = psycopg.conninfo.conninfo_to_dict(url).get("dbname")
    if not name:
        raise DrillError(f"no database name in {mask_url(url)!r}")
    admin_url = psycopg.conninfo.make_conninfo(url, dbname=_MAINTENANCE_DB)
    allow = "ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL(allow).format(sql.Identifier(name), sql.SQL("false")))
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            yield
        finally:
            admin.execute(sql.SQL(allow).format(sql.Identifier(name), sql.SQL("true")))


def hold(seconds: float) -> None:
    """Keep a fault in place for ``seconds``: part of the experiment, not a synchronisation."""
    threading.Event().wait(seconds)
