"""OPTIMIZE and VACUUM of the queue tables a consumer writes, on the destination's schedule.

Every batch is a commit and a small file per day it spans; compaction rewrites a partition's
small files into files of about ``optimize_target_bytes`` (delta-rs leaves partitions with
nothing to merge alone, so a run with nothing to do is cheap). Only the days that no MERGE reads
any more are compacted: those that ended more than ``dedup_window_s`` ago. Today's small files
are what keeps a MERGE's lookup to its window's worth of rows (a compacted file spans hours of
events, and the window would read all of it), and a compaction never removes the files a MERGE
running at the same time has read. A compaction that removed files
is followed by a VACUUM that deletes the files removed more than ``vacuum_retention_s`` ago, and
the files of commits that never happened (a MERGE whose commit lost to another writer's), so a
reader with an older snapshot keeps its files for that long.

The schedule is per process: the first ``maintain()`` after a table is opened runs at once, then
every ``optimize_interval_s``. Consumers of one queue in several processes may compact at the
same moment: one commit wins, the other is reported as a conflict and tried at its next turn.
A redelivered old batch racing a compaction of its day is run again on the new version.
"""

import time
from typing import TYPE_CHECKING

from sluicegate.destination.delta_options import DeltaOptions
from sluicegate.destination.delta_rows import PARTITION, day_of
from sluicegate.events import now_ms

if TYPE_CHECKING:
    from deltalake import DeltaTable


class Maintenance:
    """When each queue's table is next due, in this process."""

    def __init__(self, options: DeltaOptions) -> None:
        self.options = options
        self._next: dict[str, float] = {}

    def due(self, queue: str) -> bool:
        if self.options.optimize_interval_s == 0:
            return False
        return time.monotonic() >= self._next.get(queue, 0.0)

    def run_if_due(self, queue: str, table: "DeltaTable") -> dict[str, int]:
        """Compact (then vacuum) ``table`` if due; what was done, empty when nothing."""
        if not self.due(queue):
            return {}
        self._next[queue] = time.monotonic() + self.options.optimize_interval_s
        return run(table, self.options)


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
