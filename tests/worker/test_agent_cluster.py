"""The agent and its consumers on a real Valkey cluster: found, consumed, stored, drained."""

import signal
import sqlite3
import uuid

import pytest

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
        wait_for(lambda: stored() == 150, timeout_s=60, message="150 events stored")
    except AssertionError as error:
        raise AssertionError(
            f"{error}; stored {stored()}; agent log:\n{agent.logs()[-6000:]}"
        ) from None
    agent.signal(signal.SIGTERM)
    assert agent.wait() == 0, agent.logs()
