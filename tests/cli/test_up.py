"""``sluicegate up`` as a newcomer runs it: everything embedded, Ctrl-C stops it all in order."""

import signal

import httpx
import pytest

from sluicegate.repository.sqlite import SqliteRepository
from tests.processes import CommandProcess, is_alive
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def up_env(subprocess_env, tmp_path):
    env = {**subprocess_env, "PORT": "0", "SLUICEGATE_DATA_DIR": str(tmp_path / "data")}
    for name in ("REDIS_URL", "SQLITE_FILEPATH", "DATABASE_URL"):
        env.pop(name, None)
    return env


def test_up_serves_persists_and_stops_in_order_on_ctrl_c(up_env, tmp_path):
    up = CommandProcess("up", up_env | {"EMBEDDED_REDIS_MAXMEMORY": "64mb"}, tmp_path / "up.log")
    try:
        listening = wait_for(
            lambda: up.first("api-listening"), timeout_s=30, message="the API to listen"
        )
        url = f"http://127.0.0.1:{listening['port']}/v1/events/orders"
        events = [{"event_id": f"e{n}", "payload": {"n": n}} for n in range(50)]
        assert httpx.post(url, json=events, timeout=10).status_code == 202
        ready = httpx.get(url.replace("/v1/events/orders", "/readyz"), timeout=10).json()
        assert ready["redis_memory"]["nodes"][0]["maxmemory_bytes"] == 64 * 1024 * 1024
        repository = SqliteRepository(tmp_path / "data" / "events.db")
        wait_for(lambda: repository.count() == 50, timeout_s=20, message="the events in SQLite")

        second = CommandProcess("up", up_env, tmp_path / "second.log")
        try:
            assert second.wait(timeout_s=30) == 1  # the data folder is taken: refused, not shared
        finally:
            second.close()
        assert "another server is running" in second.log_path.read_text()

        up.signal(signal.SIGINT)
        assert up.wait(timeout_s=30) == 0
        stopped = [entry["part"] for entry in up.logged("stopped-node-process") if "part" in entry]
        assert stopped == ["api", "agent"]  # the API first, then the agent; Redis last
        assert up.first("stopped-embedded-redis") is not None
        parts = [entry["pid"] for entry in up.logged("start-node-process")]
        server = up.first("start-embedded-redis")
        assert server is not None
        assert not any(is_alive(pid) for pid in [*parts, server["server_pid"]])
    finally:
        up.close()
