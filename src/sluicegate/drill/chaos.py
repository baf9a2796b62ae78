"""One ``random`` stop: play a drawn scenario of overlapping faults on the local system, then
bring everything back and judge what it promised.

The steps run on a timeline from the moment the stop begins (a step never fires early; one that
blocks, such as a Redis restart, delays the next). Afterwards every condition is lifted, whatever
is down is started again, and the stop is judged: the ids (lost, duplicated, unexpected), every
entry a killed consumer held reclaimed, and for each graceful stop its exit code and deadline;
``in flight 0`` and ``no stale lock`` only for an agent drain nothing else disturbed (a consumer
cannot finish its batch while the database or the network is away).
"""

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

from sluicegate.drill import database
from sluicegate.drill.checker import IdVerdict, StopFacts, graceful_stop_facts, stop_problems
from sluicegate.drill.faults import FaultContext, FaultResult
from sluicegate.drill.primitives import Drain, Primitives
from sluicegate.drill.scenario import Step, resets
from sluicegate.drill.schedule import PlannedStop
from sluicegate.drill.service import Service

_READY_TIMEOUT_S = 30.0
_QUIET = frozenset({"agent-down", "api-down"})  # conditions that leave the consumers' work alone


@dataclass
class _Drain:
    """A SIGTERM sent to a service, waiting for its exit."""

    sent: Drain
    clean: bool  # nothing else disturbed it: in flight 0 and no stale lock are promised
    killed: bool = False  # SIGKILLed mid-drain on purpose: not a graceful stop any more


@dataclass
class _Play:
    act: Primitives
    ctx: FaultContext
    stop: PlannedStop
    database: ExitStack = field(default_factory=ExitStack)
    open: dict[str, Step] = field(default_factory=dict)  # conditions in force, by kind
    drains: dict[str, _Drain] = field(default_factory=dict)  # by service name
    killed: list[str] = field(default_factory=list)  # consumer names whose entries must return
    notes: list[str] = field(default_factory=list)  # failures
    skipped: list[str] = field(default_factory=list)  # steps that found nothing to hit
    launched: set[str] = field(default_factory=set)  # started again, ready or not: see restore
    stop_s: float | None = None

    # The timeline ------------------------------------------------------------------------------

    def events(self, steps: tuple[Step, ...]) -> list[tuple[float, int, Callable[[], None]]]:
        timeline: list[tuple[float, int, Callable[[], None]]] = []
        for step in steps:
            for at_s, action in self._actions(step):
                timeline.append((at_s, len(timeline), action))
        return sorted(timeline, key=lambda event: event[:2])

    def _actions(self, step: Step) -> list[tuple[float, Callable[[], None]]]:
        kind = step.kind
        if kind == "net-reset":
            return [(at_s, self._reset) for at_s in resets(step)]
        instants: dict[str, Callable[[], None]] = {
            "agent-kill": self._kill_agent,
            "consumer-kill": self._kill_consumer,
            "redis-restart": lambda: self._restart_redis(hard=False),
            "redis-kill": lambda: self._restart_redis(hard=True),
        }
        if kind in instants:
            return [(step.at_s, instants[kind])]
        actions = [(step.at_s, lambda: self._begin(step)), (step.end_s, lambda: self._end(step))]
        if step.kill_after_s is not None:
            actions.append((step.at_s + step.kill_after_s, self._kill_draining_agent))
        return actions

    def run(self, steps: tuple[Step, ...]) -> None:
        started = time.monotonic()
        try:
            for at_s, _, action in self.events(steps):
                database.hold(max(0.0, started + at_s - time.monotonic()))  # the plan's moment
                action()
        finally:
            self.database.close()
            self.act.heal_network()

    def _disturb(self) -> None:
        """Something touched the consumers' work: a drain under way is no longer clean."""
        for drain in self.drains.values():
            drain.clean = False

    # Conditions ----------------------------------------------------------------------------------

    def _begin(self, step: Step) -> None:
        if step.kind in self.open:
            self.skipped.append(f"{step.describe()} (already in force)")
            return
        begin: Callable[[], object] = {
            "db-outage": lambda: self.database.enter_context(
                database.outage(self.ctx.observer.database_url)
            ),
            "net-latency": lambda: self.act.slow_network(step.latency_s),
            "net-blackhole": lambda: self.act.cut_network(True),
            "agent-down": lambda: self._sigterm(self.act.agent),
            "api-down": lambda: self._sigterm(self.act.api),
        }[step.kind]
        if step.kind not in _QUIET:
            self._disturb()
        if begin() is not False:
            self.open[step.kind] = step

    def _end(self, step: Step) -> None:
        if self.open.get(step.kind) is not step:
            return  # it never began (already in force, or nothing to stop)
        del self.open[step.kind]
        end: Callable[[], object] = {
            "db-outage": self.database.close,
            "net-latency": lambda: self.act.slow_network(0.0),
            "net-blackhole": lambda: self.act.cut_network(False),
            "agent-down": lambda: self._restart(self.act.agent),
            "api-down": lambda: self._restart(self.act.api),
        }[step.kind]
        end()

    def _sigterm(self, service: Service) -> bool:
        if not service.running:
            self.skipped.append(f"SIGTERM {service.name} (not running)")
            return False
        clean = not (set(self.open) - _QUIET)
        self.drains[service.name] = _Drain(self.act.sigterm(service), clean)
        return True

    def _restart(self, service: Service) -> None:
        """Wait for the drain to end, judge it, start the service again."""
        drain = self.drains.pop(service.name)
        stopped = self.act.wait_drained(drain.sent, self.ctx.deadline_s)
        if not drain.killed:
            exited = (stopped.exit_code, stopped.seconds, stopped.outlived)
            self._judge_drain(service, drain, exited)
        self._start_again(service)

    def _start_again(self, service: Service) -> None:
        """Start it without waiting for it to be ready: with the network or Redis still away it
        cannot be, and lifting that may be a later step of this timeline. ``restore`` waits."""
        service.launch()
        self.launched.add(service.name)

    def _judge_drain(
        self, service: Service, drain: _Drain, exited: tuple[int | None, float, tuple[int, ...]]
    ) -> None:
        """Gather a drain's facts for ``checker``: its stale locks and events in flight only
        for an agent drain nothing else disturbed."""
        agent = service is self.act.agent
        leftovers: tuple[int | None, int | None] = (None, None)
        if agent and drain.clean:
            holders = self.ctx.observer.lock_holders()
            stale = sum(e.pid not in self.ctx.killed for held in holders.values() for e in held)
            leftovers = (stale, self._held_by_the_living())
        unchecked = IdVerdict.unchecked()
        facts = graceful_stop_facts("random", unchecked, exited, self.ctx.deadline_s, leftovers)
        self.notes += [f"SIGTERM {service.name}: {problem}" for problem in stop_problems(facts)]
        if agent:
            self.stop_s = exited[1]

    def _held_by_the_living(self) -> int:
        """Events in flight, but for those of consumers the scenario killed: a stop right after
        a SIGKILL may come before any successor took them over (they wait for a reclaim)."""
        pending = self.ctx.observer.pending_by_consumer()
        return sum(n for name, n in pending.items() if name not in self.killed)

    # Instants ------------------------------------------------------------------------------------

    def _reset(self) -> None:
        self._disturb()
        self.act.reset_connections()

    def _restart_redis(self, hard: bool) -> None:
        self._disturb()
        self.act.restart_redis(hard)

    def _kill_agent(self) -> None:
        """SIGKILL the agent and its consumers; started again at once unless a stop is planned."""
        agent = self.act.agent
        if not agent.running:
            self.skipped.append("SIGKILL agent (not running)")
            return
        if "agent" in self.drains:
            self._kill_draining_agent()
            return
        self._disturb()
        pid = agent.pid
        self._killed([pid, *self.act.kill_agent(agent)])
        if self.open:  # an agent waits for Redis at start: no waiting here while Redis is away
            self._start_again(agent)
        else:
            agent.start()

    def _kill_draining_agent(self) -> None:
        drain = self.drains.get("agent")
        if drain is None or not drain.sent.service.running:
            self.skipped.append("SIGKILL during the drain (the agent had exited)")
            return
        drain.killed = True
        self._killed([drain.sent.service.pid, *drain.sent.service.kill()])

    def _kill_consumer(self) -> None:
        consumers = self.act.agent.children()
        if not consumers:
            self.skipped.append("SIGKILL consumer (none running)")
            return
        self._disturb()
        self.act.kill_consumer(consumers[0])
        self._killed(consumers[:1])

    def _killed(self, pids: list[int]) -> None:
        self.ctx.killed.update(pids)
        self.killed += [self.ctx.consumer_name(pid) for pid in pids]

    # After ---------------------------------------------------------------------------------------

    def restore(self) -> float:
        """Every service up and the API ready again; a note for whatever died on its own."""
        started = time.monotonic()
        for service in (self.act.api, self.act.agent):
            if not service.running:
                self.notes.append(f"the {service.name} died during the scenario")
                service.start()
            elif service.name in self.launched:
                service.wait_ready(started)  # its faults are lifted now: ready within the timeout
        if not self.ctx.observer.wait_until(self.act.api_ready, _READY_TIMEOUT_S):
            self.notes.append("the API did not become ready again")
        return time.monotonic() - started


def play(act: Primitives, ctx: FaultContext, stop: PlannedStop) -> FaultResult:
    """Play ``stop.scenario``, restore the system, and judge the stop."""
    assert stop.scenario is not None
    act.aim(ctx)  # start while a consumer holds a batch, when there is work
    scenario = _Play(act, ctx, stop)
    scenario.run(stop.scenario.steps)
    recover_s = scenario.restore()
    seen = ctx.inspect()
    orphaned = ctx.wait_reclaimed(scenario.killed) if scenario.killed else None
    facts = StopFacts(
        stop.kind, seen.ids, stop_s=scenario.stop_s, orphaned=orphaned, notes=tuple(scenario.notes)
    )
    skipped = f"; skipped: {', '.join(scenario.skipped)}" if scenario.skipped else ""
    return FaultResult(facts, seen, recover_s, remark=stop.scenario.describe() + skipped)
