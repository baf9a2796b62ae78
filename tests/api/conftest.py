"""In-process API fixtures: the real app with its lifespan, over httpx's ASGI transport."""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from sluicegate.api import create_app
from sluicegate.settings import Settings
from tests.api.processes import ApiProcess

T = TypeVar("T")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """Small limits, so every limit is cheap to reach."""
    return settings.model_copy(
        update={
            "max_body_bytes": 4096,
            "max_batch_events": 5,
            "max_event_bytes": 256,
            "queue_max_depth": 1000,
        }
    )


@asynccontextmanager
async def running_api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan entered, as uvicorn would run it."""
    assert settings.redis_url is not None
    app = create_app(settings, settings.redis_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


@pytest.fixture
async def api(api_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_api(api_settings) as client:
        yield client


@pytest.fixture
def launch(subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    """Start APIs in subprocesses (``launch(API_DRAIN_DELAY="1")``); all are killed after."""
    started: list[ApiProcess] = []

    def start(**extra: str) -> ApiProcess:
        env = {**subprocess_env, "PORT": "0", "LOG_LEVEL": "info", **extra}
        api = ApiProcess(env, tmp_path / f"api-{len(started)}.log")
        started.append(api)
        return api

    yield start
    for api in started:
        api.close()
