"""OPTIMIZE and VACUUM of the queue tables a process writes, on the destination's schedule.

Every batch is a commit and a small file per day it spans; compaction rewrites a partition's
small files into files of about ``optimize_target_bytes`` (delta-rs leaves partitions with
nothing to merge alone, so a run with nothing to do is cheap). Only the days that no MERGE reads
any more are compacted: those that ended more than ``dedup_window_s`` ago. Today's small files
are what keeps a MERGE's lookup to its window's worth of rows (a compacted file spans hours of
events, and the window would read all of it), and a compaction never removes the files a MERGE
running at the same time has read. A compaction that removed files is followed by a VACUUM that
deletes the files removed more than ``vacuum_retention_s`` ago, and the files of commits that
never happened (a MERGE whose commit lost to another writer's), so a reader with an older
snapshot keeps its files for that long.

The destination schedules it itself: a table written to is due at once in a new process, then
every ``optimize_interval_s``, and a due table is compacted in a thread of its own (one at a
time), on a table handle of its own, while batches go on: compacting a closed day of a busy queue
takes longer than a consumer may go without heartbeating its lock. delta-rs works without the
GIL. A consumer leaves with ``os._exit``, which ends a compaction midway harmlessly: its files
were not committed, and a later VACUUM removes them. Consumers of one queue in several processes
may compact at the same moment: one commit wins, the other is reported as a conflict and tried
at its next turn. A redelivered old batch racing a compaction of its day is run again.
"""

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sluicegate.destination.delta_options import DeltaOptions
from sluicegate.destination.delta_rows import PARTITION, day_of
from sluicegate.events import now_ms
from sluicegate.logs import get_logger

if TYPE_CHECKING:
    from deltalake import DeltaTable


class Maintenance:
    """When each queue's table is next due in this process, and the thread compacting one."""

    def __init__(
        self,
        options: DeltaOptions,
        open_table: "Callable[[str], DeltaTable]",
        sync: "Callable[[str, DeltaTable], None]",
    ) -> None:
        self.options = options
        self._open_table = open_table  # a handle of the thread's own, opened afresh
        self._sync = sync  # a local table's new commit fsynced
        self._next: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._reports: dict[str, dict[str, int]] = {}
        self._log = get_logger(pid=os.getpid())

    def start_if_due(self, queue: str) -> bool:
        """Start compacting ``queue``'s table in the background if it is due and no compaction
        runs; True when one was started."""
        if self.options.optimize_interval_s == 0 or self.running:
            return False
        if time.monotonic() < self._next.get(queue, 0.0):
            return False
        self._next[queue] = time.monotonic() + self.options.optimize_interval_s
        self._thread = threading.Thread(
            target=self._run, args=(queue,), name=f"delta-maintenance-{queue}", daemon=True
        )
        self._thread.start()
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout_s: float | None) -> bool:
        """Wait for the running compaction (None: as long as it takes); False when it still
        runs after ``timeout_s``."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.running

    def reports(self) -> dict[str, dict[str, int]]:
        """What the compactions finished since the last call did, by queue (then forgotten)."""
        done, self._reports = self._reports, {}
        return done

    def _run(self, queue: str) -> None:
        started = time.monotonic()
        try:
            table = self._open_table(queue)
            report = run(table, self.options)
            if report.get("files_added"):
                self._sync(queue, table)
        except Exception as error:  # a thread has no caller: say it, try at the next turn
            self._log.warning("delta-maintenance-failed", queue=queue, error=str(error))
            return
        if report:
            self._reports[queue] = report
            seconds = round(time.monotonic() - started, 3)
            self._log.info("delta-maintained", queue=queue, seconds=seconds, **report)


def run(table: "DeltaTable", options: DeltaOptions) -> dict[str, int]:
    """One compaction of the days no MERGE reads any more, and the VACUUM it calls for."""
    from deltalake.exceptions import CommitFailedError

    table.update_incremental()
    closed = day_of(now_ms() - int(options.dedup_window_s * 1000))
    try:
        metrics = table.optimize.compact(
            partition_filters=[(PARTITION, "<", closed)],
            target_size=options.optimize_target_bytes,
            max_concurrent_tasks=1,  # a consumer's CPU is shared with its batches
        )
    except CommitFailedError:  # another process compacted (or rewrote) it meanwhile
        return {"conflicts": 1}
    report = {
        "files_added": int(metrics["numFilesAdded"]),
        "files_removed": int(metrics["numFilesRemoved"]),
    }
    if report["files_removed"]:
        vacuumed = table.vacuum(
            retention_hours=options.vacuum_retention_hours,
            dry_run=False,
            enforce_retention_duration=False,  # the option is the retention, not the default
        )
        report["files_vacuumed"] = len(vacuumed)
    return {key: value for key, value in report.items() if value}
