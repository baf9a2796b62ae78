"""The agent and its consumers on a real Valkey cluster: found, consumed, stored, drained."""

import json
import signal
import sqlite3
import uuid

import httpx
import pytest

from tests.api.processes import ApiProcess
from tests.in_process import run_in_process
from tests.loading import enqueue, make_events
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.xdist_group("cluster"),
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def test_the_agent_consumes_queues_on_a_cluster(valkey_cluster, start_agent, settings):
    queues = [f"q-{uuid.uuid4().hex[:8]}" for _ in range(3)]  # spread over the primaries
    for queue in queues:
        enqueue(valkey_cluster.url, make_events(queue, 50))
    agent = start_agent(REDIS_URL=valkey_cluster.url, QUEUE_CONSUMERS="2")
    _wait_stored(agent, settings, queues, 150)
    agent.signal(signal.SIGTERM)
    assert agent.wait() == 0, agent.logs()


def test_a_seed_that_stays_down_stops_nothing_from_starting(
    valkey_cluster, start_agent, settings, subprocess_env, tmp_path
):
    """Issue 16: REDIS_URL named a primary that was SIGKILLed and stayed down (its replica
    promoted): a restarted agent never started. With the other nodes in REDIS_CLUSTER_NODES
    the agent and the API start, the API accepts, the consumers drain, ``status`` answers, and
    a SIGTERM is a clean exit for both."""
    queues = [f"q-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for queue in queues[:2]:
        enqueue(valkey_cluster.url, make_events(queue, 50))
    seed = valkey_cluster.running_primaries()[0]
    seeds = ",".join(f"127.0.0.1:{node.port}" for node in valkey_cluster.nodes if node is not seed)
    seed.kill()  # the fixture starts it again for the next test
    valkey_cluster.wait_healthy()
    env = {**subprocess_env, "REDIS_URL": seed.url, "REDIS_CLUSTER_NODES": seeds, "PORT": "0"}
    api = ApiProcess(env, tmp_path / "api.log")
    try:
        events = [{"payload": {"n": n}} for n in range(50)]
        posted = httpx.post(f"http://127.0.0.1:{api.port()}/v1/events/{queues[2]}", json=events)
        assert posted.status_code == 202, posted.text
        agent = start_agent(**env)
        _wait_stored(agent, settings, queues, 150)
        status = run_in_process(env, "status", "--json")
        assert status.returncode == 0, status.stderr
        assert {row["queue"] for row in json.loads(status.stdout)} >= set(queues)
        agent.signal(signal.SIGTERM)
        assert agent.wait() == 0, agent.logs()
        api.signal(signal.SIGTERM)
        assert api.wait() == 0, api.logs()
    finally:
        api.close()


def _wait_stored(agent, settings, queues: list[str], count: int) -> None:
    def stored() -> int:
        try:
            with sqlite3.connect(settings.sqlite_filepath) as db:
                # Only this test's queues: the cluster is shared, and the agent also consumes
                # what other tests left in theirs.
                marks = ",".join("?" * len(queues))
                query = f"SELECT count(*) FROM events WHERE queue IN ({marks})"
                return int(db.execute(query, queues).fetchone()[0])
        except sqlite3.OperationalError:  # the table is made by the first consumer
            return 0

    try:
        wait_for(lambda: stored() == count, timeout_s=60, message=f"{count} events stored")
    except AssertionError as error:
        raise AssertionError(
            f"{error}; stored {stored()}; agent log:\n{agent.logs()[-6000:]}"
        ) from None
