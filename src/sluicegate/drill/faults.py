"""What every fault shares, whichever system undergoes it: look at the ids, judge a stop.

A fault (a function of a ``FaultContext`` and a ``PlannedStop``) does something to the system,
looks at the ids at the telling moment and brings things back, returning the facts the checker
judges. A graceful stop is inspected while the agent is down (in flight 0, no stale lock, exit
code 0, within the deadline); a SIGKILL is followed by a wait until the entries the dead consumers
held have been reclaimed by their successor. The faults themselves are methods of the systems
(``local.LocalSystem``, ``deployment.Deployment``): each offers those it can do.
"""

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sluicegate.drill import database, procs
from sluicegate.drill.checker import (
    Holdings,
    IdVerdict,
    StopFacts,
    check_destinations,
    graceful_stop_facts,
    merged,
)
from sluicegate.drill.ledger import Ledger, LedgerView
from sluicegate.drill.observe import Observer, total
from sluicegate.drill.schedule import PlannedStop
from sluicegate.drill.service import Stopped
from sluicegate.process.liveness import process_name
from sluicegate.queue.lock import LockEntry
from sluicegate.queue.stats import QueueSnapshot


@dataclass(frozen=True, slots=True)
class Inspection:
    ids: IdVerdict  # checked queue by queue, with the totals
    counts: QueueSnapshot  # of all the queues together
    locks: dict[str, list[LockEntry]]  # queue -> who holds its lock slots (QUEUE_CONSUMERS)
    stale: int  # locks of processes the drill did not kill (checked when graceful), all queues
    holdings: Holdings  # all the queues together
    by_queue: dict[str, Holdings] = field(default_factory=dict)  # of the first destination
    counts_by_queue: tuple[QueueSnapshot, ...] = ()
    # destination -> queue -> holdings (the first destination's are ``holdings`` and ``by_queue``)
    by_destination: dict[str, dict[str, Holdings]] = field(default_factory=dict)

    @property
    def persisted(self) -> int:
        return len(self.holdings.persisted)

    @property
    def persisted_by(self) -> dict[str, int]:
        """Each destination's persisted ids, all queues together."""
        return {
            name: sum(len(h.persisted) for h in by_queue.values())
            for name, by_queue in self.by_destination.items()
        }

    @property
    def lock_pids(self) -> list[int]:
        return _pids(self.locks)


@dataclass(frozen=True, slots=True)
class FaultResult:
    facts: StopFacts
    seen: Inspection
    recover_s: float | None = None
    remark: str | None = None  # information, not a failure (a fault that found nothing to hit)


@dataclass(frozen=True, slots=True)
class AgentScope:
    """What a graceful stop of one agent answers for while other agents run on: its own locks
    and what its consumers held, since the others' consumers hold theirs in plain use."""

    agent: str  # process_name of the stopped agent, as its consumers write it in their locks
    consumers: frozenset[str]  # process names of every consumer it forked


@dataclass
class FaultContext:
    """What a fault needs besides the system: the observer, the ledger and the time limits."""

    observer: Observer
    ledger: Ledger
    deadline_s: float  # a graceful stop must end within this
    reclaim_timeout_s: float  # a SIGKILLed consumer's entries must be reclaimed within this
    outage_s: float  # how long a database outage lasts
    killed: set[int] = field(default_factory=set)  # pids the drill SIGKILLed: their locks expire
    queue_of: Callable[[str], str | None] | None = None  # an id's queue, with several queues
    seed: int = 1  # of the drill: which of several agents a stop hits (see ``victim``)

    def inspect(self) -> Inspection:
        """The ids check, queue by queue, read in the order that is safe while events move
        (see checker)."""
        before = self.ledger.view()
        counts = self.observer.counts_by_queue()
        found = self.observer.holdings_by_destination()
        after = self.ledger.view()
        ids = check_destinations(self._split(before), found, self._split(after))
        locks = self.observer.lock_holders()
        stale = sum(pid not in self.killed for pid in _pids(locks))
        first = next(iter(found.values()))
        return Inspection(
            ids,
            total(counts),
            locks,
            stale,
            merged(first.values()),
            first,
            tuple(counts),
            found,
        )

    def _split(self, view: LedgerView) -> dict[str, LedgerView]:
        if self.queue_of is None or len(self.observer.queues) == 1:
            return {self.observer.queue: view}
        return view.by_queue(self.queue_of)

    def victim(self, stop: PlannedStop, count: int) -> int:
        """Which of ``count`` agents stop ``stop`` hits: each in turn, from a seeded first."""
        return (self.seed + stop.number) % count

    def lock_cell(self, seen: Inspection) -> str:
        """For the table: clean, live (a running consumer), expiring (a killed one's), STALE;
        with several locks (queues, or QUEUE_CONSUMERS slots), how many of each."""
        kinds = Counter(self._lock_kind(pid) for pid in seen.lock_pids)
        if not kinds:
            return "clean"
        if sum(kinds.values()) == 1:
            return next(iter(kinds))
        return ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))

    def _lock_kind(self, pid: int) -> str:
        if pid in self.killed:
            return "expiring"
        return "live" if procs.is_alive(pid) else "STALE"

    def leftovers(self, seen: Inspection, scope: AgentScope | None) -> tuple[int, int]:
        """Stale locks and events in flight after a graceful agent stop: everything when no
        agent runs any more (``scope`` None), else only what the stopped one left behind."""
        if scope is None:
            return seen.stale, seen.counts.in_flight
        own = [e for held in seen.locks.values() for e in held if e.agent == scope.agent]
        stale = sum(entry.pid not in self.killed for entry in own)
        return stale, self.held_by(scope.consumers - self.names(self.killed))

    def held_by(self, consumers: Iterable[str]) -> int:
        """Events the named consumers hold (delivered to them, not acknowledged)."""
        pending = self.observer.pending_by_consumer()
        return sum(pending.get(name, 0) for name in set(consumers))

    def names(self, pids: Iterable[int]) -> frozenset[str]:
        return frozenset(self.consumer_name(pid) for pid in pids)

    def wait_reclaimed(self, consumers: list[str]) -> int:
        """Wait until the named (dead) consumers hold nothing; returns what they still hold."""

        self.observer.wait_until(
            lambda: self.held_by(consumers) == 0, self.reclaim_timeout_s, interval_s=0.1
        )
        return self.held_by(consumers)

    def consumer_name(self, pid: int) -> str:
        return process_name(pid)  # as sluicegate.worker.fork names its group consumer


Fault = Callable[[FaultContext, PlannedStop], FaultResult]


def _pids(locks: dict[str, list[LockEntry]]) -> list[int]:
    return [entry.pid for held in locks.values() for entry in held]


def graceful_facts(
    ctx: FaultContext,
    stop: PlannedStop,
    stopped: Stopped,
    seen: Inspection,
    agent: bool,
    scope: AgentScope | None = None,
) -> StopFacts:
    """The promises of a graceful stop (``checker.graceful_stop_facts``); for an agent, also
    nothing in flight and no lock left behind (of its own, when others run on: ``scope``)."""
    leftovers = ctx.leftovers(seen, scope) if agent else (None, None)
    exited = (stopped.exit_code, stopped.seconds, stopped.outlived)
    return graceful_stop_facts(stop.kind, seen.ids, exited, ctx.deadline_s, leftovers, stop.label)


def database_outage(
    ctx: FaultContext,
    stop: PlannedStop,
    agents_died: Callable[[str], tuple[str, ...]] | None = None,
) -> FaultResult:
    """The database refuses the consumers for ``outage_s``; batches must wait, pending.
    ``agents_died`` names the agents that did not live through it, if the drill runs them."""
    with database.outage(ctx.observer.database_url):
        database.hold(ctx.outage_s)
    seen = ctx.inspect()
    notes = agents_died("during the database outage") if agents_died is not None else ()
    return FaultResult(
        StopFacts(stop.kind, seen.ids, notes=notes),
        seen,
        remark=f"database unavailable for {ctx.outage_s:.1f} s",
    )
