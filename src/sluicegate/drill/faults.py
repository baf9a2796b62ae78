"""One function per fault kind: do it, look at the ids at the telling moment, bring things back.

Each returns the facts the checker judges. A graceful stop is inspected while the agent is down
(in flight 0, registry clean, exit code 0, within the deadline); a SIGKILL is followed by a wait
until the entries the dead consumers held have been reclaimed by their successor.
"""

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from sluicegate.drill import database, procs
from sluicegate.drill.checker import Holdings, IdVerdict, StopFacts, check_ids
from sluicegate.drill.ledger import Ledger
from sluicegate.drill.observe import Observer
from sluicegate.drill.schedule import PlannedStop
from sluicegate.drill.system import Deployment, LocalSystem, Service, Stopped
from sluicegate.errors import DrillError
from sluicegate.queue.stats import QueueSnapshot
from sluicegate.worker.liveness import process_name

_KILLED_EXIT = -9
_AIM_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class Inspection:
    ids: IdVerdict
    counts: QueueSnapshot
    registry_pid: int | None  # who holds the queue's worker-registry entry
    stale: (
        int  # 1 if that entry belongs to a process the drill did not kill (checked when graceful)
    )
    holdings: Holdings

    @property
    def persisted(self) -> int:
        return len(self.holdings.persisted)


@dataclass(frozen=True, slots=True)
class FaultResult:
    facts: StopFacts
    seen: Inspection
    recover_s: float | None = None
    remark: str | None = None  # information, not a failure (a fault that found nothing to hit)


@dataclass
class FaultContext:
    system: LocalSystem | Deployment
    observer: Observer
    ledger: Ledger
    deadline_s: float  # a graceful stop must end within this
    reclaim_timeout_s: float  # a SIGKILLed consumer's entries must be reclaimed within this
    outage_s: float  # how long a database outage lasts
    killed: set[int] = field(default_factory=set)  # pids the drill SIGKILLed: their locks expire

    def local(self) -> LocalSystem:
        if not isinstance(self.system, LocalSystem):
            raise DrillError("this fault needs the system the drill starts itself")
        return self.system

    def inspect(self) -> Inspection:
        """The ids check, read in the order that is safe while events move (see checker)."""
        before = self.ledger.view()
        counts = self.observer.counts()
        holdings = self.observer.holdings()
        after = self.ledger.view()
        return Inspection(
            check_ids(before, holdings, after),
            counts,
            *self._registry(),
            holdings,
        )

    def _registry(self) -> tuple[int | None, int]:
        pid = self.observer.registry_holder()
        return pid, int(pid is not None and pid not in self.killed)

    def registry_cell(self, seen: "Inspection") -> str:
        """For the table: clean, live (a running consumer), expiring (a killed one's), STALE."""
        if seen.registry_pid is None:
            return "clean"
        if seen.registry_pid in self.killed:
            return "expiring"
        return "live" if procs.is_alive(seen.registry_pid) else "STALE"

    def wait_reclaimed(self, consumers: list[str]) -> int:
        """Wait until the named (dead) consumers hold nothing; returns what they still hold."""

        def held() -> int:
            pending = self.observer.pending_by_consumer()
            return sum(pending.get(name, 0) for name in consumers)

        self.observer.wait_until(lambda: held() == 0, self.reclaim_timeout_s, interval_s=0.1)
        return held()

    def consumer_name(self, pid: int) -> str:
        return process_name(pid)  # as sluicegate.worker.consumer_process names its group consumer


def _graceful(
    ctx: FaultContext, stop: PlannedStop, stopped: Stopped, seen: Inspection, agent: bool
) -> StopFacts:
    notes = [f"{stop.label}: child {pid} outlived its parent" for pid in stopped.outlived]
    if stopped.exit_code is None:
        notes.append(f"{stop.label}: did not exit in time and was killed")
    return StopFacts(
        stop.kind,
        seen.ids,
        deadline_s=ctx.deadline_s,
        stop_s=stopped.seconds,
        exit_code=_KILLED_EXIT if stopped.exit_code is None else stopped.exit_code,
        registry=seen.stale if agent else None,
        in_flight=seen.counts.in_flight if agent else None,
        notes=tuple(notes),
    )


def _sigterm(ctx: FaultContext, stop: PlannedStop, service: Service, agent: bool) -> FaultResult:
    """SIGTERM as `docker stop` sends it, check the graceful stop, start the service again."""
    stopped = service.terminate(ctx.deadline_s)
    seen = ctx.inspect()
    recover_s = service.start()
    return FaultResult(_graceful(ctx, stop, stopped, seen, agent=agent), seen, recover_s)


def term_agent(ctx: FaultContext, stop: PlannedStop) -> FaultResult:
    system = ctx.local()
    aim(ctx, system)
    return _sigterm(ctx, stop, system.agent, agent=True)


def kill_agent(ctx: FaultContext, stop: PlannedStop) -> FaultResult:
    system = ctx.local()
    victim = aim(ctx, system)
    if victim is not None:  # strike the busy consumer first, before it can finish its batch
        procs.send([system.agent.pid], signal.SIGSTOP)
        procs.send([victim], signal.SIGKILL)
    killed = [*system.agent.kill(), *([victim] if victim else [])]
    ctx.killed.update(killed)
    seen = ctx.inspect()
    recover_s = system.agent.start()
    orphaned = ctx.wait_reclaimed([ctx.consumer_name(pid) for pid in killed])
    return FaultResult(StopFacts(stop.kind, seen.ids, orphaned=orphaned), seen, recover_s)


def kill_child(ctx: FaultContext, stop: PlannedStop) -> FaultResult:
    system = ctx.local()
    victim = aim(ctx, system)
    if victim is None:
        seen = ctx.inspect()
        return FaultResult(
            StopFacts(stop.kind, seen.ids),
            seen,
            remark="no consumer was running (nothing to consume): skipped",
        )
    ctx.killed.add(victim)
    procs.send([victim], signal.SIGKILL)
    procs.wait_gone([victim], timeout_s=5.0)
    seen = ctx.inspect()
    orphaned = ctx.wait_reclaimed([ctx.consumer_name(victim)])
    notes = () if system.agent.running else ("the agent died when its consumer was killed",)
    return FaultResult(
        StopFacts(stop.kind, seen.ids, orphaned=orphaned, notes=notes),
        seen,
        remark=f"killed consumer {victim}",
    )


def _a_consumer(ctx: FaultContext, system: LocalSystem, timeout_s: float) -> int | None:
    """A consumer the agent forked, waiting a little for one if the queue has work."""
    found: list[int] = []

    def look() -> bool:
        found[:] = system.agent.children()
        return bool(found)

    ctx.observer.wait_until(look, timeout_s=timeout_s)
    return found[0] if found else None


def aim(ctx: FaultContext, system: LocalSystem) -> int | None:
    """Wait for the worst moment to hit the agent: a consumer holding a batch. Returns its pid.

    With a backlog, wait for a consumer to be forked (a restarted agent forks once the killed
    one's lock expires); then, briefly, for entries in flight, so the fault lands mid-batch.
    """
    backlog = ctx.observer.counts().depth > 0
    timeout_s = ctx.reclaim_timeout_s if backlog else _AIM_TIMEOUT_S
    consumer = _a_consumer(ctx, system, timeout_s)
    if consumer is not None:
        ctx.observer.wait_until(
            lambda: ctx.observer.counts().in_flight > 0, _AIM_TIMEOUT_S, interval_s=0.002
        )
    return consumer


def term_api(ctx: FaultContext, stop: PlannedStop) -> FaultResult:
    return _sigterm(ctx, stop, ctx.local().api, agent=False)


def restart_redis(ctx: FaultContext, stop: PlannedStop) -> FaultResult:
    system = ctx.local()
    started = time.monotonic()
    system.redis.restart(hard=stop.hard)
    back = ctx.observer.wait_until(system.api_ready, timeout_s=30.0)
    recover_s = time.monotonic() - started
    seen = ctx.inspect()
    notes = [] if back else ["the API did not become ready again after the Redis restart"]
    if not system.agent.running:
        notes.append("the agent died during the Redis restart")
    return FaultResult(StopFacts(stop.kind, seen.ids, notes=tuple(notes)), seen, recover_s)


def database_outage(ctx: FaultContext, stop: PlannedStop) -> FaultResult:
    with database.outage(ctx.observer.database_url):
        database.hold(ctx.outage_s)
    seen = ctx.inspect()
    notes: tuple[str, ...] = ()
    if isinstance(ctx.system, LocalSystem) and not ctx.system.agent.running:
        notes = ("the agent died during the database outage",)
    return FaultResult(
        StopFacts(stop.kind, seen.ids, notes=notes),
        seen,
        remark=f"database unavailable for {ctx.outage_s:.1f} s",
    )


def command_stop(ctx: FaultContext, stop: PlannedStop) -> FaultResult:
    """Against a deployment: --stop-cmd, inspect, --start-cmd. ``kill`` expects no clean stop."""
    system = ctx.system
    if not isinstance(system, Deployment):
        raise DrillError("command stops are for deployments")
    stopped = system.run(system.stop_cmd)
    holders = [name for name, n in ctx.observer.pending_by_consumer().items() if n]
    seen = ctx.inspect()
    started = system.run(system.start_cmd)
    notes = () if started.exit_code == 0 else (f"--start-cmd exited {started.exit_code}",)
    if stop.kind == "kill":
        orphaned = ctx.wait_reclaimed(holders)
        return FaultResult(
            StopFacts(stop.kind, seen.ids, orphaned=orphaned, notes=notes), seen, started.seconds
        )
    facts = _graceful(ctx, stop, stopped, seen, agent=True)
    return FaultResult(replace(facts, notes=facts.notes + notes), seen, started.seconds)


Fault = Callable[[FaultContext, PlannedStop], FaultResult]
LOCAL_FAULTS: dict[str, Fault] = {
    "term": term_agent,
    "kill": kill_agent,
    "kill-child": kill_child,
    "api-term": term_api,
    "redis-restart": restart_redis,
    "db-outage": database_outage,
}
DEPLOYMENT_FAULTS: dict[str, Fault] = {
    "term": command_stop,
    "kill": command_stop,
    "db-outage": database_outage,
}
