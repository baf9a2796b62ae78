"""The drill against a deployment it did not start: faults are what --stop-cmd/--start-cmd do.

The "deployment" here is an API and an agent that shell scripts manage through a pid file, the way
``docker compose stop agent`` / ``docker compose start agent`` manage a container.
"""

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sluicegate.drill import procs
from sluicegate.embedded.server import free_port
from tests.processes import CommandProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

START = """#!/bin/sh
{exports}
starts=$(( $(cat {dir}/starts 2>/dev/null || echo 0) + 1 ))
echo $starts > {dir}/starts
setsid {python} -m sluicegate agent >> {dir}/agent.log 2>&1 < /dev/null &
echo $! > {dir}/agent.pid
tries=0
until [ "$(cat {dir}/agent.log 2>/dev/null | grep -c '"agent-started"')" -ge "$starts" ]; do
    tries=$((tries + 1)); [ $tries -gt 1500 ] && exit 1
    sleep 0.02
done
"""
STOP = """#!/bin/sh
pid=$(cat {dir}/agent.pid)
kill -TERM "$pid"
while [ -e /proc/$pid ] && ! grep -q ') Z' /proc/$pid/stat 2>/dev/null; do sleep 0.02; done
"""


def script(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def deployment(tmp_path, subprocess_env):
    port = free_port()
    env = {**subprocess_env, "PORT": str(port)}
    api = CommandProcess("api", env, tmp_path / "api.log")
    exports = "\n".join(
        f"export {name}={shlex.quote(env[name])}" for name in sorted(set(env) - set(os.environ))
    )
    start = script(
        tmp_path / "start.sh", START.format(exports=exports, python=sys.executable, dir=tmp_path)
    )
    stop = script(tmp_path / "stop.sh", STOP.format(dir=tmp_path))
    subprocess.run([start], env=env, check=True, timeout=30)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: ready(url), timeout_s=30, message="the API to be ready")
        yield url, start, stop
    finally:
        api.close()
        agent = int((tmp_path / "agent.pid").read_text())
        procs.send([*procs.descendants_of(agent), agent], signal.SIGKILL)
        assert procs.wait_gone([agent], timeout_s=10) == []


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_graceful_command_stops_against_a_deployment_pass(tmp_path, deployment, settings):
    url, start, stop = deployment
    report = tmp_path / "drill.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sluicegate.drill",
            "--api-url",
            url,
            "--redis-url",
            settings.redis_url,
            "--database-url",
            settings.resolved_database_url,
            "--stop-cmd",
            stop,
            "--start-cmd",
            start,
            "--events",
            "2000",
            "--rate",
            "1000",
            "--stops",
            "2",
            "--fault",
            "term",
            "--no-progress",
            "--report",
            str(report),
        ],
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(report.read_text())
    assert data["mode"] == "deployment"
    assert [stop["fault"] for stop in data["stops"]] == ["term", "term"]
    assert all(stop["checked"]["exit_code"] == 0 for stop in data["stops"])
    assert data["final"]["persisted"] == 2000
    assert "faults are only what --stop-cmd" in " ".join(result.stdout.split())
