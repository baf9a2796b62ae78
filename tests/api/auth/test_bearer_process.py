"""Authentication in a real API process: protected mode refuses to start; SIGHUP rotates tokens."""

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sluicegate.api.auth.tokens import toml_block
from tests.waiting import wait_for

pytestmark = pytest.mark.slow
OLD = "sgt_old-token"
NEW = "sgt_new-token"
EVENT = {"payload": {"n": 1}}


def _errors(api: Any) -> list[dict[str, Any]]:
    return [line for line in api.logs() if line["level"] == "error"]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"HOST": "0.0.0.0"}, "without authentication"),
        ({"API_TOKENS_FILE": "/nonexistent/tokens.toml"}, "API_TOKENS_FILE"),
    ],
)
def test_refuses_to_start_with_one_line(launch: Any, extra: dict[str, str], says: str) -> None:
    api = launch(**extra)

    assert api.wait() == 2
    [error] = _errors(api)
    assert error["command"] == "api-configuration-error"
    assert says in error["payload"]["message"]
    assert api.first("api-listening") is None


def test_api_auth_none_serves_an_open_api_on_any_address(launch: Any) -> None:
    api = launch(HOST="0.0.0.0", API_AUTH="none")
    response = httpx.post(f"http://127.0.0.1:{api.port()}/v1/events/orders", json=EVENT)
    assert response.status_code == 202


def _post(port: int, token: str) -> int:
    response = httpx.post(
        f"http://127.0.0.1:{port}/v1/events/orders",
        json=EVENT,
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status_code


def test_sighup_rotates_tokens_without_a_restart(launch: Any, tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(toml_block("svc", OLD, ("orders",)))
    api = launch(API_TOKENS_FILE=str(path), HOST="0.0.0.0")
    port = api.port()
    assert _post(port, OLD) == 202
    assert _post(port, NEW) == 401

    path.write_text(toml_block("svc", NEW, ("orders",)))
    api.signal(signal.SIGHUP)
    wait_for(lambda: api.first("api-tokens-reloaded"), message="the reload")

    assert _post(port, NEW) == 202
    assert _post(port, OLD) == 401

    path.write_text("[tokens.broken\n")  # a bad edit keeps the tokens in force
    api.signal(signal.SIGHUP)
    wait_for(lambda: api.first("api-tokens-reload-failed"), message="the failed reload")
    assert _post(port, NEW) == 202
    assert api.process.poll() is None
    assert OLD not in api.log_path.read_text()
    assert NEW not in api.log_path.read_text()
