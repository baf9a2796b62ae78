"""The ingest routes' way in: straight from uvicorn to the endpoint, past FastAPI's middleware
stack, router and exception handlers.

For a single event those layers cost about as much CPU as the endpoint itself
(``bench/profile_api.py``). ``SluicegateApi.__call__`` asks ``FastPaths.wants`` first; a match is
served here, with the same problem rendering and the same request metrics. Everything else (other
methods, other paths, 404s and 405s) goes through FastAPI as before; the routes are registered
there too (``routes()``), so the router's answers stay right.
"""

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from sluicegate.api.metrics import RequestMetricsMiddleware
from sluicegate.api.problems import ProblemError, crash_response, render
from sluicegate.api.state import ApiState

Handler = Callable[[Request, ApiState, str], Awaitable[Response]]  # request, state, queue


class NamedRoute(Route):
    """A plain route that names itself in the scope, as FastAPI's do (the metrics' route label)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


class FastPaths:
    """``POST <prefix>{queue}`` for each registered prefix (``/v1/events/``...)."""

    def __init__(self, state: ApiState) -> None:
        self.state = state
        self._handlers: dict[str, tuple[NamedRoute, Handler]] = {}
        self._counted = RequestMetricsMiddleware(self._serve, state.metrics)

    def add(self, prefix: str, handler: Handler) -> None:
        async def endpoint(request: Request) -> Response:  # only if FastAPI's router is asked
            return await handler(request, self.state, request.path_params["queue"])

        route = NamedRoute(prefix + "{queue}", endpoint, methods=["POST"])
        self._handlers[prefix] = (route, handler)

    def routes(self) -> list[NamedRoute]:
        return [route for route, _ in self._handlers.values()]

    def wants(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST":
            return False
        prefix, _, queue = scope["path"].rpartition("/")
        return bool(queue) and prefix + "/" in self._handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._counted(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        prefix, _, queue = scope["path"].rpartition("/")
        route, handler = self._handlers[prefix + "/"]
        scope["route"] = route
        scope["path_params"] = {"queue": queue}
        try:
            response = await handler(Request(scope, receive), self.state, queue)
        except ProblemError as error:
            response = render(error)
        except Exception as error:  # the answer FastAPI's last-resort handler gives
            response = crash_response(scope["path"], error)
        await response(scope, receive, send)
