"""One drill from start to verdict: system up, load and faults together, drain, final checks.

The load runs on its own thread; this thread fires each planned fault once its share of the load
has been answered, checks the promises after it, and at the end waits for the queue to drain,
stops everything gracefully (checked too) and compares the final sets. Every process the drill
started is killed and reaped in a ``finally``, whatever happened.
"""

import math
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sluicegate.drill import database
from sluicegate.drill.checker import (
    DestinationTally,
    FinalFacts,
    QueueTally,
    destination_tally,
    final_problems,
    lag_summary,
    merged,
    stop_problems,
    tally,
)
from sluicegate.drill.deployment import Deployment
from sluicegate.drill.faults import FaultContext, Inspection
from sluicegate.drill.ledger import Ledger, LedgerView
from sluicegate.drill.loader import LoadPlan, LoadThread, Spread
from sluicegate.drill.local import LocalSystem, Tuning
from sluicegate.drill.metrics_check import check_scrapes, scrape_agents
from sluicegate.drill.observe import Observer
from sluicegate.drill.report import DrillReport, StopRecord
from sluicegate.drill.schedule import AFTER_LOAD, PlannedStop, plan_stops
from sluicegate.drill.system import System
from sluicegate.errors import DrillError
from sluicegate.masking import mask_url
from sluicegate.queue.lanes import Lane

_TICK_S = 0.05
_MIN_LOAD_S = 5.0
_LOAD_S_PER_STOP = 2.5
_LOAD_JOIN_S = 120.0
SOAK_RATE = 1_000.0  # events per second of a soak (--duration) when neither --rate nor --events
SOAK_STOP_EVERY_S = 5.0  # a soak's stops: one every this long unless --stops says otherwise


@dataclass(frozen=True, slots=True)
class DrillOptions:
    events: int = 10_000
    stops: int = 4
    fault: str = "term"
    batch: int = 100
    concurrency: int = 8
    rate: float | None = None  # events per second; 0: flat out; None: spread over the stops
    seed: int = 1
    queue: str | None = None
    queues: int = 1  # spread the load over this many queues, checked one by one
    outage_s: float = 2.0
    drain_timeout_s: float = 60.0
    deadline_s: float = 10.0  # graceful-stop deadline for a deployment (Docker's default)
    api_url: str | None = None
    redis_url: str | None = None
    database_url: str | None = None
    stop_cmd: str | None = None
    start_cmd: str | None = None
    workdir: Path | None = None  # keep the local system's files here (default: a temp folder)
    progress: bool = True
    cluster: bool = False  # a local Valkey cluster instead of one server
    sentinel: bool = False  # a primary, a replica and three sentinels instead of one server
    durability_replicas: int = 0  # DURABILITY_REPLICAS of the API on the cluster
    db_standby: bool = False  # PostgreSQL primary + streaming standby instead of SQLite
    database_replicas: int = 1  # DATABASE_REPLICAS of the agents with db_standby
    tuning: Tuning = field(default_factory=Tuning)
    duration_s: float | None = None  # a soak: the load lasts this long, stops until then

    @classmethod
    def soak(
        cls, duration_s: float, events: int | None, stops: int | None, rate: float | None
    ) -> dict[str, Any]:
        """Events, stops and rate of a soak: the load spread over ``duration_s`` at ``rate``
        (or ``events`` over it, or 1,000 events/s), one stop every 5 s unless ``stops`` given."""
        if rate is None:
            rate = events / duration_s if events else SOAK_RATE
        return {
            "events": events or max(1, math.ceil(rate * duration_s)),
            "stops": stops if stops is not None else max(1, int(duration_s / SOAK_STOP_EVERY_S)),
            "rate": rate,
            "duration_s": duration_s,
        }

    @property
    def deployment(self) -> bool:
        return self.api_url is not None

    def rate_per_s(self) -> float:
        """The load's pace: by default long enough (2.5 s a stop, 5 s at least) for the stops
        to land while it runs, e.g. 50,000 events and 4 stops: 5,000 events/s for 10 s."""
        if self.rate is not None:
            return self.rate
        if self.duration_s:
            return self.events / self.duration_s
        return self.events / max(_MIN_LOAD_S, _LOAD_S_PER_STOP * self.stops)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["workdir"] = str(self.workdir) if self.workdir else None
        for name in ("redis_url", "database_url"):  # the report is shared: no passwords in it
            data[name] = mask_url(data[name]) if data[name] else None
        return data


def run_drill(options: DrillOptions, console: Console) -> DrillReport:
    """Run the drill; the report says PASS only if every check held."""
    started = time.monotonic()
    system = make_system(options)
    report = DrillReport(mode=system.mode, options=options.as_json(), shape=system.shape)
    report.notes += system.notes
    try:
        system.start()
        _Run(options, system, report).execute()
    except DrillError as error:
        report.errors.append(str(error))
    except KeyboardInterrupt:
        report.errors.append("interrupted")
    except Exception as error:  # a bug of the drill itself: still tear down, still fail
        console.print_exception()
        report.errors.append(f"{type(error).__name__}: {error}")
    finally:
        report.errors += system.teardown()
        kept = system.keep_files(report.passed)
        if kept:
            report.notes.append(kept)
    report.wall_s = time.monotonic() - started
    return report


def make_system(options: DrillOptions) -> System:
    """The system the options describe: a deployment given by --api-url, else the drill's own."""
    if not options.deployment:
        root = options.workdir or Path(tempfile.mkdtemp(prefix="sluicegate-drill-"))
        root.mkdir(parents=True, exist_ok=True)
        keep = options.workdir is not None
        if options.db_standby:
            from sluicegate.drill.standby import StandbySystem

            return StandbySystem(root, options.tuning, keep, options.database_replicas)
        if options.cluster:
            from sluicegate.drill.cluster import ClusterSystem

            replicas = options.durability_replicas
            return ClusterSystem(root, options.tuning, options.database_url, keep, replicas)
        if options.sentinel:
            from sluicegate.drill.sentinel import SentinelSystem

            replicas = options.durability_replicas
            return SentinelSystem(root, options.tuning, options.database_url, keep, replicas)
        return LocalSystem(root, options.tuning, options.database_url, keep=keep)
    if not (options.api_url and options.redis_url and options.database_url):
        raise DrillError("against a deployment give --api-url, --redis-url and --database-url")
    return Deployment(
        options.api_url,
        options.redis_url,
        options.database_url,
        options.stop_cmd,
        options.start_cmd,
        deadline_s=options.deadline_s,
    )


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("accepted"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
        console=Console(stderr=True),
        disable=not enabled,
    )


class _Run:
    def __init__(
        self,
        options: DrillOptions,
        system: System,
        report: DrillReport,
    ) -> None:
        self.options = options
        self.system = system
        self.report = report
        queue = options.queue or f"drill-{secrets.token_hex(4)}"
        load = LoadPlan(
            system.api_url,
            queue,
            options.events,
            _batch(options),
            options.concurrency,
            run_tag=queue,
            rate_per_s=options.rate_per_s(),
            queues=options.queues,
            seed=options.seed,
        )
        self.spread = Spread.of(load)
        self.ledger = Ledger()
        self.observer = Observer(
            system.redis_url,
            system.database_url,
            list(self.spread.names),
            slots=options.tuning.consumers,
            topology=system.redis_topology,
            destinations=system.destinations,
        )
        self.ctx = FaultContext(
            self.observer,
            self.ledger,
            deadline_s=system.deadline_s,
            reclaim_timeout_s=3 * options.tuning.worker_ttl_s + 10,
            outage_s=options.outage_s,
            queue_of=self.spread.queue_of,
            seed=options.seed,
        )
        self.faults = system.faults
        self.plan = plan_stops(
            options.fault, options.stops, options.seed, tuple(self.faults), options.outage_s
        )
        report.plan = [_planned(stop) for stop in self.plan]
        self.total_batches = len(self.spread.of_batch)
        self.batches_done = 0
        self.loader = LoadThread(load, self.ledger, on_batch=self._tick)
        self.progress = _progress_bar(enabled=options.progress)
        self.task = self.progress.add_task("load", total=options.events, note="")
        self.last_persisted = 0
        report.options["queue"] = queue
        if load.batch != options.batch:
            report.notes.append(
                f"batches of {load.batch} events (not {options.batch}): "
                f"every one of the {options.queues:,} queues gets some"
            )

    def _tick(self) -> None:
        self.batches_done += 1
        self.progress.update(self.task, completed=self.ledger.acked_count())

    def execute(self) -> None:
        try:
            self._load_and_stop()
            self._finish()
        finally:
            self.observer.close()

    def _load_and_stop(self) -> None:
        try:
            with self.progress:
                for line in self.report.plan:
                    self.progress.console.print(f"plan: {line}", highlight=False)
                self.loader.start()
                started = time.monotonic()
                for stop in self.plan:
                    self._await(stop)
                    if self._soak_over(started, stop):
                        break
                    self._stop(stop)
                self._await_load()
        finally:
            self.loader.cancel.set()  # a no-op once the load is over; stops it after a failure
            self.loader.join(_LOAD_JOIN_S)

    def _await(self, stop: PlannedStop) -> None:
        needed = math.ceil(stop.at_fraction * self.total_batches)
        while not self.loader.finished.is_set():
            if stop.at_fraction < AFTER_LOAD and self.batches_done >= needed:
                return
            self.loader.finished.wait(_TICK_S)

    def _soak_over(self, started: float, stop: PlannedStop) -> bool:
        """A soak runs until its duration is over: the stops planned after it are not run."""
        duration_s = self.options.duration_s
        if duration_s is None or time.monotonic() - started < duration_s:
            return False
        skipped = len(self.plan) - stop.number + 1
        self.report.notes.append(f"soak over after {duration_s:.0f} s: {skipped} stops not run")
        return True

    def _await_load(self) -> None:
        self.loader.finished.wait()
        if self.loader.error is not None:
            raise DrillError(f"the load failed: {self.loader.error!r}")
        summary = self.loader.summary
        assert summary is not None
        self.report.load = {
            "seconds": round(summary.seconds, 3),
            "batches": summary.batches,
            "gave_up": summary.gave_up,
            "requests": self.ledger.requests,
            "statuses": dict(self.ledger.statuses),
            "events_per_s": round(self.options.events / max(summary.seconds, 1e-9)),
        }
        self.progress.update(self.task, note=f"load done in {summary.seconds:.1f} s")

    def _stop(self, stop: PlannedStop) -> None:
        self.progress.update(self.task, note=f"stop {stop.number}: {stop.label}")
        before = self.observer.counts()
        result = self.faults[stop.kind](self.ctx, stop)
        seen = result.seen
        record = StopRecord(
            number=stop.number,
            kind=stop.kind,
            label=stop.label,
            queued_before=before.depth,
            queued_after=seen.counts.depth,
            in_flight_after=seen.counts.in_flight,
            lock_after=self.ctx.lock_cell(seen),
            persisted=seen.persisted,
            persisted_delta=seen.persisted - self.last_persisted,
            persisted_by=seen.persisted_by if len(seen.by_destination) > 1 else {},
            recover_s=result.recover_s,
            facts=result.facts,
            problems=tuple(stop_problems(result.facts)),
            remark=result.remark,
        )
        self.last_persisted = seen.persisted
        self.report.stops.append(record)
        verdict = "ok" if not record.problems else "FAILED: " + "; ".join(record.problems)
        remark = f" ({result.remark})" if result.remark else ""
        self.progress.console.print(
            f"stop {stop.number}/{len(self.plan)} {stop.label}: {verdict}{remark}", highlight=False
        )
        self.progress.update(self.task, note="")

    def _finish(self) -> None:
        drained = self.observer.wait_until(
            lambda: self.observer.counts().depth == 0, self.options.drain_timeout_s, interval_s=0.1
        )
        queues = list(self.spread.names)
        scrapes = scrape_agents(self.system.metrics_urls())  # before the stop ends the agents
        shutdown, notes = self.system.shutdown(self.ctx)
        seen = self.ctx.inspect()
        streams = self.observer.stream_lengths()  # memory: empty once drained
        view = self.ledger.view()
        holdings = seen.holdings
        final = FinalFacts(
            ids=seen.ids,
            accepted=len(view.acked),
            sent=len(view.sent),
            persisted=len(holdings.persisted),
            dead=len(holdings.dead),
            queued=seen.counts.queued,
            in_flight=seen.counts.in_flight,
            unknown_absent=len(view.unknown - holdings.anywhere),
            shutdown=shutdown,
            notes=tuple(notes) + (() if drained else ("the queue did not drain in time",)),
            queues=self._tallies(view, seen) if len(queues) > 1 else (),
            lag=lag_summary(database.worst_lag_ms(self.system.database_url, queues)),
            destinations=_destination_tallies(view, seen),
            streams=tuple(streams.items()),
            counters=tuple(
                (str(Lane(lane.queue, lane.destination)), lane.unaccounted)
                for snapshot in seen.counts_by_queue
                for lane in snapshot.lanes
            ),
        )
        self.report.final = final
        stored = sum(line.persisted for line in final.destinations) or final.persisted
        metrics = check_scrapes(scrapes, queues, stored, drained)  # counters of every destination
        self.report.final_problems = final_problems(final) + metrics.problems
        self.report.metrics = metrics
        self.report.redeliveries = seen.counts.duplicates_suppressed

    def _tallies(self, view: LedgerView, seen: Inspection) -> tuple[QueueTally, ...]:
        acked = {name: view.acked for name, view in view.by_queue(self.spread.queue_of).items()}
        return tuple(
            tally(name, acked.get(name, frozenset()), holdings)
            for name, holdings in seen.by_queue.items()
        )


def _destination_tallies(view: LedgerView, seen: Inspection) -> tuple[DestinationTally, ...]:
    """Each destination's line at the end: its accounting, its own lost and duplicated."""
    verdicts = dict(seen.ids.destinations) or dict.fromkeys(seen.by_destination, seen.ids)
    return tuple(
        destination_tally(name, view.acked, merged(by_queue.values()), verdicts[name])
        for name, by_queue in seen.by_destination.items()
    )


def _batch(options: DrillOptions) -> int:
    """Events per request: with several queues, small enough that every queue gets a batch."""
    if options.queues == 1:
        return options.batch
    return min(options.batch, max(1, options.events // options.queues))


def _planned(stop: PlannedStop) -> str:
    """One line of the plan: which stop, when, what (a random stop's whole scenario)."""
    when = "after the load" if stop.at_fraction >= AFTER_LOAD else f"at {stop.at_fraction:.0%}"
    what = stop.scenario.describe() if stop.scenario is not None else stop.label
    return f"stop {stop.number} {when}: {what}"
