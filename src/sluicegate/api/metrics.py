"""Prometheus metrics of one API instance, in a registry of its own (tests build many apps)."""

import os

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sluicegate.queue.writer import DurabilityMode

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # set by api.serving.processes for its workers
_LATENCY_BUCKETS_S = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.process_registry = CollectorRegistry(auto_describe=True)
        self.events_accepted = Counter(
            "sluicegate_api_events_accepted",
            "Events answered 202, per queue.",
            ["queue"],
            registry=self.registry,
        )
        self.store_full = Counter(
            "sluicegate_api_store_full_refusals",
            "POSTs answered 503 queue-store-full (Redis above REDIS_MEMORY_HIGH_WATER), per queue.",
            ["queue"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "sluicegate_api_rate_limited_requests",
            "POSTs answered 429 rate-limited, by the name of the token over its rate.",
            ["token"],
            registry=self.registry,
        )
        self.schema_violations = Counter(
            "sluicegate_api_schema_violations",
            "Events that broke their queue's schema contract (SCHEMAS_FILE), per queue and mode "
            "(reject: refused with a 422; quarantine: accepted into the dead letters).",
            ["queue", "mode"],
            registry=self.registry,
        )
        self.requests = Counter(
            "sluicegate_api_requests",
            "HTTP requests by method, route and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.enqueue_latency = Histogram(
            "sluicegate_api_enqueue_seconds",
            "Time to append a request's events durably.",
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.draining = Gauge(
            "sluicegate_api_draining",
            "1 once the API drains after SIGTERM (503 to new events), else 0.",
            registry=self.process_registry,
        )
        self.durability = Enum(
            "sluicegate_api_durability",
            "What a 202 promises (unknown until Redis answers).",
            states=["unknown", *(mode.value for mode in DurabilityMode)],
            registry=self.process_registry,
        )
        self.durability.state("unknown")
        # Labelled children by their labels: ``labels()`` (validation, a lock, a dict) on every
        # request was about a tenth of a single-event request's own CPU.
        self._requests: dict[tuple[str, str, int], Counter] = {}
        self._accepted: dict[str, Counter] = {}

    def count_request(self, method: str, route: str, status: int) -> None:
        child = self._requests.get((method, route, status))
        if child is None:
            child = self._requests[method, route, status] = self.requests.labels(
                method, route, str(status)
            )
        child.inc()

    def count_accepted(self, queue: str, events: int) -> None:
        child = self._accepted.get(queue)
        if child is None:
            child = self._accepted[queue] = self.events_accepted.labels(queue)
        child.inc(events)

    def render(self) -> bytes:
        """This process's figures; with API_WORKERS > 1 the counters of every worker, summed
        by prometheus-client's multiprocess mode (an Enum has no such mode: it stays per process,
        and every worker detects the same durability)."""
        counters = self.registry
        if MULTIPROC_ENV in os.environ:
            counters = CollectorRegistry()
            MultiProcessCollector(counters)  # type: ignore[no-untyped-call]
        return generate_latest(counters) + generate_latest(self.process_registry)


class RequestMetricsMiddleware:
    """Counts every HTTP response by status, including 404s and errors from handlers."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app dies before starting a response

        async def send_and_count(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_count)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.count_request(scope["method"], route, status)
