"""SCHEMAS_FILE in a real API process: SIGHUP takes a new contract, and keeps the contracts in
force when the new file is bad. (A bad file at start is a ConfigurationError from ApiState, which
stops the API with exit 2 as tests/api/auth/test_bearer_process.py shows for API_TOKENS_FILE;
test_gate.py checks that SCHEMAS_FILE raises it.)"""

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.contracts.orders import GOOD_ORDER, write_schemas
from tests.waiting import wait_for

pytestmark = pytest.mark.slow
BAD_ORDER = {**GOOD_ORDER, "status": "lost"}


def test_sighup_takes_a_new_contract_and_keeps_it_over_a_bad_one(
    launch: Any, tmp_path: Path
) -> None:
    path = write_schemas(tmp_path, "reject", queues='["payments"]')
    api = launch(SCHEMAS_FILE=str(path))
    url = f"http://127.0.0.1:{api.port()}/v1/events/orders"
    assert httpx.post(url, json={"payload": BAD_ORDER}).status_code == 202  # not under contract

    write_schemas(tmp_path, "reject")
    api.signal(signal.SIGHUP)
    wait_for(lambda: api.first("schemas-reloaded"), message="the reload")
    assert api.first("schemas-reloaded") == {"schemas": ["orders"]}
    assert httpx.post(url, json={"payload": BAD_ORDER}).status_code == 422

    (tmp_path / "schemas" / "orders.json").write_text("{not json")
    api.signal(signal.SIGHUP)
    wait_for(lambda: api.first("schemas-reload-failed"), message="the failed reload")
    failed = api.first("schemas-reload-failed")
    assert failed is not None
    assert failed["kept"] == ["orders"]
    assert "orders.json" in failed["message"]
    assert httpx.post(url, json={"payload": BAD_ORDER}).status_code == 422
    assert httpx.post(url, json={"payload": GOOD_ORDER}).status_code == 202
