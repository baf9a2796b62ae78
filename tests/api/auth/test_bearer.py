"""Bearer tokens on the ingest route: 401, 403, 202, the open probes, metrics by token name."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sluicegate.api.auth.bearer import check_exposure, is_loopback
from sluicegate.api.auth.tokens import toml_block
from sluicegate.errors import ConfigurationError
from sluicegate.settings import Settings
from tests.api.conftest import running_api

pytestmark = pytest.mark.anyio
BILLING = "sgt_billing-secret-token"
WEB = "sgt_web-secret-token"
EVENT = {"payload": {"n": 1}}


def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.toml"
    path.write_text(
        toml_block("billing", BILLING, ("orders", "billing-*")) + toml_block("web", WEB, ("web",))
    )
    return path


@pytest.fixture
async def guarded(api_settings: Settings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = api_settings.model_copy(update={"api_tokens_file": tokens_file(tmp_path)})
    async with running_api(settings) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_known_token_posts_to_its_queues(guarded: httpx.AsyncClient) -> None:
    for queue in ("orders", "billing-eu"):
        response = await guarded.post(f"/v1/events/{queue}", json=EVENT, headers=bearer(BILLING))
        assert response.status_code == 202, response.text
    lower = await guarded.post(
        "/v1/events/web", json=EVENT, headers={"authorization": f"bearer  {WEB} "}
    )
    assert lower.status_code == 202


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, None),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_request"),
        ({"Authorization": "Bearer"}, "invalid_request"),
        ({"Authorization": "Bearer not-a-token"}, "invalid_token"),
        ({"Authorization": f"Bearer {BILLING}x"}, "invalid_token"),
    ],
)
async def test_missing_or_unknown_token_is_401(
    guarded: httpx.AsyncClient, headers: dict[str, str], error: str | None
) -> None:
    response = await guarded.post("/v1/events/orders", json=EVENT, headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    if error:
        assert f'error="{error}"' in challenge
    assert response.json()["type"] == "urn:sluicegate:problem:unauthorized"


async def test_401_comes_before_any_other_check(guarded: httpx.AsyncClient) -> None:
    """An unauthenticated caller learns nothing about queue names or bodies."""
    response = await guarded.post("/v1/events/Not%20A%20Queue", content=b"{")
    assert response.status_code == 401


async def test_a_queue_outside_the_patterns_is_403(guarded: httpx.AsyncClient) -> None:
    response = await guarded.post("/v1/events/web", json=EVENT, headers=bearer(BILLING))

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "insufficient_scope" in response.headers["www-authenticate"]
    assert response.json()["detail"] == "token 'billing' may not post to queue 'web'"


async def test_probes_and_metrics_stay_open(guarded: httpx.AsyncClient) -> None:
    for path in ("/livez", "/readyz", "/metrics", "/openapi.json"):
        assert (await guarded.get(path)).status_code == 200, path


async def test_metrics_name_tokens_never_show_them(guarded: httpx.AsyncClient) -> None:
    await guarded.post("/v1/events/orders", json=EVENT, headers=bearer(BILLING))
    await guarded.post("/v1/events/web", json=EVENT, headers=bearer(BILLING))
    await guarded.post("/v1/events/web", json=EVENT, headers=bearer("guess"))

    text = (await guarded.get("/metrics")).text
    assert 'sluicegate_api_auth_decisions_total{outcome="accepted",token="billing"} 1.0' in text
    assert 'sluicegate_api_auth_decisions_total{outcome="forbidden",token="billing"} 1.0' in text
    assert 'sluicegate_api_auth_decisions_total{outcome="unknown",token=""} 1.0' in text
    assert BILLING not in text
    assert "guess" not in text


async def test_without_a_tokens_file_posts_are_open(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v1/events/orders", json=EVENT)).status_code == 202


async def test_an_empty_tokens_file_refuses_everyone(
    api_settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text("")
    settings = api_settings.model_copy(update={"api_tokens_file": path})
    async with running_api(settings) as client:
        response = await client.post("/v1/events/orders", json=EVENT, headers=bearer(BILLING))
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("api.example.com", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_protected_mode(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"HOST=0\.0\.0\.0 without authentication"):
        check_exposure(Settings(host="0.0.0.0"))
    check_exposure(Settings(host="0.0.0.0", api_auth="none"))
    check_exposure(Settings(host="0.0.0.0", api_tokens_file=tmp_path / "t.toml"))
    check_exposure(Settings(host="127.0.0.1"))
    with pytest.raises(ConfigurationError, match="API_AUTH=none"):
        check_exposure(Settings(api_auth="none", api_tokens_file=tmp_path / "t.toml"))
