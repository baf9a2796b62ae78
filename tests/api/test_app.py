"""The application as a whole: lifespan, health endpoints, OpenAPI document."""

import httpx
import pytest
import redis

from sluicegate.api import create_app
from sluicegate.errors import ConfigurationError
from sluicegate.settings import Settings

pytestmark = pytest.mark.anyio


async def test_livez_and_readyz(api: httpx.AsyncClient) -> None:
    assert (await api.get("/livez")).json() == {"status": "alive"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert (body["status"], body["durability"], body["durability_replicas"]) == (
        "ready",
        "waitaof",
        0,
    )


async def test_durability_none_is_reported(api_settings: Settings) -> None:
    from tests.api.conftest import running_api

    async with running_api(api_settings.model_copy(update={"durability": "none"})) as api:
        assert (await api.get("/readyz")).json()["durability"] == "memory"


async def test_unhonourable_durability_stops_the_startup(
    api_settings: Settings, redis_client: redis.Redis
) -> None:
    redis_client.config_set("appendonly", "no")
    settings = api_settings.model_copy(update={"durability": "aof"})
    assert settings.redis_url is not None
    app = create_app(settings, settings.redis_url)

    with pytest.raises(ConfigurationError, match="DURABILITY=aof"):
        async with app.router.lifespan_context(app):
            pass


async def test_openapi_describes_the_real_body_and_errors(
    api: httpx.AsyncClient, api_settings: Settings
) -> None:
    document = (await api.get("/openapi.json")).json()

    post = document["paths"]["/v1/events/{queue}"]["post"]
    one_of = post["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert one_of[0] == {"$ref": "#/components/schemas/EventIn"}
    assert one_of[1]["items"] == {"$ref": "#/components/schemas/EventIn"}
    assert one_of[1]["maxItems"] == api_settings.max_batch_events
    event_in = document["components"]["schemas"]["EventIn"]
    assert event_in["required"] == ["payload"]
    assert event_in["additionalProperties"] is False
    for status in ("400", "413", "415", "422", "429", "503"):
        content = post["responses"][status]["content"]
        assert list(content) == ["application/problem+json"]
    assert "Retry-After" in post["responses"]["429"]["headers"]
    assert "Problem" in document["components"]["schemas"]


async def test_docs_page_is_served(api: httpx.AsyncClient) -> None:
    response = await api.get("/docs")
    assert response.status_code == 200
    assert "openapi.json" in response.text
