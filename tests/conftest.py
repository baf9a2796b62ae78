"""Fixtures shared by every test: real servers on free ports, never stand-ins."""

import compileall
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

import sluicegate
from sluicegate.drill.pg_pair import StandbyPair
from sluicegate.embedded.cluster import EmbeddedCluster
from sluicegate.embedded.server import EmbeddedServer
from sluicegate.settings import Settings
from tests.postgres_server import (
    PrivatePostgres,
    private_postgres,
    private_schema,
    reachable_dsn,
    standby_pair,
)
from tests.rewritten_tests import write_rewritten_tests

# No wall-clock deadline and no too-slow health check: on a loaded 2-core machine a 200 ms deadline
# fails examples that are merely slow (tests/api/ingest/formats/test_ids.py did, once in a full
# run), and these properties are about outcomes, not speed (bench/ measures speed).
hypothesis_settings.register_profile(
    "suite", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("suite")


def pytest_configure(config: pytest.Config) -> None:
    """Compile sluicegate's modules once, before the workers start. With PYTHONDONTWRITEBYTECODE set
    (as on the machines this project runs on), every process the tests start would otherwise
    compile them again: 0.05 s of an agent's 0.41 s of CPU at start, some 150 processes a run.
    The test modules likewise, asserts rewritten (``rewritten_tests``)."""
    if not hasattr(config, "workerinput"):  # the controller, or a run without xdist
        compileall.compile_dir(Path(sluicegate.__file__).parent, quiet=1)
        write_rewritten_tests(config, Path(__file__).parent)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow (processes, drills: up to 25 s each) go first, the rest keep their order.
    pytest-xdist hands tests out in this order, so the short ones fill the cores at the end,
    instead of one long drill started last keeping the whole run waiting."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    """A private Valkey/Redis server (AOF, appendfsync always) that a test may kill and restart."""
    server = EmbeddedServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="session")
def cluster_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    """One local Valkey cluster (3 primaries + 3 replicas) per test worker: it takes seconds to
    start, so every test marked ``xdist_group("cluster")`` shares it (and uses its own queues)."""
    cluster = EmbeddedCluster(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield cluster
    finally:
        cluster.kill()


@pytest.fixture
def valkey_cluster(cluster_server: EmbeddedCluster) -> EmbeddedCluster:
    """The shared cluster, healthy: a node an earlier test killed is started again first."""
    for node in cluster_server.nodes:
        if not node.running:
            node.start()
    cluster_server.wait_healthy()
    return cluster_server


@pytest.fixture
def redis_client(redis_server: EmbeddedServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def settings(tmp_path: Path, redis_server: EmbeddedServer) -> Settings:
    """Settings for a fast test system: short TTLs and polls, SQLite in the test's folder."""
    return Settings(
        redis_url=redis_server.url,
        sqlite_filepath=tmp_path / "events.db",
        data_dir=tmp_path,
        queue_poll_freq_s=0.1,
        queue_batch_timeout_s=0.1,
        queue_agent_worker_ttl_s=2.0,
        shutdown_deadline_s=5.0,
        dead_letter_after=2,
        agent_port=0,
    )


@pytest.fixture
def subprocess_env(settings: Settings) -> dict[str, str]:
    """The same settings as environment variables, for the agent or API run as a subprocess."""
    return {
        **os.environ,
        "REDIS_URL": settings.redis_url or "",
        "SQLITE_FILEPATH": str(settings.sqlite_filepath),
        "SLUICEGATE_DATA_DIR": str(settings.data_dir),
        "QUEUE_POLL_FREQ": str(settings.queue_poll_freq_s),
        "QUEUE_BATCH_TIMEOUT": str(settings.queue_batch_timeout_s),
        "QUEUE_AGENT_WORKER_TTL": str(settings.queue_agent_worker_ttl_s),
        "SHUTDOWN_DEADLINE": str(settings.shutdown_deadline_s),
        "DEAD_LETTER_AFTER": str(settings.dead_letter_after),
        "AGENT_PORT": "0",  # tests run side by side: never the default port
    }


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The machine's PostgreSQL (SLUICEGATE_TEST_POSTGRES_DSN); skips, or fails in CI, if away."""
    return reachable_dsn()


@pytest.fixture
def postgres_url(postgres_dsn: str) -> Iterator[str]:
    """A DSN into a fresh schema of the machine's PostgreSQL, dropped after the test."""
    with private_schema(postgres_dsn) as url:
        yield url


@pytest.fixture(scope="session")
def private_pg_server() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL cluster that tests may stop and start (never the machine's)."""
    with private_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def standby_pair_server() -> Iterator[StandbyPair]:
    """A private primary and streaming standby, once per worker: mark its tests
    ``xdist_group("pg-pair")`` so one worker starts it."""
    with standby_pair() as pair:
        yield pair


@pytest.fixture
def pg_pair(standby_pair_server: StandbyPair) -> StandbyPair:
    """The pair with a streaming standby again, whatever an earlier test did to it."""
    if not standby_pair_server.standby.is_running():
        standby_pair_server.rebuild_standby()
    standby_pair_server.wait_streaming()
    return standby_pair_server


@pytest.fixture
def private_pg(private_pg_server: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """The private cluster, running again after the test whatever the test did to it."""
    if not private_pg_server.is_running():
        private_pg_server.start()
    try:
        yield private_pg_server
    finally:
        if not private_pg_server.is_running():
            private_pg_server.start()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """``settings`` with SQLite, then with PostgreSQL (a private schema): a test run on both."""
    if request.param == "sqlite":
        return settings
    url = request.getfixturevalue("postgres_url")
    return settings.model_copy(update={"database_url": url})
