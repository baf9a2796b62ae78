"""The agent and a Redis that may evict what the API accepted (issue 16): refused at start
(exit 2, one line naming the setting and the fix), and /readyz 503 when set at run time."""

import httpx
import pytest

from tests.waiting import wait_for
from tests.worker.test_agent_http import agent_url

pytestmark = pytest.mark.slow


def test_an_agent_refuses_a_redis_that_may_evict(start_agent, redis_client):
    redis_client.config_set("maxmemory-policy", "allkeys-lru")
    agent = start_agent()
    assert agent.wait() == 2
    refusal = agent.log_path.read_text().splitlines()[-1]
    assert refusal.startswith("sluicegate: Redis at 127.0.0.1:")
    assert "maxmemory-policy allkeys-lru" in refusal
    assert "set maxmemory-policy noeviction" in refusal
    assert agent.consumer_pids() == set()
    agent.assert_nothing_left()


def test_a_policy_set_at_run_time_turns_readyz_503_with_the_reason(start_agent, redis_client):
    url = agent_url(start_agent())
    assert httpx.get(f"{url}/readyz").status_code == 200
    redis_client.config_set("maxmemory-policy", "allkeys-lfu")
    answer = wait_for(
        lambda: (r := httpx.get(f"{url}/readyz")).status_code == 503 and r,
        message="/readyz 503",
    )
    assert "maxmemory-policy allkeys-lfu" in answer.text
