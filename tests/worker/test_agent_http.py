"""The agent's /livez, /readyz and /metrics, on a real agent process with real consumers."""

import os
import signal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sluicegate.drill.metrics_check import AGENT_SAMPLES
from sluicegate.queue.stats import snapshot
from sluicegate.repository.sqlite import SqliteRepository
from tests.loading import enqueue, make_events
from tests.processes import CommandProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


def agent_url(agent: CommandProcess) -> str:
    started = wait_for(lambda: agent.first("agent-started"), message="the agent to start")
    return f"http://127.0.0.1:{started['http_port']}"


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = httpx.get(f"{url}/metrics").text
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_probes_and_every_consumer_metric(settings, start_agent):
    agent = start_agent(QUEUE_BATCH_SIZE="100")
    url = agent_url(agent)
    assert httpx.get(f"{url}/livez").status_code == 200
    assert httpx.get(f"{url}/readyz").status_code == 200
    assert httpx.get(f"{url}/nowhere").status_code == 404
    enqueue(settings.redis_url, make_events("q", 1000))
    q = (("destination", "sql"), ("queue", "q"))
    wait_for(
        lambda: scrape(url).get("sluicegate_events_persisted_total", {}).get(q) == 1000,
        message="the consumer's figures to reach the agent",
    )
    idle = (*q, ("reason", "idle"))
    wait_for(
        lambda: scrape(url).get("sluicegate_consumer_exits_total", {}).get(idle) == 1,
        message="the consumer to leave once idle",
    )
    found = scrape(url)
    assert set(AGENT_SAMPLES) <= set(found)
    assert found["sluicegate_persist_batch_size_count"][q] >= 10
    assert found["sluicegate_end_to_end_latency_seconds_count"][q] == 1000
    assert found["sluicegate_consumer_starts_total"][q] == 1
    assert found["sluicegate_consumers"][q] == 0
    assert found["sluicegate_queue_depth"][q] == 0
    assert found["sluicegate_queue_oldest_pending_age_seconds"][q] == 0
    agent.signal(signal.SIGTERM)
    assert agent.wait() == 0


def test_lag_rises_while_the_agent_is_stopped_and_falls_to_zero_after(
    settings, redis_client, start_agent
):
    enqueue(settings.redis_url, make_events("q", 10))
    ages: list[float] = []
    wait_for(
        lambda: ages.append(snapshot(redis_client, "q").oldest_age_s) or ages[-1] >= 0.3,
        message="the lag to grow while no agent runs",
    )
    assert ages == sorted(ages)
    agent = start_agent()
    url = agent_url(agent)
    q = (("destination", "sql"), ("queue", "q"))
    wait_for(
        lambda: scrape(url)["sluicegate_queue_oldest_pending_age_seconds"].get(q) == 0,
        message="the lag gauge to fall to 0",
    )
    assert SqliteRepository(settings.sqlite_filepath).count("q") == 10
    agent.signal(signal.SIGTERM)
    assert agent.wait() == 0


def test_a_forked_consumer_does_not_hold_the_listening_socket(settings, start_agent):
    """Else a consumer that outlives a killed agent would keep the port its successor needs."""
    enqueue(settings.redis_url, make_events("q", 10))
    agent = start_agent()
    port = int(agent_url(agent).rpartition(":")[2])
    [consumer] = wait_for(agent.consumer_pids, message="a consumer to be forked")
    wait_for(lambda: agent.logged("consumer-started"), message="the consumer to be past the fork")
    listening = f"socket:[{listening_inode(port)}]"
    assert listening in open_files(agent.pid)
    assert listening not in open_files(consumer)
    agent.signal(signal.SIGTERM)
    assert agent.wait() == 0


def listening_inode(port: int) -> str:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:
            return fields[9]
    raise AssertionError(f"nothing listens on port {port}")


def open_files(pid: int) -> set[str]:
    folder = Path(f"/proc/{pid}/fd")
    found = set()
    for fd in folder.iterdir():
        try:
            found.add(os.readlink(fd))
        except OSError:
            pass  # closed meanwhile
    return found
