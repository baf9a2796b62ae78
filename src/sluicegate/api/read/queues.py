"""``GET /v1/queues`` and ``GET /v1/queues/{queue}``: where every accepted event is, right now.

Each queue is read in one MULTI (``queue.stats``), so the conservation line
``accepted = persisted + queued + in_flight + dead`` is checked on one instant, exactly.
Protected like ``POST`` when API tokens are configured; a token sees only its queues.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from redis.exceptions import RedisError
from starlette.responses import Response

from sluicegate.api.auth.bearer import Caller, require_token
from sluicegate.api.ingest.rules import QUEUE_NAME_REGEX
from sluicegate.api.openapi.document import problem_responses
from sluicegate.api.problems import ProblemError, unavailable
from sluicegate.api.responses import json_response, state_of
from sluicegate.queue.stats import (
    QueueSnapshot,
    known_snapshot_async,
    list_queues_async,
    snapshot_async,
)

router = APIRouter()

QueueName = Annotated[str, Path(pattern=QUEUE_NAME_REGEX, description="The queue.")]


async def queue_snapshots(request: Request, caller: Caller) -> list[QueueSnapshot]:
    """Every queue the caller may see, each read in one MULTI; 503 while Redis is away."""
    state = state_of(request)
    client, slots = state.client, state.settings.queue_consumers
    try:
        queues = await list_queues_async(client)
        visible = [q for q in queues if caller.token is None or caller.token.allows(q)]
        return [await snapshot_async(client, queue, slots) for queue in visible]
    except (RedisError, OSError):
        raise unavailable("the queue store (Redis) is unreachable") from None


def totals(snapshots: list[QueueSnapshot]) -> dict[str, Any]:
    """The whole system's line: sums of every queue's figures."""
    fields = ("accepted", "queued", "in_flight", "dead", "persisted", "redeliveries_absorbed")
    rows = [snap.as_json() for snap in snapshots]
    summed = {field: sum(row[field] for row in rows) for field in fields}
    unaccounted = sum(snap.unaccounted for snap in snapshots)
    return {**summed, "conservation": {"holds": unaccounted == 0, "unaccounted": unaccounted}}


@router.get(
    "/v1/queues",
    summary="Every queue: accepted, queued, in flight, dead, persisted, lag, consumers",
    responses=problem_responses(401, 503),
)
async def list_queues(
    request: Request, caller: Annotated[Caller, Depends(require_token)]
) -> Response:
    snapshots = await queue_snapshots(request, caller)
    return json_response(
        {"queues": [snap.as_json() for snap in snapshots], "total": totals(snapshots)}
    )


@router.get(
    "/v1/queues/{queue}",
    summary="One queue: where each accepted event is, and whether none is missing",
    responses=problem_responses(401, 403, 404, 503),
)
async def get_queue(
    queue: QueueName, request: Request, caller: Annotated[Caller, Depends(require_token)]
) -> Response:
    state = state_of(request)
    try:
        found = await known_snapshot_async(state.client, queue, state.settings.queue_consumers)
    except (RedisError, OSError):
        raise unavailable("the queue store (Redis) is unreachable") from None
    if found is None:
        raise ProblemError(404, "unknown-queue", f"no events were ever accepted on '{queue}'")
    return json_response(found.as_json())
