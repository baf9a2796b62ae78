"""A database that refuses connections ("too many clients") is backpressure, not a storm.

A private PostgreSQL with ``max_connections = 6``, every slot taken by the test: the agent's
consumers back off together (one jittered backoff of the agent for the destination), keep their
locks, and show it in ``status`` and ``/metrics``; once the slots are free, every event lands once.
"""

import signal
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sluicegate.queue.lock import lock_holders_of
from sluicegate.repository.postgres import PostgresRepository
from tests.in_process import run_in_process
from tests.loading import enqueue, make_events
from tests.postgres_server import PrivatePostgres, private_postgres, private_schema
from tests.processes import CommandProcess
from tests.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

MAX_CONNECTIONS = 6


@pytest.fixture(scope="module")
def small_pg() -> Iterator[PrivatePostgres]:
    with private_postgres(
        max_connections=str(MAX_CONNECTIONS), superuser_reserved_connections="0"
    ) as server:
        yield server


def test_refused_connections_back_off_together_and_show(
    small_pg, subprocess_env, redis_client, settings, tmp_path
):
    with private_schema(small_pg.dsn) as url:
        ids = set(enqueue(settings.redis_url, make_events("a", 300)))
        ids |= set(enqueue(settings.redis_url, make_events("b", 300)))
        hog = [psycopg.connect(small_pg.dsn) for _ in range(MAX_CONNECTIONS)]  # the server is full
        env = {**subprocess_env, "DATABASE_URL": url, "MAX_CONSUMERS": "2"}
        agent = CommandProcess("agent", env, tmp_path / "agent.log")
        try:
            _refuse_then_accept(agent, hog, redis_client, env, url, ids)
        finally:
            agent.close()


def _refuse_then_accept(agent, hog, redis_client, env, url, ids) -> None:
    try:
        _shows_the_backoff_keeping_its_lock(agent, redis_client, env)
    finally:
        for conn in hog:
            conn.close()
    repository = PostgresRepository(url)
    wait_for(lambda: repository.count() == len(ids), timeout_s=60, message="every event")
    assert repository.ids() == ids
    repository.close()
    agent.signal(signal.SIGTERM)
    assert agent.wait(timeout_s=30) == 0


def _shows_the_backoff_keeping_its_lock(agent, redis_client, env) -> None:
    wait_for(lambda: agent.logged("database-refused"), message="a refused connection")
    holders = wait_for(lambda: lock_holders_of(redis_client, "a", 1) or None)
    port = agent.first("agent-started")["http_port"]
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert 'sluicegate_database_refusals{destination="sql"} ' in metrics

    def status_showing_the_backoff() -> str | None:
        """A note is shown while its wait lasts; between two waits (the next refusal), none is."""
        shown = run_in_process(env, "status")
        text = " ".join(shown.stdout.split())  # rich wraps the line at its width
        return text if "database backoff: destination sql:" in text else None

    shown = wait_for(status_showing_the_backoff, timeout_s=30, message="status to show it")
    assert "too many clients" in shown
    # Together, not each on its own: refusals in a row grow one wait of the agent (0.2 s doubling).
    wait_for(lambda: _refusals(port) >= 4, timeout_s=20, message="four refusals in a row")
    assert lock_holders_of(redis_client, "a", 1) == holders  # the lock stayed alive


def _refusals(port: int) -> float:
    for family in text_string_to_metric_families(
        httpx.get(f"http://127.0.0.1:{port}/metrics").text
    ):
        if family.name == "sluicegate_database_refusals":
            return family.samples[0].value
    return 0.0
