"""What a person reads at a glance (a rich table and a verdict line), and the same as JSON."""

from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from sluicegate.drill.checker import (
    DestinationTally,
    FinalFacts,
    IdVerdict,
    LagSummary,
    StopFacts,
)
from sluicegate.drill.metrics_check import MetricsCheck

EXAMPLE_IDS = 20  # ids listed per set in the JSON report


@dataclass(frozen=True, slots=True)
class StopRecord:
    number: int
    kind: str
    label: str
    queued_before: int  # queued + in flight, just before the fault
    queued_after: int  # queued + in flight, when checked after the fault
    in_flight_after: int
    lock_after: str  # the consumer lock: clean, live, expiring (a killed holder's), STALE
    persisted: int
    persisted_delta: int  # against the previous row (or 0 for the first)
    recover_s: float | None  # restart until ready, when the fault restarts something
    facts: StopFacts
    problems: tuple[str, ...]
    remark: str | None = None  # what the fault did or found (a random stop: its scenario)
    persisted_by: dict[str, int] = field(default_factory=dict)  # with several destinations


@dataclass(slots=True)
class DrillReport:
    mode: str  # "local": the drill started the system; "deployment": it was given one
    options: dict[str, Any]
    stops: list[StopRecord] = field(default_factory=list)
    final: FinalFacts | None = None
    final_problems: list[str] = field(default_factory=list)
    redeliveries: int = 0
    load: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)  # the drill itself could not run
    notes: list[str] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)  # the seeded plan, one line a stop
    shape: dict[str, Any] = field(default_factory=dict)  # agents, consumers per queue, redis, …
    metrics: MetricsCheck | None = None  # the agents' /metrics after the drain

    @property
    def passed(self) -> bool:
        return (
            self.final is not None
            and not self.errors
            and not self.final_problems
            and not any(stop.problems for stop in self.stops)
        )

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


def _in_flight_cell(record: StopRecord) -> str:
    if record.facts.orphaned is not None:
        return f"{record.in_flight_after:,} → {record.facts.orphaned:,} (reclaim)"
    return f"{record.in_flight_after:,}"


def _persisted_cell(record: StopRecord) -> str:
    """The persisted ids: of each destination when there are several (``9,500 · 8,000``, in
    the order the column's title names them)."""
    if not record.persisted_by:
        return f"{record.persisted:,}"
    return " · ".join(f"{count:,}" for count in record.persisted_by.values())


def destination_line(line: DestinationTally) -> str:
    """One destination at the end: ``accepted = persisted + queued + in flight + dead``, and its
    own lost and duplicated."""
    return (
        f"destination {line.destination}: {line.accepted:,} accepted = {line.persisted:,} "
        f"persisted + {line.queued:,} queued + {line.in_flight:,} in flight + {line.dead:,} dead"
        f"{'' if line.accounted == line.accepted else ' (does NOT add up)'}; "
        f"{line.lost:,} lost, {line.duplicated:,} duplicated"
    )


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def shape_line(shape: dict[str, Any]) -> str:
    """``2 agents, 3 consumers per queue, Redis: …, durability: …`` (a deployment's: as
    deployed)."""
    if not shape:
        return ""

    def said(key: str) -> str:
        value = shape.get(key)
        return "as deployed" if value is None else str(value)

    agents, consumers = shape.get("agents"), shape.get("consumers_per_queue")
    count = (
        "agents and consumers as deployed"
        if agents is None or consumers is None
        else f"{agents} agent{'s' if agents != 1 else ''}, {consumers} consumer"
        f"{'s' if consumers != 1 else ''} per queue"
    )
    where = f", destinations: {shape['destinations']}" if shape.get("destinations") else ""
    return f"{count}, Redis: {said('redis')}, durability: {said('durability')}{where}"


def stop_table(report: DrillReport) -> Table:
    shape = shape_line(report.shape)
    title = f"sluicegate drill ({report.mode}{': ' + shape if shape else ''})"
    table = Table(title=title, title_justify="left")
    several = next((r.persisted_by for r in report.stops if r.persisted_by), {})
    for name in (
        "stop",
        "fault",
        "queued before",
        "queued after",
        f"persisted {' · '.join(several)}" if several else "persisted",
        "Δ persisted",
        "in flight",
        "lock",
        "lost",
        "dup",
        "stop s",
        "ok",
    ):
        table.add_column(name, justify="left" if name in ("fault", "lock") else "right")
    for record in report.stops:
        ids = record.facts.ids
        table.add_row(
            str(record.number),
            record.label,
            f"{record.queued_before:,}",
            f"{record.queued_after:,}",
            _persisted_cell(record),
            f"{record.persisted_delta:+,}",
            _in_flight_cell(record),
            record.lock_after,
            f"{len(ids.lost):,}",
            f"{len(ids.duplicated):,}",
            _seconds(record.facts.stop_s),
            "[green]✓[/]" if not record.problems else "[red]✗[/]",
        )
    return table


def verdict_line(report: DrillReport) -> str:
    final = report.final
    if final is None:
        return f"verdict: FAIL — the drill could not finish: {'; '.join(report.errors)}"
    word = "PASS" if report.passed else "FAIL"
    persisted, each = f"{final.persisted:,} persisted", ""
    if len(final.destinations) > 1:
        persisted = "persisted " + ", ".join(
            f"{line.destination} {line.persisted:,}" for line in final.destinations
        )
        each = " in each destination"
    text = (
        f"verdict: {word} — {final.accepted:,} accepted, {persisted}, "
        f"{len(final.ids.lost):,} lost, {len(final.ids.duplicated):,} duplicated{each}, "
        f"{report.redeliveries:,} redeliveries absorbed"
    )
    extras = [
        (final.dead, "dead-lettered"),
        (len(final.ids.unexpected) + len(final.ids.refused_stored), "unexpected"),
        (final.sent - final.accepted, "not acknowledged (refused or unknown)"),
    ]
    return text + "".join(f", {count:,} {name}" for count, name in extras if count)


def lag_line(lag: LagSummary) -> str:
    """The fairness check: how long the worst-served queues waited."""
    where = f"{lag.queues:,} queues" if lag.queues > 1 else "the queue"
    return (
        f"lag (persisted_at - accepted_at), each queue's worst, over {where}: "
        f"p50 {lag.p50_ms / 1000:.2f} s, p95 {lag.p95_ms / 1000:.2f} s, "
        f"p99 {lag.p99_ms / 1000:.2f} s, max {lag.max_ms / 1000:.2f} s ({lag.slowest})"
    )


def memory_line(final: FinalFacts) -> str | None:
    """Memory reclaimed: once drained, every queue's stream is empty (None: not read)."""
    if final.streams is None:
        return None
    streams = len(final.streams)
    left = sum(count for _, count in final.streams)
    if not final.drained:
        return f"memory: not checked (not drained; {left:,} entries in the streams)"
    if left:
        return f"memory: NOT reclaimed: {left:,} entries left in drained streams"
    return (
        f"memory: reclaimed: {streams:,} queue stream{'s' if streams > 1 else ''} empty after the "
        "drain (trimmed once every destination had each entry, none early: 0 lost)"
    )


def counters_line(final: FinalFacts) -> str | None:
    """Redis's counts (what `sluicegate status` shows) add up in every lane (None: not read)."""
    if final.counters is None:
        return None
    off = sum(1 for _, unaccounted in final.counters if unaccounted)
    lanes = len(final.counters)
    if off:
        return f"counts: Redis's counts do NOT add up in {off:,} of {lanes:,} lanes"
    return (
        f"counts: accepted = persisted + queued + in flight + dead in Redis's counts, "
        f"{lanes:,} lane{'s' if lanes > 1 else ''}"
    )


def metrics_line(check: MetricsCheck) -> str:
    agents = f"{check.agents} agent{'s' if check.agents > 1 else ''}"
    verdict = "every promised name, queue gauges at 0" if not check.problems else "PROBLEMS"
    return (
        f"agents' /metrics ({agents}): {verdict}; {check.persisted_counted:,} events "
        "counted persisted since their last start"
    )


def _render_head(report: DrillReport, console: Console) -> None:
    """The plan, the shape (when no table's title says it), the notes, the table."""
    if report.plan:
        console.print(f"seed {report.options.get('seed')}; the plan it drew:", highlight=False)
        for line in report.plan:
            console.print(f"  {line}", highlight=False)
    if report.shape and not report.stops:
        console.print(f"shape: {shape_line(report.shape)}", highlight=False)
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")
    if report.stops:
        console.print(stop_table(report))


def render(report: DrillReport, console: Console) -> None:
    _render_head(report, console)
    for record in report.stops:
        for problem in record.problems:
            console.print(f"[red]stop {record.number}: {problem}[/]")
    for problem in report.final_problems:
        console.print(f"[red]end: {problem}[/]")
    for error in report.errors:
        console.print(f"[red]error: {error}[/]")
    for line in _end_lines(report):
        console.print(line, highlight=False)
    style = "bold green" if report.passed else "bold red"
    console.print(f"[{style}]{verdict_line(report)}[/]", highlight=False)
    console.print(f"wall time {report.wall_s:.1f} s", highlight=False)


def _end_lines(report: DrillReport) -> list[str]:
    """The lines above the verdict: each destination's, the lag, the metrics, memory, counts."""
    final = report.final
    lines: list[str] = []
    if final is not None and len(final.destinations) > 1:
        lines += [destination_line(line) for line in final.destinations]
    if final is not None and final.lag is not None:
        lines.append(lag_line(final.lag))
    if report.metrics is not None and report.metrics.agents:
        lines.append(metrics_line(report.metrics))
    if final is not None:
        lines += [line for line in (memory_line(final), counters_line(final)) if line is not None]
    return lines


def _ids_json(verdict: IdVerdict) -> dict[str, Any]:
    return {
        name: {"count": len(ids), "examples": sorted(ids)[:EXAMPLE_IDS]}
        for name, ids in (
            ("lost", verdict.lost),
            ("duplicated", verdict.duplicated),
            ("unexpected", verdict.unexpected),
            ("refused_stored", verdict.refused_stored),
        )
    }


def _facts_json(facts: StopFacts) -> dict[str, Any]:
    return {
        "exit_code": facts.exit_code,
        "stop_s": facts.stop_s,
        "deadline_s": facts.deadline_s,
        "stale_locks": facts.stale_locks,
        "in_flight": facts.in_flight,
        "orphaned": facts.orphaned,
        "notes": list(facts.notes),
        "ids": _ids_json(facts.ids),
    }


def _stop_json(record: StopRecord) -> dict[str, Any]:
    return {
        "number": record.number,
        "fault": record.kind,
        "label": record.label,
        "queued_before": record.queued_before,
        "queued_after": record.queued_after,
        "in_flight_after": record.in_flight_after,
        "lock_after": record.lock_after,
        "persisted": record.persisted,
        "persisted_by_destination": record.persisted_by or None,
        "persisted_delta": record.persisted_delta,
        "recover_s": record.recover_s,
        "checked": _facts_json(record.facts),
        "problems": list(record.problems),
        "remark": record.remark,
        "ok": not record.problems,
    }


def _final_json(final: FinalFacts | None, problems: list[str]) -> dict[str, Any] | None:
    if final is None:
        return None
    return {
        "accepted": final.accepted,
        "sent": final.sent,
        "persisted": final.persisted,
        "dead_lettered": final.dead,
        "queued": final.queued,
        "in_flight": final.in_flight,
        "unknown_absent": final.unknown_absent,
        "ids": _ids_json(final.ids),
        "shutdown": None if final.shutdown is None else _facts_json(final.shutdown),
        "notes": list(final.notes),
        "problems": problems,
        "lag_ms": None if final.lag is None else asdict(final.lag),
        "queues": [asdict(queue) for queue in final.queues],
        "destinations": [asdict(line) for line in final.destinations],
        "stream_entries_left": None if final.streams is None else dict(final.streams),
        "counters_unaccounted": None if final.counters is None else dict(final.counters),
    }


def to_json(report: DrillReport) -> dict[str, Any]:
    return {
        "verdict": "PASS" if report.passed else "FAIL",
        "passed": report.passed,
        "exit_code": report.exit_code,
        "summary": verdict_line(report),
        "mode": report.mode,
        "shape": report.shape,
        "wall_s": round(report.wall_s, 3),
        "options": report.options,
        "seed": report.options.get("seed"),
        "plan": report.plan,
        "redeliveries_absorbed": report.redeliveries,
        "load": report.load,
        "stops": [_stop_json(record) for record in report.stops],
        "final": _final_json(report.final, report.final_problems),
        "metrics": None if report.metrics is None else report.metrics.as_json(),
        "errors": report.errors,
        "notes": report.notes,
    }
