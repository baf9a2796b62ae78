"""``sluicegate drill``: the typer command. Exit 0: every check held; 1: a promise broke (or the
drill could not run); 2: bad usage.

Registered by the CLI as ``app.command("drill")(drill)``; also runnable as
``python -m sluicegate.drill``.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console

from sluicegate.drill.schedule import (
    CLUSTER_KINDS,
    DEPLOYMENT_KINDS,
    DEPRECATED,
    DESTINATION_KINDS,
    FAULT_CHOICES,
    ONE_SERVER_KINDS,
    SENTINEL_KINDS,
    STANDBY_KINDS,
)
from sluicegate.errors import ConfigurationError
from sluicegate.preflight import check_database_url

if TYPE_CHECKING:
    from sluicegate.drill.runner import DrillOptions


def _fault_kind(value: str) -> str:
    """A fault kind by name; a deprecated name still works, with a warning."""
    if value in DEPRECATED:
        typer.echo(f"--fault {value} is deprecated: use {DEPRECATED[value]}", err=True)
        return DEPRECATED[value]
    if value not in FAULT_CHOICES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(FAULT_CHOICES)}")
    return value


_UNITS_S = {"s": 1.0, "m": 60.0, "h": 3600.0}


def _duration_s(value: str) -> float:
    """``90``, ``90s``, ``10m`` or ``1h``, in seconds."""
    text = value.strip().lower()
    unit = _UNITS_S.get(text[-1:])
    number = text[:-1] if unit else text
    try:
        seconds = float(number) * (unit or 1.0)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a duration such as 90s or 10m") from None
    if not 1 <= seconds <= 7 * 86_400:
        raise typer.BadParameter(f"{value!r}: give between 1 s and 7 days")
    return seconds


def _destinations(value: str) -> str:
    """``sql``, ``delta`` or ``sql,delta``: checked here, split by the drill."""
    from sluicegate.drill.destinations import parse

    try:
        return ",".join(parse(value))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


MAX_QUEUES = 10_000
_DEPLOY = "Against a deployment"
_LOCAL = "The system the drill starts"


def _check_usage(options: "DrillOptions") -> None:
    """Combinations typer cannot check on its own; BadParameter (a usage error) exits 2."""
    if options.database_url:
        try:
            check_database_url(options.database_url, "--database-url")
        except ConfigurationError as error:
            raise typer.BadParameter(str(error)) from None
    _check_cluster_usage(options)
    _check_standby_usage(options)
    if options.events < options.queues:
        raise typer.BadParameter(
            f"--queues {options.queues:,} needs at least as many events "
            f"(--events {options.events:,}): every queue gets some"
        )
    _check_destinations_usage(options)
    if not options.deployment:
        if options.stop_cmd or options.start_cmd or options.redis_url:
            raise typer.BadParameter(
                "--stop-cmd, --start-cmd and --redis-url need --api-url "
                "(a deployment); without it the drill starts its own system"
            )
        return
    if not (options.redis_url and options.database_url):
        raise typer.BadParameter("with --api-url, also give --redis-url and --database-url")
    if options.fault not in DEPLOYMENT_KINDS:
        raise typer.BadParameter(
            f"--fault {options.fault} needs the system the drill starts; "
            f"against a deployment use one of {', '.join(DEPLOYMENT_KINDS)}"
        )
    needs_commands = options.fault != "db-outage" and options.stops > 0
    if needs_commands and not (options.stop_cmd and options.start_cmd):
        raise typer.BadParameter(
            f"--fault {options.fault} against a deployment needs --stop-cmd "
            "and --start-cmd (e.g. 'docker compose stop agent')"
        )


def _check_destinations_usage(options: "DrillOptions") -> None:
    if options.fault in DESTINATION_KINDS and len(options.tuning.destinations) < 2:
        raise typer.BadParameter(
            f"--fault {options.fault} needs two destinations: --destinations sql,delta"
        )
    if options.deployment and options.tuning.destinations != ("sql",):
        raise typer.BadParameter(
            "--destinations configures the system the drill starts; a deployment (--api-url) "
            "is checked on its SQL database"
        )


def _check_shape_usage(options: "DrillOptions", consumers: int | None, agents: int | None) -> None:
    """--consumers and --agents shape the system the drill starts; a deployment has its own."""
    if options.deployment and (consumers is not None or agents is not None):
        raise typer.BadParameter(
            "--consumers and --agents shape the system the drill starts; a deployment (--api-url) "
            "runs its own agents (set QUEUE_CONSUMERS and its replicas there)"
        )
    if options.fault == "random" and options.tuning.agents > 1:
        raise typer.BadParameter(
            "--fault random plays its scenarios on one agent; with --agents use term, kill, "
            "kill-consumer or mixed"
        )


def _check_cluster_usage(options: "DrillOptions") -> None:
    """--cluster and --sentinel: Redis of the drill's own, with faults of their own."""
    topology = "--cluster" if options.cluster else "--sentinel" if options.sentinel else None
    if options.cluster and options.sentinel:
        raise typer.BadParameter("give --cluster or --sentinel, not both")
    if topology and options.deployment:
        raise typer.BadParameter(f"{topology} starts its own Redis; it cannot go with --api-url")
    if topology and options.fault == "redis-restart":
        instead = "primary-kill" if options.cluster else "sentinel-failover"
        raise typer.BadParameter(f"with {topology} use --fault {instead} instead of redis-restart")
    if topology and options.fault in ONE_SERVER_KINDS:
        raise typer.BadParameter(f"--fault {options.fault} needs one Redis server, not {topology}")
    if not options.cluster and options.fault in CLUSTER_KINDS:
        raise typer.BadParameter(f"--fault {options.fault} needs --cluster")
    if not options.sentinel and options.fault in SENTINEL_KINDS:
        raise typer.BadParameter(f"--fault {options.fault} needs --sentinel")
    if options.durability_replicas and not topology:
        raise typer.BadParameter(
            "--durability-replicas needs --cluster or --sentinel (replicas to wait for)"
        )


def _check_standby_usage(options: "DrillOptions") -> None:
    redis_elsewhere = options.cluster or options.sentinel
    if options.db_standby and (redis_elsewhere or options.deployment or options.database_url):
        raise typer.BadParameter(
            "--db-standby starts its own PostgreSQL primary and standby: not with --cluster, "
            "--sentinel, --api-url or --database-url"
        )
    if not options.db_standby and options.fault in STANDBY_KINDS:
        raise typer.BadParameter(f"--fault {options.fault} needs --db-standby")


def drill(
    events: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=100_000_000,
            help="Events to send. Default: 10,000; with --duration, the rate times the duration.",
            show_default=False,
        ),
    ] = None,
    stops: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=100_000,
            help="Faults to inject. Default: 4; with --duration, one every 5 s.",
            show_default=False,
        ),
    ] = None,
    fault: Annotated[
        str,
        typer.Option(
            parser=_fault_kind,
            metavar="KIND",
            help=f"Kind of fault: {', '.join(FAULT_CHOICES)} (mixed: a seeded mix of the "
            "kinds; random: seeded scenarios of overlapping faults).",
        ),
    ] = "term",
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Events per request.")] = 100,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Requests at once.")] = 8,
    rate: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Events per second; 0: flat out. Default: 2.5 s of load a stop, 5 s at least.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(help="Seed of the fault schedule (and of which batch goes to which queue)."),
    ] = 1,
    queues: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_QUEUES,
            help="Spread the events over this many queues (every queue gets some; each batch "
            "goes to one); every check is done per queue and in total, and the report gives "
            "the queues' lag percentiles.",
        ),
    ] = 1,
    duration: Annotated[
        float | None,
        typer.Option(
            parser=_duration_s,
            metavar="TIME",
            help="A soak: load and stops until this long has passed (90s, 10m, 1h); "
            "--rate defaults to 1,000 events/s.",
            show_default=False,
        ),
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the report as JSON here.")] = None,
    outage: Annotated[float, typer.Option(min=0.1, max=60, help="db-outage length, s.")] = 2.0,
    drain_timeout: Annotated[
        float, typer.Option(min=1, max=3600, help="Wait this long for the drain, s.")
    ] = 60.0,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
    workdir: Annotated[
        Path | None,
        typer.Option(help="Keep the local system's data and logs here.", rich_help_panel=_LOCAL),
    ] = None,
    worker_ttl: Annotated[
        float,
        typer.Option(min=1, max=60, help="QUEUE_AGENT_WORKER_TTL, s.", rich_help_panel=_LOCAL),
    ] = 2.0,
    shutdown_deadline: Annotated[
        float, typer.Option(min=0.5, max=60, help="SHUTDOWN_DEADLINE, s.", rich_help_panel=_LOCAL)
    ] = 5.0,
    consumer_batch: Annotated[
        int, typer.Option(min=1, max=10_000, help="QUEUE_BATCH_SIZE.", rich_help_panel=_LOCAL)
    ] = 500,
    cluster: Annotated[
        bool,
        typer.Option(
            "--cluster",
            help="Run on a local Valkey cluster (3 primaries + 3 replicas); adds the faults "
            "primary-kill, reshard and seed-kill.",
            rich_help_panel=_LOCAL,
        ),
    ] = False,
    sentinel: Annotated[
        bool,
        typer.Option(
            "--sentinel",
            help="Run on a Valkey primary and replica watched by three sentinels; adds the "
            "fault sentinel-failover.",
            rich_help_panel=_LOCAL,
        ),
    ] = False,
    consumers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="QUEUE_CONSUMERS: consumer processes of the queue at once, all agents together "
            "(MAX_CONSUMERS raised to match). Default: 1.",
            show_default=False,
            rich_help_panel=_LOCAL,
        ),
    ] = None,
    agents: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=16,
            help="Agent processes sharing the queue; agent faults hit one per stop, in turn. "
            "Default: 1.",
            show_default=False,
            rich_help_panel=_LOCAL,
        ),
    ] = None,
    durability_replicas: Annotated[
        int,
        typer.Option(
            min=0,
            max=1,
            help="DURABILITY_REPLICAS with --cluster or --sentinel.",
            rich_help_panel=_LOCAL,
        ),
    ] = 0,
    db_standby: Annotated[
        bool,
        typer.Option(
            "--db-standby",
            help="Run on a private PostgreSQL primary with a streaming (asynchronous) standby "
            "instead of SQLite; adds the fault db-failover (also in mixed).",
            rich_help_panel=_LOCAL,
        ),
    ] = False,
    database_replicas: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=1,
            help="DATABASE_REPLICAS with --db-standby (default 1; 0 shows what a failover loses).",
            show_default=False,
            rich_help_panel=_LOCAL,
        ),
    ] = None,
    destinations: Annotated[
        str,
        typer.Option(
            parser=_destinations,
            metavar="NAMES",
            help="Where every drill queue delivers (a DESTINATIONS_FILE the drill writes): sql, "
            "delta or sql,delta; each destination's ids are checked on their own.",
            rich_help_panel=_LOCAL,
        ),
    ] = "sql",
    database_url: Annotated[
        str | None,
        typer.Option(
            help="postgresql://… (default: SQLite in the work folder); with --api-url, the "
            "deployment's database.",
            rich_help_panel=_LOCAL,
        ),
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            help="The deployment's API, e.g. http://localhost:8000.", rich_help_panel=_DEPLOY
        ),
    ] = None,
    redis_url: Annotated[
        str | None, typer.Option(help="The deployment's Redis.", rich_help_panel=_DEPLOY)
    ] = None,
    stop_cmd: Annotated[
        str | None,
        typer.Option(help="Shell command that stops the agent.", rich_help_panel=_DEPLOY),
    ] = None,
    start_cmd: Annotated[
        str | None,
        typer.Option(help="Shell command that starts it again.", rich_help_panel=_DEPLOY),
    ] = None,
    deadline: Annotated[
        float,
        typer.Option(min=0.5, max=600, help="Graceful-stop deadline, s.", rich_help_panel=_DEPLOY),
    ] = 10.0,
) -> None:
    """Prove zero loss: load events over HTTP, stop things on a seeded schedule, compare id sets.

    Starts Redis, the API and the agent in a temporary folder unless --api-url points at a
    deployment. Exit code 0: every check held; 1: a promise broke; 2: bad usage.
    """
    # Here, not at the top: every `sluicegate` command imports this module to register the drill,
    # and the agent and the API should not pay for the drill's HTTP client and fault machinery.
    from sluicegate.drill.local import Tuning
    from sluicegate.drill.report import render, to_json
    from sluicegate.drill.runner import DrillOptions, run_drill

    sizes: dict[str, Any] = {
        "events": events or 10_000,
        "stops": 4 if stops is None else stops,
        "rate": rate,
    }
    if duration is not None:
        sizes = DrillOptions.soak(duration, events, stops, rate)
    options = DrillOptions(
        **sizes,
        fault=fault,
        batch=batch,
        concurrency=concurrency,
        seed=seed,
        queues=queues,
        outage_s=outage,
        drain_timeout_s=drain_timeout,
        deadline_s=deadline,
        api_url=api_url,
        redis_url=redis_url,
        database_url=database_url,
        stop_cmd=stop_cmd,
        start_cmd=start_cmd,
        workdir=workdir,
        progress=progress,
        cluster=cluster,
        sentinel=sentinel,
        durability_replicas=durability_replicas,
        db_standby=db_standby,
        database_replicas=1 if database_replicas is None else database_replicas,
        tuning=Tuning(
            worker_ttl_s=worker_ttl,
            shutdown_deadline_s=shutdown_deadline,
            consumer_batch=consumer_batch,
            agents=agents or 1,
            consumers=consumers or 1,
            destinations=tuple(destinations.split(",")),
        ),
    )
    if database_replicas is not None and not db_standby:
        raise typer.BadParameter("--database-replicas needs --db-standby (a standby to wait for)")
    _check_usage(options)
    _check_shape_usage(options, consumers, agents)
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 150))  # a full-width table in logs and CI
    result = run_drill(options, console)
    render(result, console)
    if report is not None:
        report.write_bytes(orjson.dumps(to_json(result), option=orjson.OPT_INDENT_2))
    raise typer.Exit(result.exit_code)
