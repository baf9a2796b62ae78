"""``sluicegate replay QUEUE --to DESTINATION --since TIME [--until TIME]``: backfill one
destination with a window of a queue's events, original ids and accepted_at kept; running it
twice writes nothing new (``sluicegate.replay``, docs/destinations.md)."""

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from sluicegate import events, preflight
from sluicegate.cli.common import DATABASE_ONLY, fail, read_settings, redis_client
from sluicegate.destination.config import Destination, load_destinations
from sluicegate.destination.opening import open_destination
from sluicegate.errors import RejectedEventError, SluicegateError, TransientStoreError
from sluicegate.events import Event
from sluicegate.replay import Tally, Window, from_store, replay, within
from sluicegate.repository import Repository, open_configured
from sluicegate.retention import parse_duration_s
from sluicegate.settings import Settings

DEFAULT_BATCH = 1000


class Source(StrEnum):
    sql = "sql"
    redis = "redis"


def moment_ms(text: str, now_ms: int | None = None) -> int:
    """ISO 8601 (UTC when no zone is given) or a time ago: ``90m``, ``2h``, ``7d``."""
    value = text.strip()
    try:
        ago_s = parse_duration_s(value)  # None for 'forever' or '': not a moment
    except ValueError:
        ago_s = None
    if ago_s is not None:
        return (events.now_ms() if now_ms is None else now_ms) - int(ago_s * 1000)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a time: give ISO 8601 (2025-03-01T12:00:00Z) or an age (90m, 2h, 7d)"
        ) from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def named(settings: Settings, name: str, queue: str) -> Destination:
    """The destination called ``name`` in DESTINATIONS_FILE (without it: ``sql``); a warning
    when the file does not route ``queue`` to it (replayed all the same: a backfill may come
    before the route)."""
    registry = load_destinations(settings.destinations_file)
    try:
        destination = registry.named(name)
    except KeyError:
        fail(f"unknown destination {name!r}: the destinations are {', '.join(registry.names)}")
    if destination not in registry.for_queue(queue):
        typer.echo(f"sluicegate: note: {queue} is not routed to {name}; replaying anyway", err=True)
    return destination


def _utc(ms: int | None) -> str:
    if ms is None:
        return "now"
    return (datetime.fromtimestamp(0, UTC) + timedelta(milliseconds=ms)).isoformat(
        timespec="seconds"
    )


def replay_command(
    queue: Annotated[str, typer.Argument(help="The queue whose events to replay.")],
    to: Annotated[str, typer.Option("--to", help="The destination to write into.")],
    since: Annotated[
        str, typer.Option(help="Events accepted at this time or later (ISO 8601, or 2h: ago).")
    ],
    until: Annotated[
        str | None, typer.Option(help="…and before this time (default: now).", show_default=False)
    ] = None,
    source: Annotated[
        Source,
        typer.Option(
            help="sql: the SQL store, in acceptance order; redis: the queue's stream, the events "
            "still there."
        ),
    ] = Source.sql,
    batch: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=100_000,
            help="Events per write into the destination. Default: its batch_max_events, else "
            f"{DEFAULT_BATCH:,}.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write a queue's events of a time window into one destination, with their original ids
    and accepted_at. Idempotent: running it again writes nothing new."""
    window = Window(moment_ms(since), None if until is None else moment_ms(until))
    if window.until_ms is not None and window.until_ms <= window.since_ms:
        fail(f"--until ({_utc(window.until_ms)}) must be after --since ({_utc(window.since_ms)})")
    settings = read_settings((*DATABASE_ONLY, preflight.check_destinations))
    target = named(settings, to, queue)
    size = batch or target.batch_max_events or DEFAULT_BATCH
    console = Console(stderr=True)
    with ExitStack() as stack:
        writer = open_destination(target, settings)
        stack.callback(writer.close)
        batches = _batches(stack, settings, queue, source, window, size)
        tally = _run(batches, writer, console)
    span = f"accepted {_utc(window.since_ms)} to {_utc(window.until_ms)}"
    typer.echo(
        f"replayed {tally.read:,} events of {queue} ({span}) into {to}: {tally.written:,} new, "
        f"{tally.already_there:,} already there, in {tally.batches:,} batches"
    )


def _batches(
    stack: ExitStack, settings: Settings, queue: str, source: Source, window: Window, batch: int
) -> Iterator[list[Event]]:
    if source is Source.redis:
        from sluicegate.queue.history import stream_events

        client = stack.enter_context(redis_client(settings))
        return within(stream_events(client, queue, batch), window, batch)
    store = open_configured(settings)
    stack.callback(store.close)
    return from_store(store, queue, window, batch)


def _run(batches: Iterator[list[Event]], destination: Repository, console: Console) -> Tally:
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.fields[read]:,} read, {task.fields[written]:,} new"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    task = progress.add_task("replay", read=0, written=0)
    done = Tally()

    def show(tally: Tally) -> None:
        done.read, done.written = tally.read, tally.written
        progress.update(task, read=tally.read, written=tally.written)

    try:
        with progress:
            return replay(batches, destination, show)
    except (TransientStoreError, RejectedEventError) as error:
        fail(
            f"replay stopped after {done.read:,} events ({done.written:,} new): {error}; "
            "run it again: what was written is skipped",
            1,
        )
    except SluicegateError as error:
        fail(str(error), 1)
