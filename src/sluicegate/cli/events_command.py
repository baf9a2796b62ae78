"""``sluicegate events show|list|delete``: where one event is, the stored events in acceptance
order, and deletions that stick (docs/retention.md)."""

import asyncio
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer

from sluicegate import erasure
from sluicegate.cli.common import REDIS_AND_DATABASE, fail, read_settings, redis_url
from sluicegate.errors import SluicegateError
from sluicegate.pages import decode_cursor, page_json
from sluicegate.queue.client import async_client, is_cluster_async
from sluicegate.queue.topology import Topology
from sluicegate.repository import EventStore, open_configured
from sluicegate.repository.lifecycle import StoredState
from sluicegate.settings import Settings
from sluicegate.whereabouts import where_is

events_app = typer.Typer(help="Find, list and delete stored events.", no_args_is_help=True)


@contextmanager
def _store(settings: Settings) -> Iterator[EventStore]:
    store = open_configured(settings)
    try:
        yield store
    except SluicegateError as error:
        fail(str(error), 1)
    finally:
        store.close()


def _echo(content: Any) -> None:
    typer.echo(orjson.dumps(content, option=orjson.OPT_INDENT_2).decode())


@events_app.command("show")
def show(
    queue: Annotated[str, typer.Argument(help="The queue the event was posted to.")],
    event_id: Annotated[str, typer.Argument(help="The event id (yours, or the one the API gave).")],
) -> None:
    """Where the event is: queued, in flight, dead, persisted, expired, deleted or never seen."""
    settings = read_settings(REDIS_AND_DATABASE)
    with _store(settings) as store:
        _echo(asyncio.run(_where_is(settings, store, queue, event_id)))


async def _where_is(settings: Settings, store: EventStore, queue: str, event_id: str) -> Any:
    url, topology = redis_url(settings), Topology.of(settings)
    cluster = await is_cluster_async(url, settings.redis_cluster, topology)
    client = async_client(url, cluster=cluster, topology=topology)

    async def stored(wanted: str) -> StoredState | None:
        return store.locate(wanted)

    try:
        return await where_is(client, stored, queue, event_id)
    finally:
        await client.aclose()


@events_app.command("list")
def list_events(
    queue: Annotated[str, typer.Argument(help="The queue.")],
    after: Annotated[
        str | None, typer.Option(help="The cursor a previous page ended with.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
) -> None:
    """Stored events in acceptance order, one JSON page, with the cursor of the next."""
    try:
        position = decode_cursor(after)
    except ValueError as error:
        fail(str(error))
    with _store(read_settings(REDIS_AND_DATABASE)) as store:
        _echo(page_json(store.page(queue, position, limit), limit))


@events_app.command("delete")
def delete(
    queue: Annotated[str, typer.Option(help="The queue the events belong to.")],
    event_id: Annotated[
        list[str] | None, typer.Option("--id", help="An event id (repeatable).")
    ] = None,
    before: Annotated[
        datetime | None,
        typer.Option(
            help="Delete every event accepted before this time (ISO 8601, UTC if no zone)."
        ),
    ] = None,
    by: Annotated[str | None, typer.Option(help="Who asks (logged); default: the OS user.")] = None,
) -> None:
    """Delete stored events for good: a copy still in Redis, or a producer's retry, stores
    nothing within DEDUP_WINDOW. One log line names who, what and how many."""
    if bool(event_id) == (before is not None):
        fail("give either --id ID (repeatable) or --before TIME")
    who = by or getpass.getuser()
    with _store(read_settings(REDIS_AND_DATABASE)) as store:
        if event_id:
            rows = erasure.delete_ids(store, queue, event_id, who, "cli")
        else:
            assert before is not None
            rows = erasure.delete_before(store, queue, _epoch_ms(before), who, "cli")
    typer.echo(f"deleted {rows} stored event(s) from {queue}")


def _epoch_ms(moment: datetime) -> int:
    given = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return int(given.timestamp() * 1000)
