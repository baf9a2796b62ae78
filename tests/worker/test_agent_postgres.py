"""End to end with PostgreSQL: the agent (``python -m sluicegate agent``) moves every queued event
into PostgreSQL exactly once, also when the database goes away mid-run and comes back.

PostgreSQL here is the private cluster (tests/postgres_server.py), so the outage never touches
the machine's server.
"""

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sluicegate.embedded.server import EmbeddedServer
from sluicegate.errors import TransientStoreError
from sluicegate.events import Event
from sluicegate.queue import keys
from sluicegate.repository.postgres import PostgresRepository
from tests.loading import enqueue, make_events
from tests.postgres_server import PrivatePostgres, private_schema
from tests.processes import CommandProcess, is_alive
from tests.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

QUEUES = ("orders", "mails")
OUTAGE_S = 3.0


def make_load(orders: int, mails: int) -> list[Event]:
    return make_events("orders", orders) + make_events("mails", mails)


def enqueue_all(redis_url: str, events: list[Event]) -> None:
    for queue in QUEUES:
        enqueue(redis_url, [e for e in events if e.queue == queue])


@pytest.fixture
def pg_url(private_pg: PrivatePostgres) -> Iterator[str]:
    with private_schema(private_pg.dsn) as url:
        yield url


@pytest.fixture
def repository(pg_url: str) -> Iterator[PostgresRepository]:
    repository = PostgresRepository(pg_url)
    yield repository
    repository.close()


@pytest.fixture
def agent(subprocess_env: dict[str, str], pg_url: str, tmp_path: Path) -> Iterator[CommandProcess]:
    """The agent with DATABASE_URL pointing at PostgreSQL; no consumer may outlive the test."""
    process = CommandProcess(
        "agent", {**subprocess_env, "DATABASE_URL": pg_url}, tmp_path / "agent.log"
    )
    yield process
    process.close()
    assert not any(is_alive(pid) for pid in process.consumer_pids()), "a consumer outlived the test"


def _count(repository: PostgresRepository) -> int:
    """The row count, or 0 on the one transient error the test's own connection reports after
    a restart (the repository reconnects on the next call)."""
    try:
        return repository.count()
    except TransientStoreError:
        return 0


def _assert_exactly_once(
    repository: PostgresRepository, events: list[Event], redis_url: str
) -> None:
    wait_for(
        lambda: _count(repository) >= len(events),
        timeout_s=60,
        message=f"{len(events)} events in PostgreSQL",
    )
    assert repository.count() == len(events)
    assert repository.ids() == {e.event_id for e in events}
    client = redis.Redis.from_url(redis_url)
    try:
        assert [client.xlen(keys.dead_letter_key(q)) for q in QUEUES] == [0, 0]
    finally:
        client.close()


def test_every_event_lands_in_postgres_exactly_once(
    agent: CommandProcess, repository: PostgresRepository, redis_server: EmbeddedServer
) -> None:
    events = make_load(3000, 1000)
    enqueue_all(redis_server.url, events)
    _assert_exactly_once(repository, events, redis_server.url)
    agent.signal(signal.SIGTERM)
    assert agent.wait(timeout_s=30) == 0


def test_a_database_outage_mid_run_loses_and_duplicates_nothing(
    agent: CommandProcess,
    repository: PostgresRepository,
    redis_server: EmbeddedServer,
    private_pg: PrivatePostgres,
) -> None:
    first = make_load(2000, 500)
    enqueue_all(redis_server.url, first)
    wait_for(lambda: repository.count() > 0, timeout_s=30, message="the first rows")
    private_pg.stop()
    second = make_load(2000, 500)
    enqueue_all(redis_server.url, second)  # accepted into Redis while the database is down
    wait_for(
        lambda: agent.logged("transient-error"),
        timeout_s=30,
        message="a consumer to notice the outage",
    )
    time.sleep(OUTAGE_S)  # the outage itself, not a wait for a condition
    private_pg.start()
    _assert_exactly_once(repository, first + second, redis_server.url)
    agent.signal(signal.SIGTERM)
    assert agent.wait(timeout_s=30) == 0
