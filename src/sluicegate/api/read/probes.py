"""The FastAPI endpoints: liveness, readiness, metrics (ingest is ``api/ingest/route.py``)."""

from fastapi import APIRouter, Request
from redis.exceptions import RedisError
from starlette.responses import Response

from sluicegate.api.metrics import CONTENT_TYPE
from sluicegate.api.openapi.document import problem_responses
from sluicegate.api.openapi.models import Alive, Ready
from sluicegate.api.problems import unavailable as _unavailable
from sluicegate.api.responses import json_response as _json
from sluicegate.api.responses import state_of as _state

router = APIRouter()


@router.get("/livez", response_model=Alive, summary="The process is running")
async def livez() -> Response:
    return _json({"status": "alive"})


@router.get(
    "/readyz",
    response_model=Ready,
    summary="Redis answers, may not evict accepted events, and the server is not draining",
    responses=problem_responses(503),
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
    await state.memory.refresh(state.client)
    if state.memory.eviction is not None:  # the policy changed since the start
        raise _unavailable(state.memory.eviction)
    return _json(
        {
            "status": "ready",
            "durability": writer.mode.value,
            "durability_replicas": writer.replicas,
            "redis_memory": state.memory.report(),
        }
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    return Response(_state(request).metrics.render(), media_type=CONTENT_TYPE)
