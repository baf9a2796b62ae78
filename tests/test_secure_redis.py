"""End to end over a password and over TLS: the API and the agent as subprocesses, ``status`` and
``config`` as a user runs them; then no password anywhere in what any of them printed.

ACL: the embedded Valkey with ``--requirepass`` and a user limited to ``~sluicegate:*`` (the rule
the README documents). TLS: Debian's redis-server on a TLS port only, requiring a client
certificate, with a CA made by the test.
"""

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from sluicegate.masking import mask_url
from sluicegate.repository import open_repository
from tests.api.processes import ApiProcess
from tests.in_process import run_in_process
from tests.processes import CommandProcess, is_alive, run_sluicegate
from tests.secure_redis import acl_redis, tls_redis
from tests.waiting import wait_for

pytestmark = pytest.mark.slow
EVENTS = 20


def _run_system(env: dict[str, str], tmp_path: Path, expected_mode: str) -> list[str]:
    """Post events through the API, let the agent persist them; every output, for the grep."""
    api = ApiProcess({**env, "PORT": "0"}, tmp_path / "api.log")
    agent = CommandProcess("agent", env, tmp_path / "agent.log")
    try:
        base = f"http://127.0.0.1:{api.port()}"
        ready = wait_for(
            lambda: httpx.get(f"{base}/readyz").status_code == 200 and base, timeout_s=30
        )
        assert httpx.get(f"{ready}/readyz").json()["durability"] == expected_mode
        body = [{"event_id": f"e-{n}", "payload": {"n": n}} for n in range(EVENTS)]
        assert httpx.post(f"{base}/v1/events/orders", json=body).status_code == 202
        repository = open_repository(f"sqlite:///{env['SQLITE_FILEPATH']}")
        try:
            wait_for(lambda: repository.count("orders") == EVENTS, timeout_s=60, message="rows")
        finally:
            repository.close()
        # The rows commit just before their ack: status may be read in between.
        status = wait_for(lambda: _acknowledged(env), timeout_s=30, message="the ack")
        [orders] = json.loads(status.stdout)
        assert (orders["queue"], orders["queued"], orders["persisted"]) == ("orders", 0, EVENTS)
        config = run_in_process(env, "config", "--json")
        assert config.returncode == 0, config.stderr
        shown = {row["variable"]: row["value"] for row in json.loads(config.stdout)}
        assert shown["REDIS_URL"] == mask_url(env["REDIS_URL"])
        table = run_sluicegate(env, "config")
        outputs = [status.stdout, status.stderr, config.stdout, table.stdout, table.stderr]
    finally:
        api.close()
        agent.close()
    assert not any(is_alive(pid) for pid in agent.consumer_pids())
    return [*outputs, api.log_path.read_text(), agent.log_path.read_text()]


def _acknowledged(env: dict[str, str]) -> subprocess.CompletedProcess[str] | None:
    """``sluicegate status --json`` once it counts every event persisted; None before."""
    status = run_in_process(env, "status", "--json")
    assert status.returncode == 0, status.stderr
    return status if json.loads(status.stdout)[0]["persisted"] == EVENTS else None


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """A fast system in the test's folder; Redis is the test's to add (debug: the most logs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_"))}
    return {
        **env,
        "SQLITE_FILEPATH": str(tmp_path / "events.db"),
        "SLUICEGATE_DATA_DIR": str(tmp_path),
        "QUEUE_POLL_FREQ": "0.1",
        "QUEUE_BATCH_TIMEOUT": "0.1",
        "QUEUE_AGENT_WORKER_TTL": "2",
        "LOG_LEVEL": "debug",
        "AGENT_PORT": "0",  # tests run side by side: never the default port
    }


def test_acl_user_with_a_password(base_env: dict[str, str], tmp_path: Path) -> None:
    with acl_redis(tmp_path / "redis") as server:
        env = {**base_env, "REDIS_URL": server.url}
        outputs = _run_system(env, tmp_path, expected_mode="waitaof")
        server_log = (tmp_path / "redis" / "server.log").read_text()
    for secret in (server.user_password, server.admin_password):
        for output in [*outputs, server_log]:
            assert secret not in output
    assert f"sluicegate:***@127.0.0.1:{server.server.port}" in outputs[2]  # masked in config


def test_tls_with_a_private_ca_and_a_client_certificate(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    with tls_redis(tmp_path / "tls") as server:
        env = {**base_env, **server.env()}
        _run_system(env, tmp_path, expected_mode="fsync-always")  # Redis 7.0: no WAITAOF
