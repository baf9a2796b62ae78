"""Webhooks: Standard Webhooks and GitHub signatures, rotation, replay window, any body kept."""

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from sluicegate.settings import Settings
from tests.api.conftest import running_api
from tests.api.ingest.test_route import stream

pytestmark = pytest.mark.anyio
OLD_KEY, NEW_KEY = b"old-key-0123456789", b"new-key-9876543210"
GITHUB_SECRET = "It's a Secret to Everybody"


def whsec(key: bytes) -> str:
    return "whsec_" + base64.b64encode(key).decode()


def write_webhooks(path: Path, *, github_secrets: tuple[str, ...] = (GITHUB_SECRET,)) -> Path:
    listed = ", ".join(f'"{secret}"' for secret in github_secrets)
    path.write_text(
        f'[webhooks.sw]\nverify = "standard-webhooks"\nsecrets = ["{whsec(OLD_KEY)}", '
        f'"{whsec(NEW_KEY)}"]\n\n[webhooks.gh]\nverify = "github"\nsecrets = [{listed}]\n\n'
        '[webhooks.open]\nverify = "none"\n'
    )
    return path


@pytest.fixture
async def hooks(api_settings: Settings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    path = write_webhooks(tmp_path / "webhooks.toml")
    async with running_api(api_settings.model_copy(update={"webhooks_file": path})) as client:
        yield client


def standard_headers(key: bytes, body: bytes, msg_id: str = "msg_1", at: float | None = None):
    stamp = str(int(time.time() if at is None else at))
    digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    signature = "v1," + base64.b64encode(digest).decode()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": f"v1,bm90LXRoaXMtb25l {signature}",  # several; one matches
        "content-type": "application/json",
    }


async def test_standard_webhook_is_stored_with_its_headers(
    hooks: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    body = b'{"type": "invoice.paid", "n": 12345678901234567890123}'
    response = await hooks.post(
        "/v1/webhooks/sw", content=body, headers=standard_headers(OLD_KEY, body)
    )

    assert response.status_code == 202, response.text
    assert response.json()["event_ids"] == ["wh:sw#msg_1"]
    [stored] = stream(redis_client, "sw")
    assert '"body":{"type":"invoice.paid","n":12345678901234567890123}' in stored.payload
    payload = orjson.loads(stored.payload)
    assert payload["webhook"] == "sw"
    assert payload["headers"]["webhook-id"] == "msg_1"
    assert "webhook-signature" not in payload["headers"]


async def test_a_rotated_secret_is_still_accepted(hooks: httpx.AsyncClient) -> None:
    body = b"{}"
    response = await hooks.post(
        "/v1/webhooks/sw", content=body, headers=standard_headers(NEW_KEY, body)
    )
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    ("key", "age_s", "says"),
    [
        (b"wrong-key", 0, "does not match"),
        (OLD_KEY, 301, "more than 300 s"),
        (OLD_KEY, -400, "more than 300 s"),
    ],
    ids=["wrong-secret", "old-timestamp", "future-timestamp"],
)
async def test_a_bad_standard_signature_is_401(
    hooks: httpx.AsyncClient, redis_client: redis.Redis, key: bytes, age_s: int, says: str
) -> None:
    body = b'{"a": 1}'
    headers = standard_headers(key, body, at=time.time() - age_s)
    response = await hooks.post("/v1/webhooks/sw", content=body, headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert says in response.json()["detail"]
    assert stream(redis_client, "sw") == []


async def test_a_tampered_body_is_401(hooks: httpx.AsyncClient) -> None:
    headers = standard_headers(OLD_KEY, b'{"amount": 1}')
    response = await hooks.post("/v1/webhooks/sw", content=b'{"amount": 1000}', headers=headers)
    assert response.status_code == 401


async def test_github_signature_and_delivery_id(
    hooks: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    """The example of GitHub's documentation: secret, body and signature as published."""
    body = b"Hello, World!"
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    headers = {
        "x-hub-signature-256": signature,
        "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "x-github-event": "push",
        "content-type": "text/plain",
    }
    response = await hooks.post("/v1/webhooks/gh", content=body, headers=headers)

    assert response.status_code == 202, response.text
    assert response.json()["event_ids"] == ["wh:gh#72d3162e-cc78-11e3-81ab-4c9367dc0958"]
    payload = orjson.loads(stream(redis_client, "gh")[0].payload)
    assert payload["text"] == "Hello, World!"
    assert payload["headers"]["x-github-event"] == "push"
    assert payload["headers"]["content-type"] == "text/plain"
    assert "x-hub-signature-256" not in payload["headers"]

    bad = await hooks.post("/v1/webhooks/gh", content=b"Hello!", headers=headers)
    assert bad.status_code == 401
    unsigned = await hooks.post("/v1/webhooks/gh", content=body)
    assert unsigned.status_code == 401


async def test_any_body_is_kept_and_ids_fall_back(
    hooks: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    form = {"content-type": "application/x-www-form-urlencoded", "idempotency-key": "k-1"}
    first = await hooks.post("/v1/webhooks/open", content=b"a=1&b=%20", headers=form)
    binary = await hooks.post("/v1/webhooks/open", content=b"\xff\x00")

    assert first.json()["event_ids"] == ["wh:open#k-1"]
    minted = binary.json()["event_ids"][0]
    assert not minted.startswith("wh:")
    stored = [orjson.loads(event.payload) for event in stream(redis_client, "open")]
    assert stored[0]["text"] == "a=1&b=%20"
    assert stored[0]["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert stored[1]["base64"] == "/wA="


async def test_a_queue_not_in_the_file_is_404(hooks: httpx.AsyncClient) -> None:
    response = await hooks.post("/v1/webhooks/orders", content=b"{}")
    assert response.status_code == 404
    assert response.json()["type"] == "urn:sluicegate:problem:unknown-webhook"


async def test_a_bad_delivery_id_is_422(hooks: httpx.AsyncClient) -> None:
    response = await hooks.post("/v1/webhooks/open", content=b"{}", headers={"webhook-id": "a b"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "webhook-id"
