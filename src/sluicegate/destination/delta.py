"""The Delta Lake destination: one Delta table per queue, each event in it exactly once.

``persist`` adds a batch with one MERGE per queue (``delta_rows.py``): the events whose id is not
in the table yet among those accepted within ``dedup_window_s`` of the batch's are inserted, in
one commit. A batch delivered again after a crash between the commit and the ack, however it was
re-formed (own pending entries, entries reclaimed from a dead consumer, new ones), adds nothing:
its events keep their ``accepted_at``, so their first copies are inside the window. Two writers
of one table (QUEUE_CONSUMERS > 1, a reclaim racing a slow consumer) are serialised by Delta's
optimistic commits: the second MERGE's commit conflicts with the first's files, and it is run
again on the new version. docs/destinations.md has the invariant, its limits and the figures.

deltalake starts a tokio runtime on first use, which does not survive ``fork``: it is imported
only inside these methods, so the agent never loads it, and a process that forks after using it
is told so plainly instead of panicking in the child.
"""

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import unquote, urlsplit

from sluicegate.destination import delta_rows
from sluicegate.destination.delta_maintenance import Maintenance
from sluicegate.destination.delta_options import DeltaOptions
from sluicegate.destination.delta_sync import sync_commit
from sluicegate.errors import ConfigurationError, TransientStoreError
from sluicegate.events import Event, now_ms
from sluicegate.repository.sqlite import unique_events

if TYPE_CHECKING:
    from deltalake import DeltaTable

__all__ = ["DeltaDestination", "DeltaOptions"]
T = TypeVar("T")
_COMMIT_ATTEMPTS = 5  # a MERGE whose commit lost to another writer's is run again at once
# A table kept open and brought up to date commit by commit gets slower with every commit it
# replays (measured: a MERGE 1.5x slower after 150 commits, 3-6x after 300-470, than on a table
# opened afresh, which starts from the latest checkpoint, written every 100 commits).
_REOPEN_AFTER_COMMITS = 100
_CLOSE_WAIT_S = 1.0
_runtime_pid: int | None = None  # the process whose deltalake runtime exists, if any


class DeltaDestination:
    """A Delta table per queue under ``options.uri``, written through the Repository protocol."""

    def __init__(self, options: DeltaOptions) -> None:
        self.options = options
        self._tables: dict[str, DeltaTable] = {}
        self._opened_at: dict[str, int] = {}  # the version each table was opened at
        self.maintenance = Maintenance(options, self._fresh, self._sync)

    def persist(self, events: Sequence[Event]) -> int:
        """One MERGE per queue of the batch (a consumer's batch is one queue's: one commit);
        returns the rows that were new. TransientStoreError when the store is away or busy."""
        fresh = sorted(unique_events(events), key=lambda event: event.queue)
        persisted_at_ms = now_ms()
        inserted = 0
        for queue, group in groupby(fresh, key=lambda event: event.queue):
            inserted += self._merge(queue, list(group), persisted_at_ms)
            self.maintenance.start_if_due(queue)  # in a thread of its own
        return inserted

    def _merge(self, queue: str, events: list[Event], persisted_at_ms: int) -> int:
        from deltalake.exceptions import CommitFailedError

        source = delta_rows.rows(events, persisted_at_ms)
        predicate = delta_rows.Window.around(events, self.options.dedup_window_s).predicate()
        with self._classified(queue):
            table = self.table(queue)
            for attempt in range(1, _COMMIT_ATTEMPTS + 1):
                table.update_incremental()  # else every commit after another writer's conflicts
                merger = table.merge(
                    source,
                    predicate,
                    source_alias=delta_rows.SOURCE,
                    target_alias=delta_rows.TARGET,
                    streamed_exec=False,  # the source's id range prunes files (UUIDv7 ids)
                )
                try:
                    metrics = merger.when_not_matched_insert_all().execute()
                except CommitFailedError:
                    if attempt == _COMMIT_ATTEMPTS:
                        raise
                    continue
                self._sync(queue, table)
                self._reopen_if_long_open(queue, table)
                return int(metrics["num_target_rows_inserted"])
        raise AssertionError("unreachable")  # pragma: no cover

    def _sync(self, queue: str, table: "DeltaTable") -> None:
        """A folder on this host: the commit fsynced before the ack (``delta_sync.py``)."""
        root = _local_root(self.options.table_uri(queue))
        if root is not None:
            sync_commit(root, table.version())

    def _fresh(self, queue: str) -> "DeltaTable":
        """A handle of its own on ``queue``'s table (for the maintenance thread)."""
        from deltalake import DeltaTable

        return DeltaTable(self.options.table_uri(queue), storage_options=self._storage())

    def _storage(self) -> dict[str, str] | None:
        return dict(self.options.storage_options) or None

    def _reopen_if_long_open(self, queue: str, table: "DeltaTable") -> None:
        if table.version() - self._opened_at.get(queue, 0) >= _REOPEN_AFTER_COMMITS:
            self._tables.pop(queue, None)  # opened again from its latest checkpoint next time

    @property
    def connected(self) -> bool:
        return True  # nothing to connect to: each call reaches the store itself

    def count(self, queue: str | None = None) -> int:
        """Rows, from the files' statistics (written with every file)."""
        return sum(self._each(queue, lambda table: table.count()))

    def ids(self, queue: str | None = None) -> set[str]:
        found: set[str] = set()
        for chunk in self._each(queue, _event_ids):
            found.update(chunk)
        return found

    def maintain(self, wait: bool = False) -> dict[str, dict[str, int]]:
        """Start compacting (then vacuuming) a table this process writes if one is due
        (``persist`` does too: ``delta_maintenance.py``); ``wait`` for it. What the compactions
        finished since the last call did, by queue."""
        for queue in list(self._tables):
            if self.maintenance.start_if_due(queue):
                break  # one at a time
        if wait:
            self.maintenance.wait(timeout_s=None)
        return self.maintenance.reports()

    def close(self) -> None:
        """Forget the tables; a compaction still running after a second goes on until the
        process exits (then uncommitted: a later VACUUM removes its files)."""
        self.maintenance.wait(timeout_s=_CLOSE_WAIT_S)
        self._tables.clear()
        self._opened_at.clear()

    def file_uris(self, queue: str) -> list[str]:
        """The Parquet files of ``queue``'s table at its latest version (for other readers)."""
        return [uri for uris in self._each(queue, lambda table: table.file_uris()) for uri in uris]

    def _each(self, queue: str | None, read: Callable[["DeltaTable"], T]) -> list[T]:
        results: list[T] = []
        for name in [queue] if queue is not None else self._queues():
            with self._classified(name):
                table = self._existing(name)
                if table is not None:
                    table.update_incremental()
                    results.append(read(table))
        return results

    def _queues(self) -> list[str]:
        """The tables under a local root, and those this process opened (an object store's
        listing is not asked for: ``count()`` and ``ids()`` without a queue are for tests)."""
        found = set(self._tables)
        root = _local_root(self.options.uri)
        if root is not None and root.is_dir():
            found.update(p.parent.name for p in root.glob("*/_delta_log") if p.is_dir())
        return sorted(found)

    def table(self, queue: str) -> "DeltaTable":
        """The queue's table, made on first use (two makers at once: one wins, both use it)."""
        table = self._existing(queue)
        if table is None:
            from deltalake import DeltaTable

            DeltaTable.create(
                self.options.table_uri(queue),
                delta_rows.schema(),
                mode="ignore",
                partition_by=[delta_rows.PARTITION],
                storage_options=self._storage(),
                configuration={"delta.dataSkippingStatsColumns": delta_rows.STATS_COLUMNS},
            )
            table = self._existing(queue)
            assert table is not None
        return table

    def _existing(self, queue: str) -> "DeltaTable | None":
        """The queue's table if there is one; ConfigurationError if it is not sluicegate's."""
        if queue in self._tables:
            return self._tables[queue]
        _claim_runtime()
        from deltalake import DeltaTable

        uri, options = self.options.table_uri(queue), self._storage()
        if not DeltaTable.is_deltatable(uri, options):
            return None
        table = DeltaTable(uri, storage_options=options)
        _check_layout(uri, table)
        self._tables[queue] = table
        self._opened_at[queue] = table.version()
        return table

    @contextmanager
    def _classified(self, queue: str) -> Iterator[None]:
        """Every failure of the store is transient: the batch stays pending and is retried
        (a table that is not sluicegate's is a ConfigurationError, raised before)."""
        from deltalake.exceptions import DeltaError

        try:
            yield
        except (DeltaError, OSError) as error:
            self._tables.pop(queue, None)  # opened again next time: the store may have moved
            raise TransientStoreError(f"delta table {queue!r}: {error}") from error


def _claim_runtime() -> None:
    """deltalake's runtime is this process's, never a parent's from before a fork."""
    global _runtime_pid  # noqa: PLW0603 - one runtime per process, as deltalake has
    if _runtime_pid is None:
        _runtime_pid = os.getpid()
    elif _runtime_pid != os.getpid():
        raise ConfigurationError(
            f"deltalake was used in process {_runtime_pid} before it forked this one "
            f"({os.getpid()}); its runtime does not survive a fork: open Delta destinations "
            "only in the consumer processes"
        )


def _check_layout(uri: str, table: "DeltaTable") -> None:
    columns = [field.name for field in table.schema().fields]
    partitions = table.metadata().partition_columns
    if columns != list(delta_rows.COLUMNS) or partitions != [delta_rows.PARTITION]:
        raise ConfigurationError(
            f"the Delta table at {uri} is not a sluicegate table (columns {columns}, "
            f"partitioned by {partitions}; expected {list(delta_rows.COLUMNS)} by day)"
        )


def _event_ids(table: "DeltaTable") -> list[str]:
    column = table.scan(columns=["event_id"]).read_all()["event_id"]
    return [str(value) for value in column.to_pylist()]


def _local_root(uri: str) -> Path | None:
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return Path(uri) if parts.scheme == "" else None
