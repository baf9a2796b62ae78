"""``POST /v1/events/{queue}``: the API's hot path, served by ``api/ingest/fast_path.py``.

FastAPI's parameter machinery and pydantic per request were much of a single-event request's CPU
(bench/profile_api.py), so this endpoint reads its own headers, hands the body to the format
adapter the ``Content-Type`` names (``api/ingest/formats/``) and enqueues what comes back. The
OpenAPI document describes it by hand (``api/openapi/ingest.py``).
"""

import time
from collections.abc import Mapping

import orjson
from redis.exceptions import OutOfMemoryError, RedisError
from starlette.requests import Request
from starlette.responses import Response

from sluicegate.api.auth import signatures
from sluicegate.api.auth.bearer import Caller
from sluicegate.api.contracts.gate import Gated, gate
from sluicegate.api.ingest import body
from sluicegate.api.ingest.formats import checks, webhooks
from sluicegate.api.ingest.formats.base import Intake
from sluicegate.api.ingest.formats.dispatch import adapter_for
from sluicegate.api.ingest.rate_limit import limit_rate
from sluicegate.api.ingest.trace_context import valid_traceparent
from sluicegate.api.problems import ProblemError, unavailable
from sluicegate.api.state import ApiState
from sluicegate.errors import UNCONFIRMED_WRITE, DurabilityError
from sluicegate.events import Event
from sluicegate.logs import get_logger

QUEUE_FULL_RETRY_AFTER_S = 5
_JSON = "application/json"


def headers_of(request: Request) -> dict[str, str]:
    """Every header in one pass (names are lower case in ASGI), instead of a scan per lookup."""
    return {
        name.decode("latin-1"): value.decode("latin-1") for name, value in request.scope["headers"]
    }


def request_intake(request: Request, state: ApiState, queue: str) -> tuple[Intake, Caller]:
    """The caller authenticated and authorized (``api/auth/bearer.py``: 401, 403), the queue
    checked, the headers as a dict (one pass instead of a scan per lookup)."""
    headers = headers_of(request)
    caller = state.auth.authenticate(headers.get("authorization"))  # 401 before anything else
    checks.check_queue(queue)
    state.auth.authorize(caller, queue)
    checks.check_header_id(headers.get("idempotency-key"), "Idempotency-Key")
    if state.draining:
        raise unavailable("the server is shutting down; retry on another instance")
    return Intake(queue, headers, state.settings), caller


async def post_events(request: Request, state: ApiState, queue: str) -> Response:
    intake, caller = request_intake(request, state, queue)
    await limit_rate(state, caller)  # 429 before the body is read
    adapter = adapter_for(intake.headers)
    raw = await body.read_body(request, intake.headers, state.settings.max_body_bytes)
    events = adapter(raw, intake)
    return await accept(state, intake.queue, events, intake.headers)


async def post_webhook(request: Request, state: ApiState, queue: str) -> Response:
    """``POST /v1/webhooks/{queue}``: not bearer-protected (third parties sign instead); 404 for a
    queue the webhooks file does not name; the signature checked on the decompressed body."""
    webhook = state.webhooks.get(queue)
    if webhook is None:
        raise ProblemError(404, "unknown-webhook", f"no webhook named '{queue}' in WEBHOOKS_FILE")
    if state.draining:
        raise unavailable("the server is shutting down; retry on another instance")
    headers = headers_of(request)
    raw = await body.read_body(request, headers, state.settings.max_body_bytes)
    signatures.verify(webhook, headers, raw)
    event = webhooks.event(webhook, raw, Intake(queue, headers, state.settings))
    return await accept(state, queue, [event], headers)


async def accept(
    state: ApiState, queue: str, events: list[Event], headers: Mapping[str, str]
) -> Response:
    """Hold the events to the queue's schema contract (``api/contracts/gate.py``: the one place
    every format passes), enqueue durably (with the request's trace context, if any), then the
    202 with the ids in request order, and those quarantined."""
    content: dict[str, object] = {"queue": queue, "accepted": len(events)}
    content["event_ids"] = [event.event_id for event in events]
    if events:
        gated = gate(state.contracts, state.metrics, queue, events)
        await _enqueue(state, queue, gated, valid_traceparent(headers.get("traceparent")))
        if gated.quarantined:
            content["quarantined"] = [event.event_id for event, _ in gated.quarantined]
    return Response(orjson.dumps(content), 202, media_type=_JSON)


async def _enqueue(state: ApiState, queue: str, gated: Gated, traceparent: str | None) -> None:
    writer = await state.writer()
    if writer is None:
        raise unavailable("the queue store (Redis) is unreachable")
    refusal = await state.memory.refusal(state.client, queue)
    if refusal is not None:
        state.metrics.store_full.labels(queue).inc()
        raise refusal
    started = time.perf_counter()
    try:
        result = await writer.enqueue(queue, gated.queued, traceparent, gated.quarantined)
    except OutOfMemoryError:  # refused before any write: nothing stored (between two readings)
        state.metrics.store_full.labels(queue).inc()
        raise state.memory.full_refusal() from None
    except (RedisError, OSError, DurabilityError) as error:
        get_logger().warning("enqueue-failed", queue=queue, error=str(error))
        raise unavailable(UNCONFIRMED_WRITE) from None
    state.metrics.enqueue_latency.observe(time.perf_counter() - started)
    if not result.accepted:
        raise ProblemError(
            429,
            "queue-full",
            f"queue '{queue}' holds {result.depth} events, "
            f"its limit is {state.settings.queue_max_depth}",
            retry_after_s=QUEUE_FULL_RETRY_AFTER_S,
        )
    state.metrics.count_accepted(queue, len(gated.queued) + len(gated.quarantined))
