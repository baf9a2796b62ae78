"""The endpoints: ingest, liveness, readiness, metrics."""

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request
from redis.exceptions import RedisError
from starlette.responses import Response

from sluicegate.api import body, openapi
from sluicegate.api.auth import require_token
from sluicegate.api.intake import parse_events
from sluicegate.api.metrics import CONTENT_TYPE
from sluicegate.api.models import (
    EVENT_ID_MAX_CHARS,
    EVENT_ID_PATTERN,
    QUEUE_NAME_REGEX,
    Accepted,
    Alive,
    Ready,
)
from sluicegate.api.problems import ProblemError
from sluicegate.api.responses import json_response as _json
from sluicegate.api.responses import state_of as _state
from sluicegate.api.responses import unavailable as _unavailable
from sluicegate.api.state import ApiState
from sluicegate.errors import DurabilityError
from sluicegate.events import Event
from sluicegate.logs import get_logger
from sluicegate.queue.writer import QueueWriter

QUEUE_FULL_RETRY_AFTER_S = 5

router = APIRouter()

QueueName = Annotated[
    str,
    Path(
        pattern=QUEUE_NAME_REGEX,
        description="The queue (one Redis stream); created on first use.",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=EVENT_ID_MAX_CHARS,
        pattern=EVENT_ID_PATTERN,
        description="The event_id of a single event that has none in its body.",
    ),
]


@router.post(
    "/v1/events/{queue}",
    status_code=202,
    response_model=Accepted,
    summary="Accept one event or a batch (all-or-nothing)",
    description="Answers 202 only once Redis holds every event as durably as the server's "
    "durability mode allows (see `/readyz`).",
    responses=openapi.problem_responses(400, 401, 403, 413, 415, 422, 429, 503),
    openapi_extra=openapi.EVENTS_REQUEST_BODY,
    dependencies=[Depends(require_token)],
)
async def post_events(
    queue: QueueName, request: Request, idempotency_key: IdempotencyKey = None
) -> Response:
    state = _state(request)
    if state.draining:
        raise _unavailable("the server is shutting down; retry on another instance")
    body.check_content_type(request.headers.get("content-type"))
    cap = state.settings.max_body_bytes
    body.check_declared_length(request.headers.get("content-length"), cap)
    raw = await body.read_capped(request, cap)
    events = parse_events(raw, queue, idempotency_key, state.settings)
    writer = await _writer(state)
    await _enqueue(state, writer, queue, events)
    event_ids = [event.event_id for event in events]
    return _json({"queue": queue, "accepted": len(events), "event_ids": event_ids}, 202)


async def _writer(state: ApiState) -> QueueWriter:
    writer = await state.writer()
    if writer is None:
        raise _unavailable("the queue store (Redis) is unreachable")
    return writer


async def _enqueue(state: ApiState, writer: QueueWriter, queue: str, events: list[Event]) -> None:
    started = time.perf_counter()
    try:
        result = await writer.enqueue(queue, events)
    except (RedisError, OSError, DurabilityError) as error:
        get_logger().warning("enqueue-failed", queue=queue, error=str(error))
        raise _unavailable("the queue store (Redis) did not confirm the write") from None
    state.metrics.enqueue_latency.observe(time.perf_counter() - started)
    if not result.accepted:
        raise ProblemError(
            429,
            "queue-full",
            f"queue '{queue}' holds {result.depth} events, "
            f"its limit is {state.settings.queue_max_depth}",
            retry_after_s=QUEUE_FULL_RETRY_AFTER_S,
        )
    state.metrics.events_accepted.labels(queue).inc(len(events))


@router.get("/livez", response_model=Alive, summary="The process is running")
async def livez() -> Response:
    return _json({"status": "alive"})


@router.get(
    "/readyz",
    response_model=Ready,
    summary="Redis answers and the server is not draining",
    responses=openapi.problem_responses(503),
)
async def readyz(request: Request) -> Response:
    state = _state(request)
    if state.draining:
        raise _unavailable("the server is shutting down")
    writer = await state.writer()
    try:
        if writer is None or not await state.client.ping():
            raise _unavailable("the queue store (Redis) is unreachable")
    except (RedisError, OSError):
        raise _unavailable("the queue store (Redis) is unreachable") from None
    return _json(
        {"status": "ready", "durability": writer.mode.value, "durability_replicas": writer.replicas}
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    return Response(_state(request).metrics.render(), media_type=CONTENT_TYPE)
