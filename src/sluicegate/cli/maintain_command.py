"""``sluicegate maintain`` (run it from a CronJob) and ``sluicegate migrate`` (run it once, by
hand, after an upgrade): the stored events' retention and the schema's layout.

Why a command and not the agent: the agent holds no database connection and forks consumers;
a pass (dropping a day, deleting chunks, vacuuming) is better scheduled by the operator, at a
quiet hour, with its own exit code and log. Writers never depend on it: a day without a
partition gets one when a batch needs it (docs/retention.md).
"""

import time
from typing import Annotated

import typer

from sluicegate.cli.common import (
    DATABASE_ONLY,
    REDIS_AND_DATABASE,
    fail,
    read_settings,
    redis_client,
)
from sluicegate.errors import SluicegateError
from sluicegate.events import now_ms
from sluicegate.logs import get_logger
from sluicegate.queue.retention_record import record_pass
from sluicegate.queue.stats import list_queues
from sluicegate.repository import open_configured


def maintain(
    at: Annotated[
        int | None, typer.Option(help="Run as if now were this epoch ms (tests, catch-up).")
    ] = None,
) -> None:
    """One retention pass: partitions made ahead, expired days dropped (PostgreSQL) or deleted
    in chunks (SQLite), ids past DEDUP_WINDOW forgotten; the figures go to the log and Redis."""
    settings = read_settings(REDIS_AND_DATABASE)
    store = open_configured(settings)
    started = time.monotonic()
    try:
        report = store.expire(settings.retention_policy, now_ms() if at is None else at)
        if report is None:
            typer.echo("another maintainer is running; nothing done")
            return
        with redis_client(settings) as client:
            oldest = {queue: store.oldest(queue) for queue in list_queues(client)}
            record_pass(client, oldest, report.dropped)
    except SluicegateError as error:
        fail(str(error), 1)
    finally:
        store.close()
    seconds = round(time.monotonic() - started, 3)
    get_logger().info(
        "retention-pass",
        rows_dropped=report.rows_dropped,
        dropped=report.dropped,
        partitions_dropped=report.partitions_dropped,
        partitions_created=report.partitions_created,
        ids_forgotten=report.ids_forgotten,
        seconds=seconds,
    )
    typer.echo(
        f"expired {report.rows_dropped} row(s) ({len(report.partitions_dropped)} partition(s) "
        f"dropped), forgot {report.ids_forgotten} id(s) in {seconds} s"
    )


def migrate() -> None:
    """Bring an older database to the current layout: PostgreSQL's events table becomes
    partitioned by day (one transaction; stop the agents first), SQLite's file is vacuumed into
    incremental auto-vacuum. Does nothing, and says so, when there is nothing to do."""
    settings = read_settings(DATABASE_ONLY)
    store = open_configured(settings)
    started = time.monotonic()
    try:
        moved = store.migrate()
    except SluicegateError as error:
        fail(str(error), 1)
    finally:
        store.close()
    if moved is None:
        typer.echo("the database is up to date; nothing done")
        return
    seconds = round(time.monotonic() - started, 3)
    get_logger().info("database-migrated", rows=moved, seconds=seconds)
    typer.echo(f"migrated {moved} row(s) in {seconds} s")
