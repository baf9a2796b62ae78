"""Small pieces every endpoint module uses: the API state and JSON answers."""

import orjson
from fastapi import Request
from starlette.responses import Response

from sluicegate.api.state import ApiState


def state_of(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


def json_response(content: object, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")
