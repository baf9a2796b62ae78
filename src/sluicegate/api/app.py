"""``create_app``: the FastAPI application, its lifespan and its wiring."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from sluicegate import __version__
from sluicegate.api.ingest.fast_path import FastPaths
from sluicegate.api.ingest.route import post_events, post_webhook
from sluicegate.api.metrics import RequestMetricsMiddleware
from sluicegate.api.openapi.document import build_openapi
from sluicegate.api.problems import install_handlers
from sluicegate.api.read.dashboard import router as dashboard_router
from sluicegate.api.read.events import router as events_router
from sluicegate.api.read.probes import router
from sluicegate.api.read.queues import router as queues_router
from sluicegate.api.state import ApiState
from sluicegate.logs import get_logger
from sluicegate.settings import Settings

_DESCRIPTION = """Accepts events over HTTP and answers `202` only once Redis holds them durably.
Errors are RFC 9457 `application/problem+json`."""


class SluicegateApi(FastAPI):
    """FastAPI with the ingest routes served first (``fast_path.py``) and the OpenAPI document
    completed by ``openapi.document.build_openapi``."""

    def __init__(self, state: ApiState, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state.api = state
        self.fast_paths = FastPaths(state)
        self.fast_paths.add("/v1/events/", post_events)
        self.fast_paths.add("/v1/webhooks/", post_webhook)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fast_paths.wants(scope):
            await self.fast_paths(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            state: ApiState = self.state.api
            self.openapi_schema = build_openapi(self, state.settings.max_batch_events)
        return self.openapi_schema


def create_app(settings: Settings, redis_url: str) -> FastAPI:
    state = ApiState(settings, redis_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await state.writer()  # Redis away: fine, the next request retries
            if state.fatal is not None:
                raise state.fatal
            yield
        finally:
            await state.aclose()
            get_logger().info("api-redis-closed")

    app = SluicegateApi(
        state, title="sluicegate", version=__version__, description=_DESCRIPTION, lifespan=lifespan
    )
    install_handlers(app)
    app.add_middleware(RequestMetricsMiddleware, metrics=state.metrics)
    app.include_router(router)
    app.include_router(queues_router)
    app.include_router(dashboard_router)
    app.router.routes.extend(app.fast_paths.routes())
    # After POST /v1/events/{queue}: a 405 there still says Allow: POST (Starlette names the
    # first route whose path matched).
    app.include_router(events_router)
    return app
