"""``GET /v1/events/{queue}/{event_id}`` (where is it?), ``GET /v1/events/{queue}`` (stored
events in acceptance order, keyset pages) and ``DELETE /v1/events/{queue}/{event_id}`` (an
erasure that sticks). Token-scoped like ``POST``: a token reads and deletes only its queues.
docs/retention.md has the states and the rules.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from redis.exceptions import RedisError
from starlette.responses import Response

from sluicegate import erasure
from sluicegate.api.auth.bearer import Caller, require_token
from sluicegate.api.ingest.rules import EVENT_ID_PATTERN, QUEUE_NAME_REGEX
from sluicegate.api.openapi.document import problem_responses
from sluicegate.api.problems import ProblemError, unavailable
from sluicegate.api.responses import json_response, state_of
from sluicegate.pages import MAX_PAGE, decode_cursor, page_json
from sluicegate.repository.lifecycle import StoredState
from sluicegate.whereabouts import where_is

router = APIRouter()

QueueName = Annotated[str, Path(pattern=QUEUE_NAME_REGEX, description="The queue.")]
EventId = Annotated[str, Path(pattern=EVENT_ID_PATTERN, description="The event id.")]
CallerDep = Annotated[Caller, Depends(require_token)]
UNAUTHENTICATED = "unauthenticated"  # who deleted, when API_TOKENS_FILE is not set


@router.get(
    "/v1/events/{queue}/{event_id}",
    summary="Where one event is: queued, in flight, dead, persisted, expired, deleted, never seen",
    responses=problem_responses(401, 403, 422, 503),
)
async def get_event(
    queue: QueueName, event_id: EventId, request: Request, _: CallerDep
) -> Response:
    state = state_of(request)

    async def stored(wanted: str) -> StoredState | None:
        return await state.store.call(lambda store: store.locate(wanted))

    try:
        answer = await where_is(state.client, stored, queue, event_id)
    except (RedisError, OSError):
        raise unavailable("the queue store (Redis) is unreachable") from None
    return json_response(answer)


@router.get(
    "/v1/events/{queue}",
    summary="Stored events in acceptance order; `next` is the cursor of the following page",
    responses=problem_responses(400, 401, 403, 422, 503),
)
async def list_events(
    queue: QueueName,
    request: Request,
    _: CallerDep,
    after: Annotated[str | None, Query(description="The `next` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Events per page.")] = 100,
) -> Response:
    try:
        position = decode_cursor(after)
    except ValueError as error:
        raise ProblemError(400, "bad-cursor", str(error)) from None
    events = await state_of(request).store.call(lambda store: store.page(queue, position, limit))
    return json_response(page_json(events, limit))


@router.delete(
    "/v1/events/{queue}/{event_id}",
    summary="Delete an event for good: no copy in Redis and no retry stores it again",
    responses=problem_responses(401, 403, 422, 503),
)
async def delete_event(
    queue: QueueName, event_id: EventId, request: Request, caller: CallerDep
) -> Response:
    who = caller.name or UNAUTHENTICATED
    rows = await state_of(request).store.call(
        lambda store: erasure.delete_ids(store, queue, [event_id], who, "api")
    )
    return json_response({"queue": queue, "event_id": event_id, "state": "deleted", "rows": rows})
