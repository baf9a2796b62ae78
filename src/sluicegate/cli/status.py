"""What ``sluicegate status`` reports: per queue where the events are, and who consumes it.

The figures are the API's ``GET /v1/queues`` (``QueueSnapshot.as_json``), plus the rows the
database holds. A queue with several destinations has a row for each (its lag, its dead letters,
its consumers, its conservation line, and the rows its own store holds: ``cli/destination_stores``).
``--watch`` redraws them every second with in/out rates from the last sample.
"""

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import redis
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from sluicegate.cli.destination_stores import DestinationStores
from sluicegate.events import now_ms
from sluicegate.queue.backoff_notes import BackoffNote
from sluicegate.queue.crash_record import CrashRecord, crash_records
from sluicegate.queue.keys import DEFAULT_DESTINATION
from sluicegate.queue.lanes import Lane
from sluicegate.queue.retention_record import read_retention
from sluicegate.queue.stats import QueueSnapshot, list_queues, snapshot
from sluicegate.repository import EventStore

WATCH_INTERVAL_S = 1.0
_CAPTION = (
    "accepted = persisted + queued + in flight + dead; absorbed: redeliveries the database "
    "already had; lag: age of the oldest event not yet stored; oldest stored: age of the oldest "
    "row; expired: rows dropped by retention"
)


@dataclass(frozen=True, slots=True)
class QueueStatus:
    snapshot: QueueSnapshot
    rows: int | None  # rows in the destination's store (None: it cannot be read)
    sampled_at_s: float  # monotonic clock, for rates
    crash: CrashRecord | None = None  # its consumers died serving it: retried later
    oldest_stored_ms: int | None = None  # accepted_at of its oldest row in the database
    expired: int = 0  # rows dropped by retention (sluicegate maintain), all passes together


@dataclass(frozen=True, slots=True)
class Rates:
    in_per_s: float  # accepted
    out_per_s: float  # persisted or dead-lettered


def gather(
    client: "redis.Redis", stores: EventStore | DestinationStores, slots: int = 1
) -> list[QueueStatus]:
    """Every queue's lanes; ``stores``: each destination's (or the default database alone);
    ``slots`` is QUEUE_CONSUMERS (how many lock slots to look at)."""
    if not isinstance(stores, DestinationStores):
        stores = DestinationStores(stores)
    lanes = [lane for queue in list_queues(client) for lane in snapshot(client, queue, slots).lanes]
    crashes = crash_records(client, [Lane(lane.queue, lane.destination) for lane in lanes])
    retention = read_retention(client)
    found = []
    for lane in lanes:
        queue, destination = lane.queue, lane.destination
        maintained = destination == DEFAULT_DESTINATION and queue in retention  # DATABASE_URL's
        found.append(
            QueueStatus(
                lane,
                stores.rows(destination, queue),
                time.monotonic(),
                crashes.get(Lane(queue, destination)),
                stores.oldest(destination, queue),
                retention[queue].dropped if maintained else 0,
            )
        )
    return found


def as_json(statuses: list[QueueStatus]) -> list[dict[str, Any]]:
    return [
        {
            **status.snapshot.as_json(),
            "rows_in_database": status.rows,
            "oldest_stored_at_ms": status.oldest_stored_ms,
            "expired_by_retention": status.expired,
            "crash": asdict(status.crash) if status.crash else None,
        }
        for status in statuses
    ]


def rates(now: QueueStatus, before: QueueStatus | None) -> Rates | None:
    if before is None or now.sampled_at_s <= before.sampled_at_s:
        return None
    elapsed_s = now.sampled_at_s - before.sampled_at_s
    gone = now.snapshot.persisted + now.snapshot.dead_lettered
    gone_before = before.snapshot.persisted + before.snapshot.dead_lettered
    return Rates(
        max(now.snapshot.accepted - before.snapshot.accepted, 0) / elapsed_s,
        max(gone - gone_before, 0) / elapsed_s,
    )


def status_table(
    statuses: list[QueueStatus], previous: dict[tuple[str, str], QueueStatus] | None = None
) -> Table:
    """One row a queue; with ``previous`` samples, also the in/out rates since them."""
    columns = ["accepted", "queued", "in flight", "dead", "persisted"]
    columns += ["absorbed", "lag", "oldest stored", "expired", "consumers", "accepted ="]
    if previous is not None:
        columns[0:0] = ["in/s", "out/s"]
    several = any(item.snapshot.destination != DEFAULT_DESTINATION for item in statuses)
    if several:
        columns[0:0] = ["destination"]
    table = Table(title="sluicegate status", caption=_CAPTION)
    table.add_column("queue", no_wrap=True)
    for column in columns:
        table.add_column(column, justify="left" if column == "consumers" else "right")
    for item in statuses:
        cells = _row(item, previous)
        table.add_row(*([*cells[:1], item.snapshot.destination, *cells[1:]] if several else cells))
    return table


def lane_of(status: QueueStatus) -> tuple[str, str]:
    return status.snapshot.queue, status.snapshot.destination


def _row(item: QueueStatus, previous: dict[tuple[str, str], QueueStatus] | None) -> list[str]:
    snap = item.snapshot
    cells = [
        snap.queue,
        f"{snap.accepted:,}",
        f"{snap.queued:,}",
        f"{snap.in_flight:,}",
        f"{snap.dead_lettered:,}",
        f"{snap.persisted:,}",
        f"{snap.duplicates_suppressed:,}",
        f"{snap.oldest_age_s:.1f}s",
        _age(item.oldest_stored_ms),
        f"{item.expired:,}",
        _consumers_cell(item),
        "[green]holds[/]" if snap.unaccounted == 0 else f"[red]{snap.unaccounted:+,} off[/]",
    ]
    if previous is not None:
        found = rates(item, previous.get(lane_of(item)))
        cells[1:1] = [f"{found.in_per_s:,.0f}", f"{found.out_per_s:,.0f}"] if found else ["…"] * 2
    return cells


def _age(epoch_ms: int | None) -> str:
    """How long ago, in the largest whole unit: ``3d``, ``5h``, ``12m``, ``40s``; ``—``: none."""
    if epoch_ms is None:
        return "—"
    seconds = max(now_ms() - epoch_ms, 0) // 1000
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _consumers_cell(item: QueueStatus) -> str:
    consumers = ", ".join(f"{c.host}:{c.pid}" for c in item.snapshot.consumers)
    if not consumers and item.crash:
        return _crash_cell(item.crash)
    return consumers or "—"


def _crash_cell(crash: CrashRecord) -> str:
    """``crash-looping: retry in 8 s — FileExistsError: …``"""
    wait_s = (crash.retry_at_ms - now_ms()) / 1000
    when = f"retry in {math.ceil(wait_s)} s" if wait_s > 0 else "retry due"
    return escape(f"crash-looping: {when} — {crash.error}")


def watch(
    sample: Callable[[], list[QueueStatus]],
    console: Console,
    interval_s: float = WATCH_INTERVAL_S,
    rounds: int | None = None,
) -> None:
    """Redraw the table every ``interval_s`` until Ctrl-C (or ``rounds``, for tests)."""
    previous: dict[tuple[str, str], QueueStatus] = {}
    with Live(console=console, auto_refresh=False) as live:
        done = 0
        while rounds is None or done < rounds:
            statuses = sample()
            live.update(status_table(statuses, previous), refresh=True)
            previous = {lane_of(status): status for status in statuses}
            done += 1
            if rounds is None or done < rounds:
                time.sleep(interval_s)


def backoff_line(note: BackoffNote) -> str:
    """One agent whose consumers wait because a destination's database refuses connections."""
    wait_s = max(0.0, (note.until_ms - now_ms()) / 1000)
    return (
        f"database backoff: destination {note.destination}: agent {note.agent}: "
        f"{note.refusals} connection(s) refused in a row, "
        f"next try in {wait_s:.1f}s ({note.error})"
    )
