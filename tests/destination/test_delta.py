"""The Delta destination against the repository contract (read back by DuckDB, not deltalake),
plus what only a lake has: redelivered and re-formed batches, the dedup window, two writers at
once, compaction, a table that is not ours, a store that is away, and deltalake across a fork."""

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from sluicegate.destination import delta
from sluicegate.destination.config import load_destinations
from sluicegate.destination.delta import DeltaDestination, DeltaOptions
from sluicegate.errors import ConfigurationError, TransientStoreError
from sluicegate.events import Event, new_event_id
from sluicegate.repository import Repository
from tests.repository.contract import IdempotenceContract, StoredRow, make_events

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@pytest.fixture
def options(tmp_path: Path) -> DeltaOptions:
    return DeltaOptions.from_table({"uri": (tmp_path / "lake").as_uri()})


@pytest.fixture
def lake(options: DeltaOptions) -> Iterator[DeltaDestination]:
    destination = DeltaDestination(options)
    yield destination
    destination.close()


def read_parquet(destination: DeltaDestination, queue: str, columns: str) -> list[tuple]:
    """Rows as DuckDB reads them from the files delta-rs lists (no delta extension here)."""
    files = destination.file_uris(queue)
    if not files:
        return []
    return duckdb.sql(f"SELECT {columns} FROM read_parquet({files!r})").fetchall()


class TestDeltaDestination(IdempotenceContract):
    @pytest.fixture
    def open_repo(self, options: DeltaOptions) -> Callable[[], Repository]:
        return lambda: DeltaDestination(options)

    @pytest.fixture
    def read_row(self, lake: DeltaDestination) -> Callable[[str], StoredRow | None]:
        def read_row(event_id: str) -> StoredRow | None:
            columns = "queue, payload, epoch_ms(accepted_at), epoch_ms(persisted_at), event_id"
            rows = [r for r in read_parquet(lake, "orders", columns) if r[4] == event_id]
            return rows[0][:4] if rows else None

        return read_row

    def test_no_event_is_poison_to_a_delta_table(self, repository: Repository) -> None:
        """The payload is stored as text: nothing is refused for good, nothing to split."""
        odd = Event("orders", new_event_id(), "not JSON \x00 at all", 1)
        assert repository.persist([odd]) == 1


def test_a_reformed_redelivery_adds_only_what_is_new(lake: DeltaDestination) -> None:
    """A crash between commit and ack: the entries come back mixed with others, in another order
    and, reclaimed days later, beside today's events. Nothing is stored twice."""
    old = [e._replace(accepted_at_ms=e.accepted_at_ms - 72 * HOUR_MS) for e in make_events(6)]
    assert lake.persist(old[:4]) == 4
    new = make_events(3)
    assert lake.persist([new[0], old[3], *old[4:], old[0], *new[1:]]) == 5
    assert lake.persist(list(reversed(old + new))) == 0
    assert sorted(r[0] for r in read_parquet(lake, "orders", "event_id")) == sorted(
        e.event_id for e in old + new
    )


def test_an_id_accepted_again_is_deduplicated_within_the_window_only(
    options: DeltaOptions,
) -> None:
    """A client's retry re-POSTs an id (a new stream entry, a new accepted_at): stored once if
    accepted within dedup_window_s of the first copy, before or after it; twice beyond."""
    lake = DeltaDestination(replace(options, dedup_window_s=3600))
    first = make_events(2)
    lake.persist(first)
    shifts = (HOUR_MS - 1, 1 - HOUR_MS)  # just inside the window, after and before
    retried = [
        e._replace(accepted_at_ms=e.accepted_at_ms + shift)
        for e, shift in zip(first, shifts, strict=True)
    ]
    assert lake.persist(retried) == 0
    assert lake.persist([first[0]._replace(accepted_at_ms=first[0].accepted_at_ms + 2 * HOUR_MS)])
    assert lake.count("orders") == 3


def test_two_writers_of_one_table_store_each_event_once(options: DeltaOptions) -> None:
    """Two consumers (lock slots) or a reclaim racing a slow consumer: both MERGE overlapping
    batches at once; Delta's commit conflict makes the second run again on the first's rows."""
    events = make_events(300)
    DeltaDestination(options).persist(events[:1])  # the table exists before the race
    batches = [events[:200], events[100:], events[50:250]]
    inserted: list[int] = []

    def write(batch: list[Event]) -> None:
        inserted.append(DeltaDestination(options).persist(batch))

    threads = [threading.Thread(target=write, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    ids = [r[0] for r in read_parquet(DeltaDestination(options), "orders", "event_id")]
    assert sorted(ids) == sorted(e.event_id for e in events)
    assert sum(inserted) == 299


def test_each_queue_has_its_own_table_partitioned_by_day(
    lake: DeltaDestination, options: DeltaOptions
) -> None:
    orders, mails = make_events(3, "orders"), make_events(2, "mails")
    mails[1] = mails[1]._replace(accepted_at_ms=1_700_000_000_000)  # 2023-11-14 UTC
    assert lake.persist(orders + mails) == 5
    files = lake.file_uris("mails")
    assert sorted(Path(f).parent.name for f in files)[0] == "day=2023-11-14"
    days = duckdb.sql(
        f"SELECT DISTINCT day FROM read_parquet({files!r}, hive_partitioning = true) ORDER BY 1"
    ).fetchall()
    assert str(days[0][0]) == "2023-11-14"
    assert (lake.count("orders"), lake.count("mails"), lake.count()) == (3, 2, 5)
    assert Path(options.uri.removeprefix("file://"), "orders", "_delta_log").is_dir()


def test_written_tables_are_compacted_in_the_background_once_per_interval(
    options: DeltaOptions,
) -> None:
    """The days that ended more than the dedup window ago (today's files are what a MERGE
    reads), in a thread, started by the first batch a new process writes, then every interval."""
    never = DeltaDestination(replace(options, optimize_interval_s=0))
    old = [e._replace(accepted_at_ms=e.accepted_at_ms - 2 * DAY_MS) for e in make_events(3)]
    for event in [*make_events(2), *old]:
        never.persist([event])
    assert never.maintain(wait=True) == {}
    lake = DeltaDestination(replace(options, optimize_interval_s=3600))
    lake.persist(make_events(1))
    assert lake.maintain(wait=True) == {"orders": {"files_added": 1, "files_removed": 3}}
    assert len(lake.file_uris("orders")) == 4
    lake.persist(make_events(1))
    assert lake.maintain(wait=True) == {}, "not due again before the interval"
    assert lake.count("orders") == 7


def test_a_table_that_is_not_sluicegates_is_refused(options: DeltaOptions) -> None:
    from arro3.core import Array, DataType, Table
    from deltalake import write_deltalake

    alien = Table.from_pydict({"id": Array(["x"], DataType.string())})
    write_deltalake(options.table_uri("orders"), alien)
    with pytest.raises(ConfigurationError, match="not a sluicegate table"):
        DeltaDestination(options).persist(make_events(1))


def test_a_store_that_cannot_be_written_is_transient(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file where the lake's folder should be")
    lake = DeltaDestination(DeltaOptions.from_table({"uri": (tmp_path / "file").as_uri()}))
    with pytest.raises(TransientStoreError, match="delta table 'orders'"):
        lake.persist(make_events(1))


def test_a_parents_deltalake_is_refused_in_its_forked_child(
    lake: DeltaDestination, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delta, "_runtime_pid", os.getpid() + 1)
    with pytest.raises(ConfigurationError, match="does not survive a fork"):
        lake.persist(make_events(1))


FORKED = """
import json, os, sys
from sluicegate.destination.delta import DeltaDestination, DeltaOptions
from sluicegate.events import Event, new_event_id, now_ms
options = DeltaOptions.from_table({"uri": sys.argv[1]})
events = [Event("orders", new_event_id(), json.dumps({"n": n}), now_ms()) for n in range(50)]
codes = []
for leave in ("os._exit", "interpreter exit"):  # the consumer's way out, and a plain script's
    pid = os.fork()
    if pid == 0:
        lake = DeltaDestination(options)
        lake.persist(events)
        lake.maintain()
        lake.close()
        if leave == "os._exit":
            os._exit(0)
        sys.exit(0)
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(json.dumps({"codes": codes, "rows": DeltaDestination(options).count("orders")}))
"""


def test_forked_children_that_used_deltalake_exit_cleanly(tmp_path: Path) -> None:
    """The agent never uses deltalake before it forks (its runtime would not survive); a child
    that used it leaves with exit 0 and nothing on stderr, by os._exit as a consumer does or by
    the interpreter's own exit (no pyarrow: its scanner threads abort an exiting interpreter)."""
    done = subprocess.run(
        [sys.executable, "-c", FORKED, (tmp_path / "lake").as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout) == {"codes": [0, 0], "rows": 50}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "uri is required"),
        ({"uri": "file:///l", "batch_size": 5}, r"unknown keys \['batch_size'\]"),
        ({"uri": "lake"}, "must be absolute"),
        ({"uri": "ftp://host/lake"}, "scheme 'ftp' is not one delta-rs opens"),
        ({"uri": 5}, "a URI is needed"),
        ({"uri": "/l", "batch_max_events": 0}, r"batch_max_events: 0 is out of range"),
        ({"uri": "/l", "batch_max_events": 2.5}, "a whole number is needed"),
        ({"uri": "/l", "batch_max_seconds": True}, "a number is needed"),
        ({"uri": "/l", "batch_max_seconds": float("nan")}, "a finite number"),
        ({"uri": "/l", "optimize_interval_s": 0.5}, r"0 \(never\) or at least 1 second"),
        ({"uri": "/l", "vacuum_retention_s": 60}, "out of range"),
        ({"uri": "/l", "storage_options": {"AWS_REGION": 1}}, r"keys \['AWS_REGION'\]"),
        ({"uri": "s3://b/l", "storage_options": {"aws_s3_allow_unsafe_rename": "TRUE"}},
         "overwrite each other"),
    ],
)  # fmt: skip
def test_options_say_what_is_wrong(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        DeltaOptions.from_table(table, name="lake")


def test_a_destinations_file_names_the_delta_option_that_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "destinations.toml"
    path.write_text('[destinations.lake]\nkind = "delta"\nuri = "/l"\nbatch_max_events = 0\n')
    with pytest.raises(ConfigurationError, match=r"\[destinations.lake\]: batch_max_events: 0"):
        load_destinations(path)


def test_options_defaults_and_secrets_kept_out_of_repr() -> None:
    options = DeltaOptions.from_table(
        {"kind": "delta", "uri": "s3://bucket/lake", "storage_options": {"AWS_SECRET": "hush"}}
    )
    assert (options.batch_max_events, options.batch_max_seconds) == (10_000, 10.0)
    assert options.table_uri("orders") == "s3://bucket/lake/orders"
    assert options.vacuum_retention_hours == 168
    assert "hush" not in repr(options)


def test_a_table_long_open_is_opened_again_from_its_checkpoint(
    lake: DeltaDestination, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handle brought up to date commit by commit slows down with every commit it replays."""
    monkeypatch.setattr(delta, "_REOPEN_AFTER_COMMITS", 2)
    lake.persist(make_events(1))  # version 1 (0 made the table, and it was opened at 0)
    first = lake.table("orders")
    lake.persist(make_events(1))  # version 2: opened again at the next use
    assert lake.table("orders") is not first
    assert lake.count("orders") == 2
