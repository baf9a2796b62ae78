"""A consumer's figures, sent to its agent over a pipe (one JSON line per batch).

The consumer process counts nothing itself and owns no Prometheus registry: each call adds to a
small delta, and ``flush`` writes the delta as one line of at most PIPE_BUF bytes, so lines from
several consumers sharing the pipe never interleave. The write never blocks: if the agent is slow
to read, the delta waits and is merged into the next one; if the agent is gone, figures are
dropped (there is nobody left to export them). docs/design-notes.md, "Metrics", says why a pipe.
"""

import bisect
import errno
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import orjson

from sluicegate.events import Event
from sluicegate.queue.keys import DEFAULT_DESTINATION

_ACCEPTED_AT = attrgetter("accepted_at_ms")
PIPE_BUF = 4096  # POSIX minimum; Linux's too: writes up to this size are atomic

# Buckets (upper bounds). Shared by the consumer, which counts, and the agent, which exports.
BATCH_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

COUNTERS = ("persisted", "absorbed", "dead_lettered", "reclaimed")
HISTOGRAMS = {
    "batch_seconds": BATCH_SECONDS_BUCKETS,
    "batch_size": BATCH_SIZE_BUCKETS,
    "latency": LATENCY_BUCKETS,
}
# Why a consumer left a queue, as it reports itself (worker.visit.Outcome's values).
EXIT_REASONS = ("drained", "share-used", "idle", "stopped", "lock-lost", "gave-way", "spare")


@dataclass(slots=True)
class Buckets:
    """A histogram's raw counts: ``counts[i]`` observations <= ``bounds[i]``, the last one +Inf."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def observe_ages(self, now_ms: int, times_ms: list[int]) -> None:
        """Observe ``(now_ms - t) / 1000`` for every ``t`` (sorted in place): one sort and one
        bisection per bound, in C, instead of a Python step per event (500 to a batch)."""
        times_ms.sort()
        within = [
            len(times_ms) - bisect.bisect_left(times_ms, now_ms - bound * 1000)
            for bound in self.bounds
        ]  # within[i]: observations <= bounds[i]
        for index, (below, upto) in enumerate(
            zip([0, *within], [*within, len(times_ms)], strict=True)
        ):
            self.counts[index] += upto - below
        self.total += (now_ms * len(times_ms) - sum(times_ms)) / 1000

    def add(self, counts: Sequence[int], total: float) -> None:
        for index, count in enumerate(counts):
            self.counts[index] += count
        self.total += total


@dataclass(slots=True)
class QueueFigures:
    """What happened on one queue since the last flush (consumer) or since start (agent)."""

    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    histograms: dict[str, Buckets] = field(
        default_factory=lambda: {name: Buckets(bounds) for name, bounds in HISTOGRAMS.items()}
    )
    exits: dict[str, int] = field(default_factory=dict)
    starts: int = 0  # visits begun (a consumer took one of the queue's lock slots)

    def merge(self, wire: dict[str, Any]) -> None:
        self.starts += int(wire.get("s", 0))
        for name, count in wire.get("c", {}).items():
            if name in self.counters:
                self.counters[name] += int(count)
        for name, (counts, total) in wire.get("h", {}).items():
            if name in self.histograms:
                self.histograms[name].add(counts, total)
        for reason, count in wire.get("x", {}).items():
            self.exits[reason] = self.exits.get(reason, 0) + int(count)

    def to_wire(self, queue: str, destination: str = DEFAULT_DESTINATION) -> dict[str, Any]:
        return {
            "q": queue,
            "d": destination,
            "c": {name: count for name, count in self.counters.items() if count},
            "h": {
                name: (buckets.counts, buckets.total)
                for name, buckets in self.histograms.items()
                if any(buckets.counts)
            },
            "x": self.exits,
            "s": self.starts,
        }


class ConsumerMetrics:
    """The consumer's only handle on metrics. ``fd`` None: count nothing (tests, benchmarks).
    Figures are kept per queue and destination: ``of`` is the handle for another destination,
    sharing the pipe and what waits to be sent."""

    def __init__(
        self,
        fd: int | None,
        destination: str = DEFAULT_DESTINATION,
        pending: dict[tuple[str, str], QueueFigures] | None = None,
    ) -> None:
        self._fd = fd
        self._destination = destination
        self._pending = {} if pending is None else pending

    def of(self, destination: str) -> "ConsumerMetrics":
        if destination == self._destination:
            return self
        return ConsumerMetrics(self._fd, destination, self._pending)

    def batch_persisted(
        self, queue: str, events: Sequence[Event], inserted: int, seconds: float
    ) -> None:
        """A batch committed: ``inserted`` rows new, the rest redeliveries the database absorbed."""
        if self._fd is None:
            return
        figures = self._figures(queue)
        figures.counters["persisted"] += inserted
        figures.counters["absorbed"] += len(events) - inserted
        figures.histograms["batch_seconds"].observe(seconds)
        figures.histograms["batch_size"].observe(len(events))
        accepted_ms = list(map(_ACCEPTED_AT, events))
        figures.histograms["latency"].observe_ages(time.time_ns() // 1_000_000, accepted_ms)
        self.flush()

    def dead_lettered(self, queue: str, count: int = 1) -> None:
        self._count(queue, "dead_lettered", count)

    def reclaimed(self, queue: str, count: int) -> None:
        self._count(queue, "reclaimed", count)

    def visit_started(self, queue: str) -> None:
        """The consumer took one of ``queue``'s lock slots; flushed at once."""
        if self._fd is None:
            return
        self._figures(queue).starts += 1
        self.flush()

    def exited(self, queue: str, reason: str) -> None:
        """The consumer leaves ``queue`` for ``reason`` (one of EXIT_REASONS); flushed at once."""
        if self._fd is None:
            return
        exits = self._figures(queue).exits
        exits[reason] = exits.get(reason, 0) + 1
        self.flush()

    def _count(self, queue: str, name: str, count: int) -> None:
        if self._fd is None or not count:
            return
        self._figures(queue).counters[name] += count
        self.flush()

    def _figures(self, queue: str) -> QueueFigures:
        lane = (queue, self._destination)
        figures = self._pending.get(lane)
        if figures is None:
            figures = self._pending[lane] = QueueFigures()
        return figures

    def flush(self) -> None:
        """Send every pending delta that the pipe takes now; keep the rest for the next call."""
        for lane in list(self._pending):
            line = orjson.dumps(self._pending[lane].to_wire(*lane)) + b"\n"
            if len(line) <= PIPE_BUF and not self._send(line):
                return
            del self._pending[lane]  # sent (a line too long to be atomic is dropped)

    def _send(self, line: bytes) -> bool:
        if self._fd is None:
            return False
        try:
            os.write(self._fd, line)
        except BlockingIOError:
            return False  # the agent is behind: the delta waits for the next flush
        except OSError as error:  # the agent is gone (EPIPE): nobody to tell any more
            if error.errno != errno.EAGAIN:
                self._fd = None
            return False
        return True


def parse_lines(chunk: bytes) -> Iterable[dict[str, Any]]:
    """Complete lines from the pipe; a line that does not parse is skipped, never fatal."""
    for line in chunk.splitlines():
        try:
            wire = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(wire, dict) and isinstance(wire.get("q"), str):
            yield wire
