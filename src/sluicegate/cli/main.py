"""The ``sluicegate`` command line: every subcommand's typer definition (``sluicegate.cli:main``
runs ``agent`` and ``api`` without it when they come alone)."""

from datetime import UTC, datetime
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sluicegate.cli import services
from sluicegate.cli.common import (
    REDIS_AND_DATABASE,
    REDIS_ONLY,
    fail,
    read_settings,
    redis_client,
)
from sluicegate.cli.destination_stores import DestinationStores
from sluicegate.cli.destinations_command import destinations_app
from sluicegate.cli.events_command import events_app
from sluicegate.cli.maintain_command import maintain, migrate
from sluicegate.cli.replay_command import replay_command
from sluicegate.cli.status import as_json, backoff_line, gather, status_table
from sluicegate.cli.status import watch as watch_status
from sluicegate.cli.token_command import token_app
from sluicegate.destination.config import load_destinations
from sluicegate.errors import SluicegateError
from sluicegate.queue import dead_letters
from sluicegate.queue.backoff_notes import current_backoffs
from sluicegate.queue.keys import DEFAULT_DESTINATION
from sluicegate.repository import open_configured

app = typer.Typer(
    help="Sluicegate: event ingestion that never loses an event it has accepted.\n\n"
    "Settings come from environment variables (see the README); unset means embedded defaults.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
dlq_app = typer.Typer(help="Inspect and replay dead-lettered events.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
app.add_typer(token_app, name="token")
app.add_typer(events_app, name="events")
app.add_typer(destinations_app, name="destinations")
app.command()(maintain)
app.command()(migrate)
app.command("replay")(replay_command)
console = Console()


@app.command()
def up() -> None:
    """Run everything on embedded defaults: Redis (Valkey, AOF), the API and the agent.

    Ctrl-C (or SIGTERM) drains in order: the API first, then the agent, then Redis.
    """
    from sluicegate.cli.supervisor import Supervisor

    try:
        code = Supervisor(read_settings(REDIS_AND_DATABASE)).run()
    except SluicegateError as error:
        fail(str(error), 1)
    raise typer.Exit(code)


@app.command()
def api() -> None:
    """Run the ingest API (POST /v1/events/{queue}) on HOST:PORT."""
    services.api()


@app.command()
def agent() -> None:
    """Run the agent: up to MAX_CONSUMERS consumers serve the queues in turn; SIGTERM drains."""
    services.agent()


@app.command()
def status(
    as_json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Redraw every second with rates, until Ctrl-C.")
    ] = False,
) -> None:
    """Show each queue: accepted, queued, in flight, dead, persisted, lag, consumers, and
    whether accepted = persisted + queued + in flight + dead holds."""
    if as_json_output and watch:
        fail("give --json or --watch, not both")
    settings = read_settings(REDIS_AND_DATABASE)
    repository = open_configured(settings)
    registry = load_destinations(settings.destinations_file)
    stores = DestinationStores(repository, registry, settings)
    try:
        with redis_client(settings) as client:
            if watch:
                slots = settings.queue_consumers
                watch_status(lambda: gather(client, stores, slots), console)
                return
            for note in [] if as_json_output else current_backoffs(client):
                console.print(backoff_line(note))  # before the database, which may refuse us
            statuses = gather(client, stores, settings.queue_consumers)
    except KeyboardInterrupt:  # Ctrl-C is how --watch ends
        return
    except SluicegateError as error:
        fail(str(error), 1)
    finally:
        stores.close()
        repository.close()
    if as_json_output:
        typer.echo(orjson.dumps(as_json(statuses), option=orjson.OPT_INDENT_2).decode())
        return
    console.print(status_table(statuses))


@app.command()
def config(
    as_json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show every setting: its environment variable, value, and where the value came from."""
    from dataclasses import asdict

    from sluicegate.cli.settings_report import report

    rows = report(read_settings())
    if as_json_output:
        typer.echo(orjson.dumps([asdict(row) for row in rows], option=orjson.OPT_INDENT_2).decode())
        return
    table = Table("variable", "value", "source", "meaning", title="sluicegate configuration")
    for row in rows:
        shown = "unset" if row.value is None else str(row.value)
        table.add_row(row.variable, escape(shown), row.source, escape(row.description))
    console.print(table)


DestinationOption = Annotated[
    str,
    typer.Option(
        help="The destination whose dead letters (each has its own; the default one's hold "
        "the events quarantined by SCHEMAS_FILE)."
    ),
]


@dlq_app.command("list")
def dlq_list(
    queue: Annotated[str, typer.Argument(help="The queue whose dead letters to show.")],
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    destination: DestinationOption = DEFAULT_DESTINATION,
) -> None:
    """List dead-lettered events with the reason they were refused."""
    with redis_client(read_settings(REDIS_ONLY)) as client:
        letters = dead_letters.list_dead(client, queue, limit, destination)
    table = Table(
        "entry",
        "event id",
        "deliveries",
        "dead at (UTC)",
        "reason",
        title=f"dead letters of {queue}"
        + ("" if destination == DEFAULT_DESTINATION else f" for {destination}"),
    )
    for letter in letters:
        dead_at = datetime.fromtimestamp(letter.dead_at_ms / 1000, UTC).isoformat(
            timespec="seconds"
        )
        table.add_row(
            letter.entry_id, letter.event.event_id, str(letter.deliveries), dead_at, letter.reason
        )
    console.print(table)


@dlq_app.command("replay")
def dlq_replay(
    queue: Annotated[str, typer.Argument(help="The queue whose dead letters to replay.")],
    entry: Annotated[list[str] | None, typer.Option(help="Entry id (repeatable).")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
    destination: DestinationOption = DEFAULT_DESTINATION,
) -> None:
    """Move dead letters back into their queue (after fixing what refused them). With
    SCHEMAS_FILE, those that still break the queue's schema stay, and are listed."""
    from sluicegate.api.contracts.contract import reason
    from sluicegate.api.contracts.file import Contracts
    from sluicegate.api.contracts.replay import sort_letters

    if bool(entry) == replay_all:
        fail("give either --entry ID (repeatable) or --all")
    settings = read_settings(REDIS_ONLY)
    contract = Contracts(settings.schemas_file).for_queue(queue)
    with redis_client(settings) as client:
        letters = dead_letters.list_dead(client, queue, 10**9, destination)
        asked = [letter for letter in letters if replay_all or letter.entry_id in (entry or ())]
        sorted_letters = sort_letters(contract, asked)
        ids = [letter.entry_id for letter in sorted_letters.allowed]
        moved = dead_letters.replay(client, queue, ids, destination)
    typer.echo(f"replayed {moved} of {len(entry or asked)} dead letters into {queue}")
    if contract is not None and sorted_letters.kept:
        typer.echo(f"kept {len(sorted_letters.kept)} that break the schema {contract.describe()}:")
        for letter, found in sorted_letters.kept:
            typer.echo(f"  {letter.entry_id} {letter.event.event_id}: {reason(contract, found)}")


def _register_drill() -> None:
    from sluicegate.drill.command import drill

    app.command("drill")(drill)


_register_drill()
