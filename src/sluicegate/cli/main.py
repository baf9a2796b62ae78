"""The ``sluicegate`` command line."""

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, NoReturn

import orjson
import redis
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sluicegate import preflight
from sluicegate.cli.status import as_json, backoff_line, gather, status_table
from sluicegate.cli.status import watch as watch_status
from sluicegate.cli.supervisor import embedded_url_file
from sluicegate.cli.token_command import token_app
from sluicegate.errors import ConfigurationError, SluicegateError
from sluicegate.logs import configure_logging
from sluicegate.queue import dead_letters
from sluicegate.queue.backoff_notes import current_backoffs
from sluicegate.queue.client import sync_client
from sluicegate.queue.topology import Topology
from sluicegate.repository import open_repository
from sluicegate.settings import Settings, load_settings

EXIT_USAGE = 2

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
console = Console()


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    typer.echo(f"sluicegate: {message}", err=True)
    raise typer.Exit(code)


Check = Callable[[Settings], None]
REDIS_ONLY: tuple[Check, ...] = (preflight.check_redis,)
REDIS_AND_DATABASE: tuple[Check, ...] = (preflight.check_redis, preflight.check_database)


def _settings(checks: Sequence[Check] = ()) -> Settings:
    """Read the settings and run ``checks`` (preflight): exit 2 at once on what can never work."""
    try:
        settings = load_settings()
        for check in checks:
            check(settings)
    except ConfigurationError as error:
        _fail(str(error))
    configure_logging(settings.log_level, log_format=settings.log_format)
    return settings


def _redis_url(settings: Settings) -> str:
    """REDIS_URL, else the embedded server that a running ``sluicegate up`` wrote down."""
    if settings.resolved_redis_url:
        return settings.resolved_redis_url
    url_file = embedded_url_file(settings)
    if url_file.exists():
        return url_file.read_text().strip()
    _fail(
        "REDIS_URL is not set and no `sluicegate up` is running in "
        f"{settings.data_dir}/ (start one, or set REDIS_URL)"
    )


@contextmanager
def _redis(settings: Settings) -> Iterator["redis.Redis"]:
    try:
        client = sync_client(
            _redis_url(settings), cluster=settings.redis_cluster, topology=Topology.of(settings)
        )
    except redis.RedisError as error:
        _fail(f"Redis is unreachable: {error}", 1)
    try:
        yield client
    finally:
        client.close()


@app.command()
def up() -> None:
    """Run everything on embedded defaults: Redis (Valkey, AOF), the API and the agent.

    Ctrl-C (or SIGTERM) drains in order: the API first, then the agent, then Redis.
    """
    from sluicegate.cli.supervisor import Supervisor

    try:
        code = Supervisor(_settings(REDIS_AND_DATABASE)).run()
    except SluicegateError as error:
        _fail(str(error), 1)
    raise typer.Exit(code)


@app.command()
def api() -> None:
    """Run the ingest API (POST /v1/events/{queue}) on HOST:PORT."""
    from sluicegate.api.serving.server import serve

    settings = _settings(REDIS_ONLY)
    raise typer.Exit(serve(settings, _redis_url(settings)))


@app.command()
def agent() -> None:
    """Run the agent: up to MAX_CONSUMERS consumers serve the queues in turn; SIGTERM drains."""
    from sluicegate.worker.agent import Agent, leave

    settings = _settings(REDIS_AND_DATABASE)
    try:
        agent = Agent(settings, _redis_url(settings))
    except ConfigurationError as error:  # DATABASE_REPLICAS more than the standbys there
        _fail(str(error))
    leave(agent.run())


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
        _fail("give --json or --watch, not both")
    settings = _settings(REDIS_AND_DATABASE)
    repository = open_repository(settings.resolved_database_url)
    try:
        with _redis(settings) as client:
            if watch:
                slots = settings.queue_consumers
                watch_status(lambda: gather(client, repository, slots), console)
                return
            for note in [] if as_json_output else current_backoffs(client):
                console.print(backoff_line(note))  # before the database, which may refuse us
            statuses = gather(client, repository, settings.queue_consumers)
    except KeyboardInterrupt:  # Ctrl-C is how --watch ends
        return
    except SluicegateError as error:
        _fail(str(error), 1)
    finally:
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

    rows = report(_settings())
    if as_json_output:
        typer.echo(orjson.dumps([asdict(row) for row in rows], option=orjson.OPT_INDENT_2).decode())
        return
    table = Table("variable", "value", "source", "meaning", title="sluicegate configuration")
    for row in rows:
        shown = "unset" if row.value is None else str(row.value)
        table.add_row(row.variable, escape(shown), row.source, escape(row.description))
    console.print(table)


@dlq_app.command("list")
def dlq_list(
    queue: Annotated[str, typer.Argument(help="The queue whose dead letters to show.")],
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
) -> None:
    """List dead-lettered events with the reason they were refused."""
    with _redis(_settings(REDIS_ONLY)) as client:
        letters = dead_letters.list_dead(client, queue, limit)
    table = Table(
        "entry",
        "event id",
        "deliveries",
        "dead at (UTC)",
        "reason",
        title=f"dead letters of {queue}",
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
) -> None:
    """Move dead letters back into their queue (after fixing what refused them). With
    SCHEMAS_FILE, those that still break the queue's schema stay, and are listed."""
    from sluicegate.api.contracts.contract import reason
    from sluicegate.api.contracts.file import Contracts
    from sluicegate.api.contracts.replay import sort_letters

    if bool(entry) == replay_all:
        _fail("give either --entry ID (repeatable) or --all")
    settings = _settings(REDIS_ONLY)
    contract = Contracts(settings.schemas_file).for_queue(queue)
    with _redis(settings) as client:
        letters = dead_letters.list_dead(client, queue, 10**9)
        asked = [letter for letter in letters if replay_all or letter.entry_id in (entry or ())]
        sorted_letters = sort_letters(contract, asked)
        ids = [letter.entry_id for letter in sorted_letters.allowed]
        moved = dead_letters.replay(client, queue, ids)
    typer.echo(f"replayed {moved} of {len(entry or asked)} dead letters into {queue}")
    if contract is not None and sorted_letters.kept:
        typer.echo(f"kept {len(sorted_letters.kept)} that break the schema {contract.describe()}:")
        for letter, found in sorted_letters.kept:
            typer.echo(f"  {letter.entry_id} {letter.event.event_id}: {reason(contract, found)}")


def _register_drill() -> None:
    from sluicegate.drill.command import drill

    app.command("drill")(drill)


_register_drill()


def main() -> None:
    try:
        app()
    except ConfigurationError as error:
        typer.echo(f"sluicegate: {error}", err=True)
        sys.exit(EXIT_USAGE)
