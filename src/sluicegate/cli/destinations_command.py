"""``sluicegate destinations [--json]``: the destinations of DESTINATIONS_FILE and every consumer
group on the queues' streams, with its lag and pending entries; ``sluicegate destinations forget
NAME [--queue GLOB] --yes``: remove the groups a destination removed from the file left behind
(they hold back the trimming of their streams forever). docs/destinations.md."""

from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sluicegate import preflight
from sluicegate.cli.common import REDIS_ONLY, fail, read_settings, redis_client
from sluicegate.destination.config import VARIABLE, Destination, Destinations, load_destinations
from sluicegate.destination.groups import GroupRow, Standing, group_rows
from sluicegate.errors import SluicegateError
from sluicegate.queue.keys import is_valid_queue_name
from sluicegate.queue.lanes import forget_group
from sluicegate.queue.stats import list_queues
from sluicegate.toml_file import matches_queue

destinations_app = typer.Typer(
    help="List the destinations and their consumer groups; forget a removed destination's.",
)
console = Console()
_CHECKS = (*REDIS_ONLY, preflight.check_destinations)


@destinations_app.callback(invoke_without_command=True)
def destinations(
    context: typer.Context,
    as_json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the destinations, and per queue each consumer group: its destination, lag, pending
    entries, and whether a destination of the file still owns it."""
    if context.invoked_subcommand is not None:
        return
    settings = read_settings(_CHECKS)
    registry = load_destinations(settings.destinations_file)
    try:
        with redis_client(settings) as client:
            rows = group_rows(client, registry)
    except SluicegateError as error:
        fail(str(error), 1)
    if as_json_output:
        listed = {
            "destinations": [_described(d) for d in registry.all],
            "groups": [row.as_json() for row in rows],
        }
        typer.echo(orjson.dumps(listed, option=orjson.OPT_INDENT_2).decode())
        return
    console.print(_destinations_table(registry))
    console.print(_groups_table(rows))
    behind = sorted({row.destination for row in rows if row.standing is Standing.LEFT_BEHIND})
    for name in behind:
        console.print(
            f"{escape(name)} is not in {VARIABLE}: its groups hold back trimming; "
            f"`sluicegate destinations forget {escape(name)} --yes` removes them"
        )


@destinations_app.command("forget")
def forget(
    name: Annotated[str, typer.Argument(help="The destination removed from the file.")],
    queue: Annotated[
        str, typer.Option("--queue", help="Only the queues matching this glob pattern.")
    ] = "*",
    yes: Annotated[
        bool, typer.Option("--yes", help="Really destroy the groups (nothing is asked).")
    ] = False,
) -> None:
    """Destroy NAME's consumer group on each queue's stream (XGROUP DESTROY) and trim what only
    it held back. Refused for a destination the file still has."""
    settings = read_settings(_CHECKS)
    registry = load_destinations(settings.destinations_file)
    if not is_valid_queue_name(name):
        fail(f"{name!r} is not a destination name (a-z, 0-9, '_', '-')")
    if name in registry.names:
        where = registry.source or f"the default (no {VARIABLE})"
        fail(
            f"{name} is a destination of {where}: remove it from the file and restart the "
            "agents first; forget is for the groups of a destination that is gone"
        )
    if not yes:
        fail(f"forget destroys {name}'s consumer groups for good: give --yes")
    try:
        with redis_client(settings) as client:
            queues = [q for q in list_queues(client) if matches_queue(q, (queue,))]
            done = [(q, *forget_group(client, q, name)) for q in queues]
    except SluicegateError as error:
        fail(str(error), 1)
    forgotten = [(q, trimmed) for q, found, trimmed in done if found]
    for q, trimmed in forgotten:
        typer.echo(f"forgot {name} on {q}: {trimmed:,} entries trimmed")
    typer.echo(f"forgot {name} on {len(forgotten):,} of {len(queues):,} queues")


def _described(destination: Destination) -> dict[str, str]:
    return {"name": destination.name, "kind": destination.kind, "start": destination.start}


def _destinations_table(registry: Destinations) -> Table:
    source = str(registry.source) if registry.source else f"no {VARIABLE}: the default"
    table = Table("destination", "kind", "start", title="destinations", caption=escape(source))
    for destination in registry.all:
        table.add_row(escape(destination.name), destination.kind, destination.start)
    return table


def _groups_table(rows: list[GroupRow]) -> Table:
    table = Table("queue", "destination", "standing", title="consumer groups")
    for column in ("lag", "pending", "oldest"):
        table.add_column(column, justify="right")
    for row in rows:
        standing = row.standing.value
        if row.standing is Standing.LEFT_BEHIND:
            standing = f"[red]{standing}[/]"
        table.add_row(
            escape(row.queue),
            escape(row.destination),
            standing,
            f"{row.lag:,}",
            f"{row.pending:,}",
            f"{row.oldest_age_s:.1f}s",
        )
    return table
