"""Small pieces every endpoint module uses: the API state, JSON answers, the 503 problem."""

import orjson
from fastapi import Request
from starlette.responses import Response

from sluicegate.api.problems import ProblemError
from sluicegate.api.state import ApiState

RETRY_AFTER_S = 1


def state_of(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


def json_response(content: object, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def unavailable(detail: str) -> ProblemError:
    return ProblemError(503, "unavailable", detail, retry_after_s=RETRY_AFTER_S)
