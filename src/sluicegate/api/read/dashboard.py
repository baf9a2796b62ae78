"""``GET /ui``: a live dashboard of the queues, with replay of dead letters.

Protected like ``POST`` when API tokens are configured. Replay is a ``POST`` that only the page's
own script can send (it must carry ``X-Sluicegate-UI``, which a form on another site cannot set
without a CORS preflight this API never grants), and it asks for a confirmation first.
"""

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, ValidationError
from redis.exceptions import RedisError
from starlette.responses import HTMLResponse, Response

from sluicegate.api.auth.bearer import Caller, authorize, require_token
from sluicegate.api.contracts.replay import sort_letters
from sluicegate.api.ingest.rules import QUEUE_NAME_REGEX
from sluicegate.api.openapi.document import problem_responses
from sluicegate.api.problems import FieldError, ProblemError, describe, unavailable
from sluicegate.api.read import dashboard_html
from sluicegate.api.read.queues import queue_snapshots
from sluicegate.api.responses import json_response, state_of
from sluicegate.queue.dead_letters import DeadLetter, list_dead_async, replay_async
from sluicegate.queue.keys import DEFAULT_DESTINATION

router = APIRouter(include_in_schema=False)
UI_HEADER = "x-sluicegate-ui"
DEAD_LETTERS_SHOWN = 50
_REPLAY_ALL_LIMIT = 10**6


class ReplayRequest(BaseModel):
    queue: str = Field(pattern=QUEUE_NAME_REGEX)
    destination: str = Field(DEFAULT_DESTINATION, pattern=QUEUE_NAME_REGEX)  # whose dead letters
    entries: list[str] = Field(default_factory=list, max_length=1000)
    all: bool = False


async def _panel(request: Request, caller: Caller) -> str:
    snapshots = await queue_snapshots(request, caller)
    client = state_of(request).client
    dead: dict[tuple[str, str], list[DeadLetter]] = {}  # (queue, destination): its dead letters
    try:
        for lane in (lane for snap in snapshots for lane in snap.lanes):
            if lane.dead_lettered:
                found = await list_dead_async(
                    client, lane.queue, DEAD_LETTERS_SHOWN, lane.destination
                )
                dead[lane.queue, lane.destination] = found
    except (RedisError, OSError):
        raise unavailable("the queue store (Redis) is unreachable") from None
    return dashboard_html.panel(snapshots, dead)


@router.get("/ui", summary="The dashboard", responses=problem_responses(401, 503))
async def dashboard(
    request: Request, caller: Annotated[Caller, Depends(require_token)]
) -> Response:
    return HTMLResponse(dashboard_html.page(await _panel(request, caller)))


@router.get("/ui/panel", summary="The dashboard's live part, refreshed by its script")
async def dashboard_panel(
    request: Request, caller: Annotated[Caller, Depends(require_token)]
) -> Response:
    return HTMLResponse(await _panel(request, caller))


@router.post("/ui/replay", summary="Replay dead letters (one, several, or all of a queue)")
async def dashboard_replay(
    request: Request, caller: Annotated[Caller, Depends(require_token)]
) -> Response:
    if request.headers.get(UI_HEADER) != "1":
        raise ProblemError(403, "forbidden", "replay is sent by the dashboard's own script only")
    wanted = _replay_request(await request.body())
    authorize(request, caller, wanted.queue)
    state = state_of(request)
    contract = state.contracts.for_queue(wanted.queue)
    try:
        letters = await list_dead_async(
            state.client, wanted.queue, _REPLAY_ALL_LIMIT, wanted.destination
        )
        asked = [letter for letter in letters if wanted.all or letter.entry_id in wanted.entries]
        checked = sort_letters(contract, asked)  # what still breaks the schema stays
        allowed = [letter.entry_id for letter in checked.allowed]
        moved = await replay_async(state.client, wanted.queue, allowed, wanted.destination)
    except (RedisError, OSError):
        raise unavailable("the queue store (Redis) is unreachable") from None
    kept = [letter.entry_id for letter, _ in checked.kept]
    asked_count = len(asked) if wanted.all else len(wanted.entries)
    answer = {"queue": wanted.queue, "replayed": moved, "asked": asked_count, "kept": kept}
    return json_response(answer)


def _replay_request(raw: bytes) -> ReplayRequest:
    try:
        wanted = ReplayRequest.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError) as error:
        errors = [FieldError("(body)", str(error).splitlines()[0])]
        raise ProblemError(422, "invalid-replay", describe(errors), errors=errors) from None
    if bool(wanted.entries) == wanted.all:
        errors = [FieldError("entries", "give entry ids, or all: true, not both")]
        raise ProblemError(422, "invalid-replay", describe(errors), errors=errors)
    return wanted
