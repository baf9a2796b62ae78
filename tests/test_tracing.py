"""The consumer's persist span links to the trace of every request in the batch (the SDK's
in-memory exporter; a real Redis and SQLite underneath).

The SDK is the optional extra ``sluicegate[otel]``, not a test dependency: redis-py imports it at
start when it is installed (about 0.2 s of CPU in every process the suite starts). Without it the
span test skips, unless SLUICEGATE_REQUIRE_OTEL=1: ``.ci/run`` installs the extra after the suite
and runs this file with it.
"""

import os
from collections.abc import Iterator
from typing import Any

import pytest

from sluicegate import tracing
from sluicegate.process.signals import SignalInbox, StopWatch
from sluicegate.queue.lock import new_lock_entry
from sluicegate.repository.sqlite import SqliteRepository
from sluicegate.settings import Settings
from sluicegate.worker.consumer_loop import Place
from sluicegate.worker.fork import serve_queues
from tests.loading import enqueue, make_events

TRACE_A = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_B = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def exported() -> Iterator[Any]:
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    except ImportError:
        reason = "needs the OpenTelemetry SDK: pip install -e '.[otel]'"
        if os.environ.get("SLUICEGATE_REQUIRE_OTEL") == "1":
            pytest.fail(f"SLUICEGATE_REQUIRE_OTEL=1 but it {reason}", pytrace=False)
        pytest.skip(reason)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    yield exporter
    tracing.shutdown()


def test_the_persist_span_links_to_each_request_trace(settings: Settings, exported: Any) -> None:
    from opentelemetry.trace import SpanKind

    events = make_events("q", 6)
    traced = [e._replace(traceparent=TRACE_A if n < 2 else TRACE_B) for n, e in enumerate(events)]
    enqueue(settings.redis_url, traced[:2] + traced[2:4], batch=2)  # two requests of trace A, B
    enqueue(settings.redis_url, events[4:], batch=2)  # one request without a trace
    fast = settings.model_copy(update={"queue_agent_worker_ttl_s": 0.3, "queue_batch_size": 100})
    identity = new_lock_entry("q")
    serve_queues(fast, fast.redis_url, identity, StopWatch(SignalInbox([])), place=Place())
    assert SqliteRepository(settings.sqlite_filepath).count("q") == 6
    [span] = exported.get_finished_spans()  # one batch of six
    assert span.name == "persist q"
    assert span.kind is SpanKind.CONSUMER
    assert span.attributes is not None
    assert span.attributes["messaging.destination.name"] == "q"
    assert span.attributes["messaging.batch.message_count"] == 6
    linked = {(link.context.trace_id, link.context.span_id) for link in span.links}
    assert linked == {
        (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7),
        (0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331),
    }


def test_without_configuration_tracing_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    tracing.shutdown()
    with tracing.persist_span("q", make_events("q", 1)) as span:
        assert span is None  # a nullcontext: nothing recorded, nothing exported
