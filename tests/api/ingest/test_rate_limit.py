"""Per-token rate limits on the ingest route (issue 16): over its rate a token gets 429 with
Retry-After, counted by the token's name; other tokens are not slowed."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sluicegate.api.auth.tokens import toml_block
from sluicegate.settings import Settings
from tests.api.conftest import running_api

pytestmark = pytest.mark.anyio
SLOW = "sgt_slow-secret-token"
FREE = "sgt_free-secret-token"
EVENT = {"payload": {"n": 1}}


@pytest.fixture
async def limited(api_settings: Settings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    path = tmp_path / "tokens.toml"
    slow = toml_block("slow", SLOW, ("orders",)) + 'rate = "1/m"\nburst = 2\n'
    path.write_text(slow + toml_block("free", FREE, ("orders",)))
    async with running_api(api_settings.model_copy(update={"api_tokens_file": path})) as client:
        yield client


def post(api: httpx.AsyncClient, token: str):  # type: ignore[no-untyped-def]
    return api.post("/v1/events/orders", json=EVENT, headers={"Authorization": f"Bearer {token}"})


async def test_over_its_rate_a_token_gets_429_with_retry_after(limited: httpx.AsyncClient) -> None:
    assert [(await post(limited, SLOW)).status_code for _ in range(2)] == [202, 202]  # the burst
    refused = await post(limited, SLOW)
    assert refused.status_code == 429
    assert refused.json()["type"] == "urn:sluicegate:problem:rate-limited"
    assert "slow" in refused.json()["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert [(await post(limited, FREE)).status_code for _ in range(5)] == [202] * 5
    metrics = (await limited.get("/metrics")).text
    assert 'sluicegate_api_rate_limited_requests_total{token="slow"} 1.0' in metrics
    assert SLOW not in metrics
