"""Optional tracing (``pip install 'sluicegate[otel]'``): a span for each persist of a batch,
linked to the trace of every request whose events are in it.

A batch gathers events from many requests, so the persist span cannot be a child of each; span
links are OpenTelemetry's answer for batch consumers (messaging semantic conventions).

Configured by the standard variables only. On when the SDK is installed, ``OTEL_SDK_DISABLED`` is
not true, and ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``) or an OTLP endpoint
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set; the resource
comes from ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` as the SDK reads them. Off, a
persist pays one ``None`` check. A consumer process sets its provider up on its first persist,
after the fork (an exporter's thread does not survive a fork), and flushes it before it exits.
"""

import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sluicegate.events import Event
from sluicegate.logs import get_logger

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

MAX_LINKS = 128  # the SDK's default span link limit: more would be dropped silently
_ENABLING = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)


@dataclass
class _Tracing:
    provider: "TracerProvider | None" = None
    tracer: Any = None
    configured_in: int | None = None  # the pid that set it up: a forked child sets up its own


_state = _Tracing()


def install(provider: "TracerProvider") -> None:
    """Trace with ``provider`` from now on (tests, or an application embedding the consumer)."""
    _state.provider, _state.configured_in = provider, os.getpid()
    _state.tracer = provider.get_tracer("sluicegate")


def persist_span(queue: str, events: Sequence[Event]) -> AbstractContextManager[object]:
    """A span around one persist of ``events``, or nothing when tracing is off."""
    if _state.configured_in != os.getpid():
        _configure_from_environment()
    if _state.tracer is None:
        return nullcontext()
    return _span(queue, events)


def shutdown() -> None:
    """Export what is buffered; before a consumer process's ``os._exit``."""
    if _state.provider is not None and _state.configured_in == os.getpid():
        _state.provider.shutdown()
    _state.provider = _state.tracer = None


@contextmanager
def _span(queue: str, events: Sequence[Event]) -> Iterator[object]:
    from opentelemetry.trace import SpanKind

    attributes = {
        "messaging.system": "sluicegate",
        "messaging.operation.type": "process",
        "messaging.operation.name": "persist",
        "messaging.destination.name": queue,
        "messaging.batch.message_count": len(events),
    }
    with _state.tracer.start_as_current_span(
        f"persist {queue}", kind=SpanKind.CONSUMER, attributes=attributes, links=_links(events)
    ) as span:
        yield span


def _links(events: Sequence[Event]) -> list[Any]:
    """One link per distinct request trace in the batch, the first MAX_LINKS of them."""
    from opentelemetry.trace import Link, get_current_span
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()
    seen: dict[str, None] = {}
    for event in events:
        if event.traceparent is not None and len(seen) < MAX_LINKS:
            seen[event.traceparent] = None
    links = []
    for traceparent in seen:
        context = get_current_span(propagator.extract({"traceparent": traceparent}))
        span_context = context.get_span_context()
        if span_context.is_valid:
            links.append(Link(span_context))
    return links


def _configure_from_environment() -> None:
    _state.provider = _state.tracer = None  # a forked child: not its parent's exporter thread
    _state.configured_in = os.getpid()
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    wanted = any(os.environ.get(name) for name in _ENABLING)
    if disabled or not wanted or exporter_name == "none":
        return
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        exporter = _exporter(exporter_name or "otlp")
    except ImportError as error:  # asked for, but the extra is not installed: say so, go on
        get_logger().warning("tracing-unavailable", error=str(error), extra="sluicegate[otel]")
        return
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)


def _exporter(name: str) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers and timeout from OTEL_EXPORTER_OTLP_*
