"""The agent's Prometheus registry: its consumers' figures, its own, and the queues' gauges.

Consumers' figures arrive as lines on a pipe (``worker/metrics.py``) and are summed here per queue
and destination (label ``destination``: each destination of a queue has its own consumer group).
Queue gauges (depth, in flight, dead, lag) are read from Redis at scrape time, so they are never
stale; they describe the queue, not this agent, so with several agents use ``max by (queue)``.
"""

import threading
from collections.abc import Iterator

import redis
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from sluicegate.logs import get_logger
from sluicegate.queue.keys import DEFAULT_DESTINATION
from sluicegate.queue.stats import list_queues, snapshot
from sluicegate.worker.board import Board
from sluicegate.worker.metrics import Buckets, QueueFigures, parse_lines
from sluicegate.worker.retention_metrics import RetentionCollector

_LANE = ["queue", "destination"]  # every figure is a queue's for one of its destinations
_COUNTERS = {
    "persisted": ("sluicegate_events_persisted", "Rows inserted by this agent's consumers."),
    "absorbed": (
        "sluicegate_redeliveries_absorbed",
        "Events delivered again after a crash or lost ack; the database stored nothing twice.",
    ),
    "dead_lettered": ("sluicegate_events_dead_lettered", "Events moved to the dead letters."),
    "reclaimed": ("sluicegate_events_reclaimed", "Entries taken over from a consumer that died."),
}
_HISTOGRAMS = {
    "batch_seconds": ("sluicegate_persist_batch_seconds", "Time to persist one batch."),
    "batch_size": ("sluicegate_persist_batch_size", "Events in one persisted batch."),
    "latency": (
        "sluicegate_end_to_end_latency_seconds",
        "From accepted by the API (accepted_at) to committed in the database.",
    ),
}


class AgentMetrics:
    """Everything ``/metrics`` of the agent shows. Thread-safe: the agent's loop and its HTTP
    thread both write to it."""

    def __init__(self, client: "redis.Redis") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._figures: dict[tuple[str, str], QueueFigures] = {}
        self._partial = b""
        self.processes = Gauge(
            "sluicegate_consumer_processes",
            "Consumer processes of this agent running now (at most MAX_CONSUMERS).",
            registry=self.registry,
        )
        self.registry.register(_FiguresCollector(self))
        self.registry.register(_QueueCollector(client))
        self.registry.register(RetentionCollector(client))

    def receive(self, chunk: bytes) -> None:
        """Bytes read from the consumers' pipe; a line cut by the read waits for its end."""
        data = self._partial + chunk
        complete, _, self._partial = data.rpartition(b"\n")
        with self._lock:
            for wire in parse_lines(complete):
                destination = str(wire.get("d", DEFAULT_DESTINATION))
                self._lane((wire["q"], destination)).merge(wire)

    def consumer_started(self, queue: str, destination: str = DEFAULT_DESTINATION) -> None:
        """A consumer began serving ``queue`` (consumers report it over the pipe)."""
        with self._lock:
            self._lane((queue, destination)).starts += 1

    def consumer_gone(
        self, queue: str, reason: str, destination: str = DEFAULT_DESTINATION
    ) -> None:
        """A consumer died while serving ``queue`` (killed, crashed): its visit ends here."""
        with self._lock:
            exits = self._lane((queue, destination)).exits
            exits[reason] = exits.get(reason, 0) + 1

    def _lane(self, lane: tuple[str, str]) -> QueueFigures:
        figures = self._figures.get(lane)
        if figures is None:
            figures = self._figures[lane] = QueueFigures()
        return figures

    def copy_figures(self) -> dict[tuple[str, str], QueueFigures]:
        with self._lock:
            return {
                lane: QueueFigures(
                    dict(figures.counters),
                    {
                        name: Buckets(b.bounds, list(b.counts), b.total)
                        for name, b in figures.histograms.items()
                    },
                    dict(figures.exits),
                    figures.starts,
                )
                for lane, figures in self._figures.items()
            }

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _FiguresCollector(Collector):
    def __init__(self, metrics: AgentMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        figures = self._metrics.copy_figures()
        for key, (name, documentation) in _COUNTERS.items():
            family = CounterMetricFamily(name, documentation, labels=_LANE)
            for lane, queue_figures in figures.items():
                family.add_metric(list(lane), queue_figures.counters[key])
            yield family
        for key, (name, documentation) in _HISTOGRAMS.items():
            histogram = HistogramMetricFamily(name, documentation, labels=_LANE)
            for lane, queue_figures in figures.items():
                buckets = queue_figures.histograms[key]
                histogram.add_metric(list(lane), _cumulative(buckets), buckets.total)
            yield histogram
        exits = CounterMetricFamily(
            "sluicegate_consumer_exits",
            "Visits of a consumer to a queue that ended, by reason (drained, share-used, idle, "
            "stopped, lock-lost, gave-way, spare; killed, crashed when the process died in the "
            "visit).",
            labels=[*_LANE, "reason"],
        )
        for lane, queue_figures in figures.items():
            for reason, count in sorted(queue_figures.exits.items()):
                exits.add_metric([*lane, reason], count)
        yield exits
        starts = CounterMetricFamily(
            "sluicegate_consumer_starts",
            "Visits begun: a consumer took one of the queue's lock slots.",
            labels=_LANE,
        )
        serving = GaugeMetricFamily(
            "sluicegate_consumers",
            "This agent's consumers serving the queue now (visits begun and not ended).",
            labels=_LANE,
        )
        for lane, queue_figures in figures.items():
            starts.add_metric(list(lane), queue_figures.starts)
            serving.add_metric(list(lane), queue_figures.starts - sum(queue_figures.exits.values()))
        yield starts
        yield serving


def _cumulative(buckets: Buckets) -> list[tuple[str, float]]:
    running = 0
    rows: list[tuple[str, float]] = []
    for bound, count in zip([*buckets.bounds, float("inf")], buckets.counts, strict=True):
        running += count
        rows.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
    return rows


class _QueueCollector(Collector):
    """Reads every queue's snapshot at scrape time (one MULTI per queue)."""

    def __init__(self, client: "redis.Redis") -> None:
        self._client = client

    def describe(self) -> Iterator[Metric]:
        return iter(_queue_families())

    def collect(self) -> Iterator[Metric]:
        depth, in_flight, dead, age, up = _queue_families()
        try:
            for queue in list_queues(self._client):
                for lane in snapshot(self._client, queue).lanes:
                    labels = [queue, lane.destination]
                    depth.add_metric(labels, lane.depth)
                    in_flight.add_metric(labels, lane.in_flight)
                    dead.add_metric(labels, lane.dead_lettered)
                    age.add_metric(labels, lane.oldest_age_s)
            up.add_metric([], 1)
        except (RedisError, OSError) as error:
            log = get_logger(component="agent-http")
            log.warning("metrics-redis-unavailable", error=str(error))
            up.add_metric([], 0)
        yield from (depth, in_flight, dead, age, up)


def _queue_families() -> tuple[GaugeMetricFamily, ...]:
    return (
        GaugeMetricFamily(
            "sluicegate_queue_depth",
            "Events the destination has still to store: not yet delivered plus in flight.",
            labels=_LANE,
        ),
        GaugeMetricFamily(
            "sluicegate_queue_in_flight",
            "Events delivered to a consumer and not yet acknowledged.",
            labels=_LANE,
        ),
        GaugeMetricFamily(
            "sluicegate_queue_dead",
            "Events in the destination's dead letters of the queue.",
            labels=_LANE,
        ),
        GaugeMetricFamily(
            "sluicegate_queue_oldest_pending_age_seconds",
            "The lag: how long the oldest event the destination has not stored has waited (0 "
            "when none waits).",
            labels=_LANE,
        ),
        GaugeMetricFamily(
            "sluicegate_queue_store_up", "1 when Redis answered this scrape, else 0.", labels=[]
        ),
    )


class BoardCollector(Collector):
    """Each destination's database backoff (``worker/board.py``), read at scrape time."""

    def __init__(self, board: Board) -> None:
        self._board = board

    def collect(self) -> Iterator[Metric]:
        waiting = GaugeMetricFamily(
            "sluicegate_database_backoff_seconds",
            "How long this agent's consumers still wait before connecting to the destination's "
            "database again (it refused connections: too many clients); 0 when they do not wait.",
            labels=["destination"],
        )
        refused = GaugeMetricFamily(
            "sluicegate_database_refusals",
            "The destination's database connections refused in a row (reset by the next "
            "accepted one).",
            labels=["destination"],
        )
        for destination in self._board.destinations:
            waiting.add_metric([destination], self._board.backoff_remaining_s(destination))
            refused.add_metric([destination], self._board.backoff_state(destination)[0])
        yield from (waiting, refused)
