"""bench_e2e's figures: one measurement from three readings, and the plain-text report."""

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.e2e_system import Reading

PROCESSES = ("api", "agent", "valkey", "postgres")
_TOP_COMMANDS = 8


@dataclass(frozen=True)
class Measurement:
    code: str  # before, after, or this (no --before)
    database: str
    shape: str
    events: int  # accepted from the start of the load to the end of the drain
    load_s: float
    accepted_per_s: float  # during the load
    persisted_per_s: float  # during the load
    backlog: int  # accepted, not yet persisted, when the load stopped
    drain_s: float
    end_to_end_per_s: float  # events over load + drain
    cpu_us: dict[str, float]  # process → CPU µs per event over load + drain; "total" too
    calls: dict[str, float]  # Valkey command → calls per event (those called)
    others_cores: float  # cores busy with anything else than the system, wrk and the bench

    @classmethod
    def of(
        cls, code: str, database: str, shape: str, readings: tuple[Reading, Reading, Reading]
    ) -> "Measurement":
        """From the readings at the start of the load, at its end, and once drained."""
        start, loaded, end = readings
        events = max(1, end.accepted - start.accepted)
        load_s = loaded.at_s - start.at_s
        seconds = {name: end.cpu_s[name] - start.cpu_s[name] for name in end.cpu_s}
        cpu = {name: used * 1e6 / events for name, used in seconds.items()}
        machine_s = end.machine_busy_s - start.machine_busy_s
        others_s = machine_s - sum(seconds.values()) - (end.bench_s - start.bench_s)
        calls = {
            name: (count - start.calls.get(name, 0)) / events for name, count in end.calls.items()
        }
        return cls(
            code,
            database,
            shape,
            events,
            load_s,
            (loaded.accepted - start.accepted) / load_s,
            (loaded.persisted - start.persisted) / load_s,
            loaded.accepted - loaded.persisted,
            end.at_s - loaded.at_s,
            events / (end.at_s - start.at_s),
            cpu | {"total": sum(cpu.values())},
            {name: per_event for name, per_event in calls.items() if per_event > 0},
            others_s / (end.at_s - start.at_s),
        )

    @property
    def calls_per_event(self) -> float:
        return sum(self.calls.values())

    def line(self) -> str:
        """A one-line progress note."""
        cpu = " ".join(f"{name} {us:.0f}" for name, us in self.cpu_us.items())
        return (
            f"{self.database} {self.shape} {self.code}: {self.accepted_per_s:,.0f} accepted/s, "
            f"{self.persisted_per_s:,.0f} persisted/s, backlog {self.backlog:,}, drained in "
            f"{self.drain_s:.1f} s; CPU µs/event {cpu}; {self.calls_per_event:.2f} calls/event; "
            f"{self.others_cores:.1f} cores busy elsewhere"
        )


def _cpu_column(name: str) -> Callable[[Measurement], float]:
    """One process's CPU µs/event: a function per name, so each column reads its own process."""
    return lambda m: m.cpu_us.get(name, float("nan"))


_COLUMNS: dict[str, tuple[str, Callable[[Measurement], float]]] = {
    "accepted/s": (",.0f", lambda m: m.accepted_per_s),
    "persisted/s": (",.0f", lambda m: m.persisted_per_s),
    "backlog": (",.0f", lambda m: m.backlog),
    "drain s": (".1f", lambda m: m.drain_s),
    "e2e/s": (",.0f", lambda m: m.end_to_end_per_s),
    **{f"µs {name}": (".1f", _cpu_column(name)) for name in (*PROCESSES, "total")},
    "calls/ev": (".2f", lambda m: m.calls_per_event),
    "others": (".1f", lambda m: m.others_cores),
}
_LABEL = 28


def _row(label: str, values: Sequence[float], ratio: bool = False) -> str:
    cells = []
    for (title, (spec, _)), value in zip(_COLUMNS.items(), values, strict=True):
        width = max(len(title) + 2, 9)
        if value != value:  # NaN: not measured (no PostgreSQL) or no ratio (0 before)
            cells.append(f"{'—':>{width}}")
        else:
            cells.append(f"{value:>{width}{'.2f' if ratio else spec}}")
    return f"{label:<{_LABEL}}{''.join(cells)}"


def _ratio(after: float, before: float) -> float:
    return after / before if before else float("nan")


def report(measurements: Sequence[Measurement]) -> str:
    """The table (medians over rounds; after/before ratios: the median of each round's ratio),
    then Valkey's busiest commands per event for each database, shape and code."""
    groups: dict[tuple[str, str], dict[str, list[Measurement]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for measured in measurements:
        groups[measured.database, measured.shape][measured.code].append(measured)
    head = "".join(f"{title:>{max(len(title) + 2, 9)}}" for title in _COLUMNS)
    lines = [f"{'database shape code':<{_LABEL}}{head}"]
    for (database, shape), codes in groups.items():
        for code, runs in codes.items():
            medians = [statistics.median(get(run) for run in runs) for _, get in _COLUMNS.values()]
            lines.append(_row(f"{database} {shape} {code}", medians))
        if "before" in codes and "after" in codes:
            pairs = list(zip(codes["after"], codes["before"], strict=False))
            ratios = [
                statistics.median(_ratio(get(after), get(before)) for after, before in pairs)
                for _, get in _COLUMNS.values()
            ]
            lines.append(_row(f"{database} {shape} after/before", ratios, ratio=True))
    return "\n".join([*lines, "", "Valkey calls per event (top commands):", *_commands(groups)])


def _commands(groups: dict[tuple[str, str], dict[str, list[Measurement]]]) -> list[str]:
    lines = []
    for (database, shape), codes in groups.items():
        for code, runs in codes.items():
            events = sum(run.events for run in runs)
            totals: dict[str, float] = defaultdict(float)
            for run in runs:
                for name, per_event in run.calls.items():
                    totals[name] += per_event * run.events / events
            top = sorted(totals.items(), key=lambda item: -item[1])[:_TOP_COMMANDS]
            listed = ", ".join(f"{name} {per_event:.3f}" for name, per_event in top)
            lines.append(f"{database} {shape} {code}: {listed}")
    return lines
