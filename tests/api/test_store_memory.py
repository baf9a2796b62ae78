"""Redis's memory and the API (issue 16): a server that may evict is refused, POSTs are shed
with 503 queue-store-full before Redis is full, and /readyz says what protects the host."""

import httpx
import pytest
import redis

from sluicegate.api import create_app
from sluicegate.api.store_memory import STORE_FULL_RETRY_AFTER_S
from sluicegate.errors import ConfigurationError
from sluicegate.queue import keys
from sluicegate.settings import Settings
from tests.api.conftest import running_api
from tests.waiting import eventually

pytestmark = pytest.mark.anyio
FULL = "urn:sluicegate:problem:queue-store-full"


def post(api: httpx.AsyncClient, n: int = 0):  # type: ignore[no-untyped-def]
    return api.post("/v1/events/orders", json={"event_id": f"e-{n}", "payload": {"n": n}})


async def test_a_redis_that_may_evict_stops_the_startup(
    api_settings: Settings, redis_client: redis.Redis
) -> None:
    redis_client.config_set("maxmemory-policy", "allkeys-lru")
    assert api_settings.redis_url is not None
    app = create_app(api_settings, api_settings.redis_url)
    with pytest.raises(ConfigurationError, match=r"maxmemory-policy allkeys-lru.*noeviction"):
        async with app.router.lifespan_context(app):
            pass


async def test_durability_none_accepts_a_redis_that_may_evict(
    api_settings: Settings, redis_client: redis.Redis
) -> None:
    redis_client.config_set("maxmemory-policy", "allkeys-lru")
    async with running_api(api_settings.model_copy(update={"durability": "none"})) as api:
        assert (await api.get("/readyz")).status_code == 200
        assert (await post(api)).status_code == 202


async def test_a_policy_changed_at_run_time_turns_readyz_and_posts_503(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    assert (await api.get("/readyz")).status_code == 200
    redis_client.config_set("maxmemory-policy", "allkeys-random")

    async def refused() -> bool:
        return (await api.get("/readyz")).status_code == 503

    await eventually(refused, timeout_s=5, message="/readyz 503 after the policy changed")
    assert "allkeys-random" in (await api.get("/readyz")).json()["detail"]
    assert (await post(api)).status_code == 503
    redis_client.config_set("maxmemory-policy", "noeviction")
    await eventually(lambda: _ready(api), timeout_s=5, message="/readyz 200 again")


async def _ready(api: httpx.AsyncClient) -> bool:
    return (await api.get("/readyz")).status_code == 200


async def test_above_the_high_water_mark_a_post_is_shed_with_503_queue_store_full(
    api_settings: Settings, redis_client: redis.Redis
) -> None:
    settings = api_settings.model_copy(update={"redis_memory_high_water": 0.5})
    async with running_api(settings) as api:
        assert (await post(api, 1)).status_code == 202
        used = int(redis_client.info("memory")["used_memory"])
        redis_client.config_set("maxmemory", int(used * 1.5))  # 67 % full: above 0.5

        async def shed() -> bool:
            return (await post(api, 2)).status_code == 503

        await eventually(shed, timeout_s=5, message="a 503 above the high-water mark")
        stored = redis_client.xlen(keys.stream_key("orders"))
        answer = await post(api, 2)
        assert answer.json()["type"] == FULL
        assert "REDIS_MEMORY_HIGH_WATER=0.5" in answer.json()["detail"]
        assert answer.headers["retry-after"] == str(STORE_FULL_RETRY_AFTER_S)
        assert redis_client.xlen(keys.stream_key("orders")) == stored  # nothing was stored
        redis_client.config_set("maxmemory", used * 4)  # 25 %: below the mark again

        async def accepted() -> bool:
            return (await post(api, 2)).status_code == 202

        await eventually(accepted, timeout_s=5, message="a 202 below the mark")


async def test_a_write_redis_refuses_for_memory_is_queue_store_full_too(
    api_settings: Settings, redis_client: redis.Redis
) -> None:
    """Between two readings of INFO memory Redis itself may refuse: the same answer, not the
    "did not confirm the write" of a lost connection (nothing was written)."""
    settings = api_settings.model_copy(update={"redis_memory_high_water": 1.0})
    async with running_api(settings) as api:
        assert (await post(api, 1)).status_code == 202
        redis_client.config_set("maxmemory", int(redis_client.info("memory")["used_memory"]) // 2)
        answer = await post(api, 2)
        assert (answer.status_code, answer.json()["type"]) == (503, FULL)
        assert answer.headers["retry-after"] == str(STORE_FULL_RETRY_AFTER_S)


async def test_readyz_says_what_protects_the_host(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    memory = (await api.get("/readyz")).json()["redis_memory"]
    assert memory["high_water"] == 0.8
    [node] = memory["nodes"]
    assert (node["maxmemory_bytes"], node["policy"]) == (0, "noeviction")
    assert any("nothing protects the host" in warning for warning in memory["warnings"])
