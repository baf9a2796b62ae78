"""deploy/grafana/sluicegate.json queries only metrics that a running system really exports."""

import json
import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.processes import ApiProcess
from tests.processes import CommandProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "sluicegate.json"


def queried_names() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return {name for expr in exprs for name in re.findall(r"sluicegate_[a-z_]+", expr)}


def sample_names(url: str) -> set[str]:
    text = httpx.get(f"{url}/metrics").text
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_every_metric_the_dashboard_queries_is_exported(subprocess_env, tmp_path):
    env = {**subprocess_env, "PORT": "0", "LOG_LEVEL": "info"}
    api = ApiProcess(env, tmp_path / "api.log")
    agent = CommandProcess("agent", env, tmp_path / "agent.log")
    try:
        api_url = f"http://127.0.0.1:{api.port()}"
        started = wait_for(lambda: agent.first("agent-started"), message="the agent to start")
        agent_url = f"http://127.0.0.1:{started['http_port']}"
        events = [{"payload": {"n": n}} for n in range(10)]
        assert httpx.post(f"{api_url}/v1/events/orders", json=events).status_code == 202
        httpx.post(f"{api_url}/v1/events/orders", content=b"{", headers={"content-type": "x"})
        wait_for(  # a consumer persisted them and left once idle: every family has samples
            lambda: "sluicegate_consumer_exits_total" in sample_names(agent_url),
            timeout_s=30,
            message="the consumer to persist and exit",
        )
        exported = sample_names(api_url) | sample_names(agent_url)
    finally:
        agent.close()
        api.close()
    missing = sorted(queried_names() - exported)
    assert not missing, f"the Grafana dashboard queries metrics nobody exports: {missing}"
    assert len(queried_names()) >= 15
