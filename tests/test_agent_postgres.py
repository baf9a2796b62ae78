"""End to end with PostgreSQL: the agent (a subprocess) moves every queued event into PostgreSQL
exactly once, also when the database goes away mid-run and comes back (nothing dead-lettered).

PostgreSQL here is the private cluster (tests/postgres_server.py) so the outage never touches the
machine's server.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sluicegate import keys
from sluicegate.embedded import EmbeddedServer
from sluicegate.errors import TransientStoreError
from sluicegate.events import Event, new_event_id, now_ms
from sluicegate.queue_writer import QueueWriter, detect_durability
from sluicegate.redis_client import async_client
from sluicegate.repository.postgres import PostgresRepository
from tests.postgres_server import PrivatePostgres, private_schema
from tests.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

AGENT = (
    "import sys\n"
    "from sluicegate.logs import configure_logging\n"
    "from sluicegate.agent import Agent\n"
    "from sluicegate.settings import load_settings\n"
    "configure_logging()\n"
    "sys.exit(Agent(load_settings(), sys.argv[1]).run())\n"
)
QUEUES = ("orders", "mails")
OUTAGE_S = 3.0


def make_events(queue: str, count: int) -> list[Event]:
    return [Event(queue, new_event_id(), json.dumps({"n": n}), now_ms()) for n in range(count)]


async def _enqueue(redis_url: str, events: list[Event]) -> None:
    client = async_client(redis_url)
    try:
        mode = await detect_durability(client, "auto")
        writer = QueueWriter(client, mode, max_depth=1_000_000, durability_timeout_s=5.0)
        for start in range(0, len(events), 250):
            chunk = events[start:start + 250]
            assert (await writer.enqueue(chunk[0].queue, chunk)).accepted
    finally:
        await client.aclose()


def enqueue(redis_url: str, events: list[Event]) -> None:
    for queue in QUEUES:
        asyncio.run(_enqueue(redis_url, [e for e in events if e.queue == queue]))


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
def agent(subprocess_env: dict[str, str], pg_url: str, redis_server: EmbeddedServer,
          tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """The agent with DATABASE_URL pointing at PostgreSQL; stopped with SIGTERM afterwards."""
    log_path = tmp_path / "agent.log"
    env = {**subprocess_env, "DATABASE_URL": pg_url}
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-c", AGENT, redis_server.url], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process, log_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        _assert_children_gone(log_path)


def _logged(log_path: Path, command: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    return [line["payload"] for line in lines if line["command"] == command]


def _assert_children_gone(log_path: Path) -> None:
    pids = [int(str(p["child_pid"])) for p in _logged(log_path, "fork-node-process")]
    wait_for(lambda: not any(_alive(pid) for pid in pids), timeout_s=10,
             message=f"consumer processes {pids} to exit")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _count(repository: PostgresRepository) -> int:
    """The row count, or 0 on the one transient error the test's own connection sees after a
    restart (the repository reports it, then reconnects on the next call)."""
    try:
        return repository.count()
    except TransientStoreError:
        return 0


def _assert_exactly_once(repository: PostgresRepository, events: list[Event],
                         redis_url: str) -> None:
    wait_for(lambda: _count(repository) >= len(events), timeout_s=60,
             message=f"{len(events)} events in PostgreSQL")
    assert repository.count() == len(events)
    assert repository.ids() == {e.event_id for e in events}
    client = redis.Redis.from_url(redis_url)
    try:
        assert [client.xlen(keys.dead_letter_key(q)) for q in QUEUES] == [0, 0]
    finally:
        client.close()


def test_every_event_lands_in_postgres_exactly_once(
        agent: tuple[subprocess.Popen[bytes], Path], repository: PostgresRepository,
        redis_server: EmbeddedServer) -> None:
    events = make_events("orders", 3000) + make_events("mails", 1000)
    enqueue(redis_server.url, events)
    _assert_exactly_once(repository, events, redis_server.url)
    process, _ = agent
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_a_database_outage_mid_run_loses_and_duplicates_nothing(
        agent: tuple[subprocess.Popen[bytes], Path], repository: PostgresRepository,
        redis_server: EmbeddedServer, private_pg: PrivatePostgres) -> None:
    first = make_events("orders", 2000) + make_events("mails", 500)
    enqueue(redis_server.url, first)
    wait_for(lambda: repository.count() > 0, timeout_s=30, message="the first rows")
    private_pg.stop()
    second = make_events("orders", 2000) + make_events("mails", 500)
    enqueue(redis_server.url, second)  # accepted into Redis while the database is down
    _, log_path = agent
    wait_for(lambda: _logged(log_path, "transient-error"), timeout_s=30,
             message="a consumer to notice the outage")
    time.sleep(OUTAGE_S)  # the outage itself, not a wait for a condition
    private_pg.start()
    _assert_exactly_once(repository, first + second, redis_server.url)
