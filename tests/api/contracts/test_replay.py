"""Replaying dead letters re-checks them against the queue's contract as it is now: what still
breaks it stays (with `sluicegate dlq replay` and with the dashboard); after a fix it goes back."""

from pathlib import Path

import httpx
import orjson
import pytest
import redis

from sluicegate.api import create_app
from sluicegate.queue import keys
from sluicegate.settings import Settings
from tests.api.conftest import running_api
from tests.api.contracts.orders import GOOD_ORDER, ORDER_SCHEMA, write_schemas
from tests.in_process import run_in_process
from tests.loading import ids_in_stream

pytestmark = pytest.mark.anyio
BAD_ORDER = {**GOOD_ORDER, "status": "refunded"}
UI = {"x-sluicegate-ui": "1"}


def fix_schema(folder: Path) -> None:
    """The schema learns the new status."""
    schema = orjson.loads(orjson.dumps(ORDER_SCHEMA))
    schema["properties"]["status"]["enum"].append("refunded")
    (folder / "schemas" / "orders.json").write_bytes(orjson.dumps(schema))


def queued(redis_client: redis.Redis) -> list[str]:
    return ids_in_stream(redis_client, "orders")


async def quarantine_two(client: httpx.AsyncClient) -> None:
    body = [{"event_id": f"bad-{n}", "payload": BAD_ORDER} for n in range(2)]
    response = await client.post("/v1/events/orders", json=body)
    assert response.json()["quarantined"] == ["bad-0", "bad-1"]


@pytest.mark.slow
async def test_dlq_replay_keeps_what_still_breaks_the_schema(
    api_settings: Settings,
    tmp_path: Path,
    redis_client: redis.Redis,
    subprocess_env: dict[str, str],
) -> None:
    path = write_schemas(tmp_path, "quarantine")
    async with running_api(api_settings.model_copy(update={"schemas_file": path})) as client:
        await quarantine_two(client)
    env = {**subprocess_env, "SCHEMAS_FILE": str(path)}

    before = run_in_process(env, "dlq", "replay", "orders", "--all")
    assert before.returncode == 0, before.stderr
    assert "replayed 0 of 2 dead letters into orders" in before.stdout
    assert "kept 2 that break the schema orders (orders.json):" in before.stdout
    assert '/status: "refunded" is not one of' in before.stdout
    assert queued(redis_client) == []

    fix_schema(tmp_path)
    after = run_in_process(env, "dlq", "replay", "orders", "--all")
    assert "replayed 2 of 2 dead letters into orders" in after.stdout
    assert "kept" not in after.stdout
    assert queued(redis_client) == ["bad-0", "bad-1"]
    assert redis_client.xlen(keys.dead_letter_key("orders")) == 0


async def test_the_dashboard_replays_only_what_the_reloaded_schema_allows(
    api_settings: Settings, tmp_path: Path, redis_client: redis.Redis
) -> None:
    path = write_schemas(tmp_path, "quarantine")
    assert api_settings.redis_url is not None
    app = create_app(api_settings.model_copy(update={"schemas_file": path}), api_settings.redis_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            await quarantine_two(client)
            [first, second] = [
                entry.decode() for entry, _ in redis_client.xrange(keys.dead_letter_key("orders"))
            ]
            kept = await client.post(
                "/ui/replay", json={"queue": "orders", "all": True}, headers=UI
            )
            assert kept.json() == {
                "queue": "orders",
                "replayed": 0,
                "asked": 2,
                "kept": [first, second],
            }

            fix_schema(tmp_path)
            app.state.api.reload()  # what SIGHUP does
            one = {"queue": "orders", "entries": [second]}
            moved = await client.post("/ui/replay", json=one, headers=UI)
    assert moved.json() == {"queue": "orders", "replayed": 1, "asked": 1, "kept": []}
    assert queued(redis_client) == ["bad-1"]
