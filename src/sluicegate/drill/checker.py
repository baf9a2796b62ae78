"""The verdicts, as pure functions of sets of event ids and of measured facts.

GUIDE §2 (the Jepsen "total queue" check applied to a pipeline): every id the API acknowledged is,
at every moment, queued, in flight, persisted or dead-lettered; nothing is stored twice; nothing is
stored that was never sent or that the API refused. Nothing here does I/O, so the tests can feed it
sets and prove that a broken checker cannot hide a loss.

Reading order makes the id check safe while events move (an event only ever moves stream -> DB or
stream -> dead letters): take the ledger view ``before``, then the stream, then the dead letters,
then the database, then the ledger view ``after``. ``lost`` uses ``before`` (everything it calls
acknowledged was already in the stream when the stream was read); ``unexpected`` uses ``after``
(anything found was sent by then).
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sluicegate.drill.ledger import LedgerView

NO_IDS = LedgerView(frozenset(), frozenset(), frozenset())  # a queue the load sent nothing to

EXAMPLES = 5  # ids quoted in a problem's message
KILLED_EXIT = -9  # the exit code reported for a process that had to be killed


@dataclass(frozen=True, slots=True)
class Holdings:
    """Where the ids of one queue were found."""

    queued: frozenset[str] = frozenset()  # in the stream, not delivered
    in_flight: frozenset[str] = frozenset()  # delivered, not acknowledged
    dead: frozenset[str] = frozenset()
    persisted: frozenset[str] = frozenset()
    duplicated: frozenset[str] = frozenset()  # ids with more than one row in the database
    rows: int = 0  # rows in the database, count(*)

    @property
    def anywhere(self) -> frozenset[str]:
        return self.queued | self.in_flight | self.dead | self.persisted


def merged(parts: Iterable[Holdings]) -> Holdings:
    """Several queues' holdings as one (the totals)."""
    parts = list(parts)
    if len(parts) == 1:
        return parts[0]
    return Holdings(
        queued=frozenset().union(*(h.queued for h in parts)),
        in_flight=frozenset().union(*(h.in_flight for h in parts)),
        dead=frozenset().union(*(h.dead for h in parts)),
        persisted=frozenset().union(*(h.persisted for h in parts)),
        duplicated=frozenset().union(*(h.duplicated for h in parts)),
        rows=sum(h.rows for h in parts),
    )


@dataclass(frozen=True, slots=True)
class IdVerdict:
    lost: frozenset[str]  # acknowledged, found nowhere
    duplicated: frozenset[str]  # more than one row
    unexpected: frozenset[str]  # found, but never sent
    refused_stored: frozenset[str]  # found, but the API refused it (and nothing is outstanding)
    queues: tuple[str, ...] = ()  # with several queues: "queue q: <problem>", the failing ones
    # With several destinations: each one's own verdict (the sets above are their unions).
    destinations: tuple[tuple[str, "IdVerdict"], ...] = ()

    @property
    def problems(self) -> list[str]:
        if self.destinations:
            return [
                f"destination {name}: {problem}"
                for name, verdict in self.destinations
                for problem in verdict.problems
            ]
        named = [
            ("lost", self.lost),
            ("duplicated", self.duplicated),
            ("unexpected (never sent)", self.unexpected),
            ("unexpected (refused, yet stored)", self.refused_stored),
        ]
        totals = [f"{len(ids):,} {name}: {examples(ids)}" for name, ids in named if ids]
        return totals + list(self.queues)

    @property
    def ok(self) -> bool:
        return not self.problems

    @classmethod
    def union(
        cls,
        parts: Iterable["IdVerdict"],
        queues: tuple[str, ...] = (),
        destinations: tuple[tuple[str, "IdVerdict"], ...] = (),
    ) -> "IdVerdict":
        """One verdict over several queues' or destinations' verdicts: their sets joined."""
        every = list(parts)
        return cls(
            lost=frozenset().union(*(v.lost for v in every)),
            duplicated=frozenset().union(*(v.duplicated for v in every)),
            unexpected=frozenset().union(*(v.unexpected for v in every)),
            refused_stored=frozenset().union(*(v.refused_stored for v in every)),
            queues=queues,
            destinations=destinations,
        )

    @classmethod
    def unchecked(cls) -> "IdVerdict":
        """For facts whose ids another check judges (the final stop: the end check does)."""
        return cls(frozenset(), frozenset(), frozenset(), frozenset())


def check_ids(before: LedgerView, holdings: Holdings, after: LedgerView) -> IdVerdict:
    found = holdings.anywhere
    extra_rows = holdings.rows - len(holdings.persisted)
    duplicated = set(holdings.duplicated)
    if extra_rows > 0 and not duplicated:  # count(*) says more rows than distinct ids
        duplicated.add(f"<{extra_rows} extra rows>")
    return IdVerdict(
        lost=before.acked - found,
        duplicated=frozenset(duplicated),
        unexpected=found - after.sent,
        refused_stored=found & after.refused,
    )


def check_queues(
    before: Mapping[str, LedgerView],
    holdings: Mapping[str, Holdings],
    after: Mapping[str, LedgerView],
) -> IdVerdict:
    """``check_ids`` queue by queue: an id acknowledged for queue q must be found in q (found
    only in another queue it is lost from q and unexpected in the other). The verdict holds the
    totals, and names the failing queues when there are several."""
    verdicts = {
        queue: check_ids(before.get(queue, NO_IDS), holdings[queue], after.get(queue, NO_IDS))
        for queue in holdings
    }
    if len(verdicts) == 1:
        return next(iter(verdicts.values()))
    failing = sorted(queue for queue, verdict in verdicts.items() if not verdict.ok)
    lines = [f"queue {queue}: {'; '.join(verdicts[queue].problems)}" for queue in failing]
    if len(failing) > EXAMPLES:
        lines = [*lines[:EXAMPLES], f"… {len(failing) - EXAMPLES:,} more queues with problems"]
    return IdVerdict.union(verdicts.values(), queues=tuple(lines))


def check_destinations(
    before: Mapping[str, LedgerView],
    found: Mapping[str, Mapping[str, Holdings]],
    after: Mapping[str, LedgerView],
) -> IdVerdict:
    """``check_queues`` destination by destination (``found``: destination -> queue ->
    holdings): every destination must hold every acknowledged id on its own, once. The verdict's
    sets are the unions; its problems name the destination."""
    verdicts = {name: check_queues(before, holdings, after) for name, holdings in found.items()}
    if len(verdicts) == 1:
        return next(iter(verdicts.values()))
    return IdVerdict.union(verdicts.values(), destinations=tuple(verdicts.items()))


def examples(ids: Iterable[str]) -> str:
    chosen = sorted(ids)
    more = f", … (+{len(chosen) - EXAMPLES:,})" if len(chosen) > EXAMPLES else ""
    return ", ".join(chosen[:EXAMPLES]) + more


@dataclass(frozen=True, slots=True)
class StopFacts:
    """What one fault measured. ``None`` means "does not apply to this fault": not checked."""

    fault: str
    ids: IdVerdict
    exit_code: int | None = None  # of a process stopped gracefully: must be 0
    stop_s: float | None = None  # how long the graceful stop took: at most deadline_s
    deadline_s: float | None = None
    stale_locks: int | None = None  # consumer locks left after a graceful stop: must be 0
    in_flight: int | None = None  # events pending after a graceful agent stop: must be 0
    orphaned: int | None = None  # events killed consumers held, after the reclaim wait: must be 0
    notes: tuple[str, ...] = field(default=())  # the fault's own failures (a restart that failed)


def graceful_stop_facts(
    kind: str,
    ids: IdVerdict,
    stopped: tuple[int | None, float, Sequence[int]],
    deadline_s: float,
    leftovers: tuple[int | None, int | None] = (None, None),
    who: str | None = None,
) -> StopFacts:
    """The promises of a graceful stop, from ``stopped`` (exit code or None when it had to be
    killed, seconds, children that outlived it): exit 0 within the deadline, nothing outliving
    it; with ``leftovers`` (stale locks, events in flight; None: not checked, as when something
    else disturbed the consumers' work) none left behind. ``who`` prefixes the notes."""
    exit_code, seconds, outlived = stopped
    notes = [f"process {pid} outlived its parent" for pid in outlived]
    if exit_code is None:
        notes.append("did not exit in time and was killed")
    stale, in_flight = leftovers
    return StopFacts(
        kind,
        ids,
        deadline_s=deadline_s,
        stop_s=seconds,
        exit_code=KILLED_EXIT if exit_code is None else exit_code,
        stale_locks=stale,
        in_flight=in_flight,
        notes=tuple(f"{who}: {note}" if who else note for note in notes),
    )


def stop_problems(facts: StopFacts) -> list[str]:
    problems = list(facts.ids.problems) + list(facts.notes)
    if facts.exit_code is not None and facts.exit_code != 0:
        problems.append(f"exit code {facts.exit_code} after a graceful stop (want 0)")
    if (
        facts.stop_s is not None
        and facts.deadline_s is not None
        and facts.stop_s > facts.deadline_s
    ):
        problems.append(
            f"graceful stop took {facts.stop_s:.1f} s, over the {facts.deadline_s:.1f} s deadline"
        )
    if facts.stale_locks:
        problems.append(
            f"{facts.stale_locks} stale lock{'' if facts.stale_locks == 1 else 's'} "
            "after a graceful stop"
        )
    if facts.in_flight:
        problems.append(f"{facts.in_flight:,} events in flight after a graceful stop (want 0)")
    if facts.orphaned:
        problems.append(f"{facts.orphaned:,} events held by killed consumers never reclaimed")
    return problems


@dataclass(frozen=True, slots=True)
class QueueTally:
    """One queue at the end: its accepted ids and where they are (the conservation line
    ``accepted = persisted + queued + in flight + dead``, checked on ids by ``check_queues``)."""

    queue: str
    accepted: int
    persisted: int
    queued: int
    in_flight: int
    dead: int


def tally(queue: str, acked: frozenset[str], holdings: Holdings) -> QueueTally:
    return QueueTally(
        queue,
        accepted=len(acked),
        persisted=len(acked & holdings.persisted),
        queued=len(acked & holdings.queued),
        in_flight=len(acked & holdings.in_flight),
        dead=len(acked & holdings.dead),
    )


@dataclass(frozen=True, slots=True)
class DestinationTally:
    """One destination at the end, all the drill's queues together: where the accepted ids are
    for it (queued and in flight: in its own consumer group), and its own lost and duplicated.
    ``accepted = persisted + queued + in flight + dead`` must hold for each destination."""

    destination: str
    accepted: int
    persisted: int
    queued: int
    in_flight: int
    dead: int
    lost: int
    duplicated: int

    @property
    def accounted(self) -> int:
        return self.persisted + self.queued + self.in_flight + self.dead


def destination_tally(
    name: str, acked: frozenset[str], holdings: Holdings, verdict: IdVerdict
) -> DestinationTally:
    counts = tally(name, acked, holdings)
    return DestinationTally(
        name,
        counts.accepted,
        counts.persisted,
        counts.queued,
        counts.in_flight,
        counts.dead,
        lost=len(verdict.lost),
        duplicated=len(verdict.duplicated),
    )


def accounting_problems(tallies: Iterable[DestinationTally]) -> list[str]:
    """A destination whose ids do not add up to what was accepted (an id both dead and stored,
    or stored and still pending at the end), and dead letters: the drill sends nothing that
    a destination should refuse."""
    problems = []
    for t in tallies:
        if t.accounted != t.accepted:
            problems.append(
                f"destination {t.destination}: {t.accepted:,} accepted but {t.persisted:,} "
                f"persisted + {t.queued:,} queued + {t.in_flight:,} in flight + {t.dead:,} dead "
                f"= {t.accounted:,}"
            )
        if t.dead:
            problems.append(
                f"destination {t.destination}: {t.dead:,} dead-lettered, yet the drill sends "
                "nothing a destination should refuse"
            )
    return problems


@dataclass(frozen=True, slots=True)
class LagSummary:
    """The fairness check: each queue's worst lag (persisted_at - accepted_at of its slowest
    event), and percentiles of those over the queues."""

    queues: int
    p50_ms: int
    p95_ms: int
    p99_ms: int
    max_ms: int
    slowest: str


def lag_summary(worst_ms: Mapping[str, int]) -> LagSummary | None:
    """Nearest-rank percentiles of the queues' worst lags; None when nothing was stored."""
    if not worst_ms:
        return None
    ranked = sorted(worst_ms.values())

    def rank(fraction: float) -> int:
        return ranked[max(0, math.ceil(fraction * len(ranked)) - 1)]

    slowest = max(sorted(worst_ms), key=lambda queue: worst_ms[queue])
    return LagSummary(len(ranked), rank(0.5), rank(0.95), rank(0.99), ranked[-1], slowest)


@dataclass(frozen=True, slots=True)
class FinalFacts:
    """The end of the run, once the load finished and the queue drained (or the wait ran out)."""

    ids: IdVerdict
    accepted: int
    sent: int
    persisted: int
    dead: int
    queued: int  # left in the stream at the end: must be 0 once drained
    in_flight: int
    unknown_absent: int  # unknown outcomes that never landed (allowed)
    shutdown: StopFacts | None = None  # the final graceful stop of the agent
    notes: tuple[str, ...] = ()
    queues: tuple[QueueTally, ...] = ()  # each queue's line, with several queues
    lag: LagSummary | None = None
    destinations: tuple[DestinationTally, ...] = ()  # each destination's line
    # Entries each queue's stream still holds at the end (None: not read). Once drained, every
    # destination has acknowledged everything, so the trimming rule must have emptied them all.
    streams: tuple[tuple[str, int], ...] | None = None
    # Each lane's (queue/destination) Redis counts at the end: accepted - (persisted + queued +
    # in flight + dead), what `sluicegate status` shows (None: not read). The scripts keep them
    # in events, an ack counting only what it acknowledged, so it is 0 whatever was killed.
    counters: tuple[tuple[str, int], ...] | None = None

    @property
    def drained(self) -> bool:
        return not (self.queued or self.in_flight)


def final_problems(facts: FinalFacts) -> list[str]:
    problems = list(facts.ids.problems) + list(facts.notes)
    if facts.queued or facts.in_flight:
        problems.append(
            f"not drained: {facts.queued:,} queued and {facts.in_flight:,} in flight at the end"
        )
        stuck = [q for q in facts.queues if q.queued or q.in_flight]
        problems += [
            f"queue {q.queue} not drained: {q.queued:,} queued, {q.in_flight:,} in flight"
            for q in stuck[:EXAMPLES]
        ]
    if facts.shutdown is not None:
        problems += [f"final shutdown: {problem}" for problem in stop_problems(facts.shutdown)]
    problems += accounting_problems(facts.destinations) + memory_problems(facts)
    return problems + counter_problems(facts)


def counter_problems(facts: FinalFacts) -> list[str]:
    """Redis's own counts (``sluicegate status``) add up in every lane."""
    off = [(lane, unaccounted) for lane, unaccounted in facts.counters or () if unaccounted]
    return [
        f"Redis's counts of {lane} do not add up: accepted - (persisted + queued + in flight + "
        f"dead) = {unaccounted:+,}"
        for lane, unaccounted in off[:EXAMPLES]
    ]


def memory_problems(facts: FinalFacts) -> list[str]:
    """Memory reclaimed: a drained queue's stream is empty (an entry is deleted once every
    destination has acknowledged it, and all have acknowledged everything). That nothing was
    trimmed early is the ids check's: a trimmed entry no destination stored is lost."""
    left = [(queue, count) for queue, count in facts.streams or () if count]
    if not facts.drained or not left:
        return []  # not drained: said above
    entries = sum(count for _, count in left)
    where = ", ".join(f"{queue} {count:,}" for queue, count in left[:EXAMPLES])
    return [f"memory not reclaimed: {entries:,} entries left in drained streams: {where}"]
