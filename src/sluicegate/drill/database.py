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

TABLE_SELECT = "SELECT event_id FROM events WHERE queue = "
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
    if is_postgres(url):
        return _postgres_rows(url, queue)
    db = sqlite3.connect(sqlite_path(url), timeout=_SQLITE_BUSY_MS / 1000)
    try:
        return [row[0] for row in db.execute(TABLE_SELECT + "?", (queue,))]
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return []  # no consumer has opened the database yet
        raise
    finally:
        db.close()


def _postgres_rows(url: str, queue: str) -> list[str]:
    psycopg = _psycopg()
    with psycopg.connect(url, autocommit=True) as db:
        try:
            return [row[0] for row in db.execute(TABLE_SELECT + "%s", (queue,))]
        except psycopg.errors.UndefinedTable:
            return []


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
