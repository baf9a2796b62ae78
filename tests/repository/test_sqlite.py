"""SQLite against the repository contract, plus its own way of being busy (a held write lock)."""

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sluicegate.errors import RejectedEventError, TransientStoreError
from sluicegate.events import Event
from sluicegate.repository import EventStore, Repository, open_repository
from sluicegate.repository.sqlite import SqliteRepository
from tests.repository.contract import RepositoryContract, StoredRow, make_events
from tests.repository.lifecycle_contract import LifecycleContract

POISON_TRIGGER = """
CREATE TRIGGER poison BEFORE INSERT ON events
WHEN json_extract(NEW.payload, '$.poison') IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'poison'); END
"""


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "events.db"


class TestSqliteRepository(RepositoryContract):
    @pytest.fixture
    def open_repo(self, db_path: Path) -> Iterator[Callable[[], Repository]]:
        opened: list[SqliteRepository] = []

        def open_repo() -> Repository:
            opened.append(SqliteRepository(db_path))
            return opened[-1]

        yield open_repo
        for repository in opened:
            repository.close()

    @pytest.fixture
    def poison(
        self, open_repo: Callable[[], Repository], db_path: Path
    ) -> Callable[[str, str], Event]:
        open_repo()  # the schema exists before the trigger is added to it
        with sqlite3.connect(db_path) as db:
            db.execute(POISON_TRIGGER)
        return lambda event_id, queue: Event(queue, event_id, json.dumps({"poison": 1}), 1)

    @pytest.fixture
    def read_row(self, db_path: Path) -> Callable[[str], StoredRow | None]:
        def read_row(event_id: str) -> StoredRow | None:
            with sqlite3.connect(db_path) as db:
                row: StoredRow | None = db.execute(
                    "SELECT queue, payload, accepted_at, persisted_at FROM events "
                    "WHERE event_id = ?",
                    (event_id,),
                ).fetchone()
            return row

        return read_row


def test_a_trigger_abort_is_an_integrity_error_mapped_to_rejected(db_path: Path) -> None:
    """RAISE(ABORT) is SQLITE_CONSTRAINT_TRIGGER, which sqlite3 raises as IntegrityError."""
    repository = SqliteRepository(db_path)
    with sqlite3.connect(db_path) as db:
        db.execute(POISON_TRIGGER)
        with pytest.raises(sqlite3.IntegrityError, match="poison"):
            db.execute("INSERT INTO events VALUES ('x', 'q', '{\"poison\": 1}', 1, 1)")
    with pytest.raises(RejectedEventError, match="poison") as caught:
        repository.persist([Event("q", "x", '{"poison": 1}', 1)])
    assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
    repository.close()


def test_a_value_over_the_length_limit_is_rejected_not_retried_forever(db_path: Path) -> None:
    """SQLITE_TOOBIG is sqlite3.DataError: the event's fault, so it may be dead-lettered."""
    repository = SqliteRepository(db_path)
    repository._db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1000)
    with pytest.raises(RejectedEventError, match="too big"):
        repository.persist([Event("q", "big", json.dumps({"a": "x" * 5000}), 1)])
    repository.close()


def test_a_held_write_lock_is_transient_and_clears_after_release(db_path: Path) -> None:
    repository = SqliteRepository(db_path)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    with pytest.raises(TransientStoreError, match="locked"):
        repository.persist(make_events(3))
    assert time.monotonic() - started < 3.0, "busy timeout should be short"
    holder.execute("COMMIT")
    holder.close()
    assert repository.persist(make_events(3)) == 3
    repository.close()


def test_open_repository_selects_sqlite_by_scheme(db_path: Path) -> None:
    repository = open_repository(f"sqlite:///{db_path}")
    assert isinstance(repository, SqliteRepository)
    assert repository.path == db_path
    repository.close()


class TestSqliteLifecycle(LifecycleContract):
    @pytest.fixture
    def open_store(self, db_path: Path) -> Iterator[Callable[[], EventStore]]:
        opened: list[SqliteRepository] = []

        def open_store() -> EventStore:
            opened.append(SqliteRepository(db_path))
            return opened[-1]

        yield open_store
        for repository in opened:
            repository.close()
