"""The agent with a PostgreSQL primary and a streaming standby (started once per worker): it says
at start what a failover can lose, refuses a DATABASE_REPLICAS it cannot meet, and with
DATABASE_REPLICAS=1 goes through a failover without a restart, losing nothing."""

import signal
from collections.abc import Iterator

import httpx
import pytest

from sluicegate.drill.pg_pair import StandbyPair
from sluicegate.repository.postgres import PostgresRepository
from tests.loading import enqueue, make_events
from tests.postgres_server import private_schema
from tests.processes import CommandProcess, run_sluicegate
from tests.waiting import wait_for
from tests.worker.test_agent_http import agent_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("pg-pair")]


@pytest.fixture
def url(pg_pair: StandbyPair) -> Iterator[str]:
    with private_schema(pg_pair.url) as url:
        yield url


def test_more_replicas_than_standbys_or_sqlite_is_exit_2(subprocess_env, url) -> None:
    done = run_sluicegate(
        {**subprocess_env, "DATABASE_URL": url, "DATABASE_REPLICAS": "2"}, "agent"
    )
    assert done.returncode == 2, done.stderr
    assert "DATABASE_REPLICAS=2, but the primary has 1 standby(s)" in done.stderr
    done = run_sluicegate({**subprocess_env, "DATABASE_REPLICAS": "1"}, "agent")  # SQLite
    assert done.returncode == 2, done.stderr
    assert "SQLite has none" in done.stderr


def test_an_asynchronous_standby_without_replicas_is_a_warning(start_agent, url) -> None:
    agent = start_agent(DATABASE_URL=url)
    ready = httpx.get(f"{agent_url(agent)}/readyz")
    assert ready.status_code == 200
    assert "warning: the primary streams to 1 standby(s)" in ready.text
    assert len(agent.logged("database-failover-can-lose")) == 1
    agent.signal(signal.SIGTERM)
    assert agent.wait() == 0


def test_a_failover_without_a_restart_loses_nothing(
    start_agent, url, pg_pair: StandbyPair, settings
) -> None:
    """The standby stops receiving, a batch of the second half is committed on the primary
    meanwhile (not acknowledged: not on a standby), the primary dies, the standby is promoted:
    the same agent writes the second half again into the new primary. With DATABASE_REPLICAS=0
    it would have acknowledged it and lost it."""
    agent = start_agent(DATABASE_URL=url, DATABASE_REPLICAS="1", DATABASE_REPLICAS_TIMEOUT="0.3")
    assert "warning" not in httpx.get(f"{agent_url(agent)}/readyz").text
    events = make_events("orders", 2000)
    repo = PostgresRepository(url)
    try:
        enqueue(settings.redis_url, events[:1000])
        wait_for(lambda: _count(repo) == 1000, timeout_s=30, message="the first half")
        pg_pair.pause_stream()
        enqueue(settings.redis_url, events[1000:])
        wait_for(lambda: _count(repo) > 1000, timeout_s=30, message="a batch on the primary")
        wait_for(lambda: _unconfirmed(agent), message="the batch left pending, unconfirmed")
        pg_pair.fail_over()
        pg_pair.rebuild_standby()
        wait_for(lambda: _count(repo) >= 2000, timeout_s=60, message="every event persisted")
        assert repo.ids() == {e.event_id for e in events}
        assert repo.count() == 2000
    finally:
        repo.close()
    assert agent.logged("transient-error")
    assert agent.process.poll() is None  # the same agent all along
    agent.signal(signal.SIGTERM)
    assert agent.wait() == 0


def _unconfirmed(agent: CommandProcess) -> bool:
    return any("DATABASE_REPLICAS=1" in e["error"] for e in agent.logged("transient-error"))


def _count(repo: PostgresRepository) -> int:
    try:
        return repo.count()
    except Exception:  # the old primary's connection, once
        return 0
