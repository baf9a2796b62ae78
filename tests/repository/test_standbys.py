"""DATABASE_REPLICAS against a real primary and streaming standby (started once per worker):
a persist returns only once the standby flushed it, a lagging standby leaves the batch
unconfirmed (transient), a standby or a dead primary is transient, and the repository finds the
promoted standby through the multi-host URL by itself."""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from sluicegate.drill.pg_pair import StandbyPair
from sluicegate.errors import ConfigurationError, RejectedEventError, TransientStoreError
from sluicegate.repository import open_repository
from sluicegate.repository.postgres import PostgresRepository, with_connect_defaults
from sluicegate.repository.standbys import (
    ReplicationState,
    StandbysBehindError,
    judge,
    read_state,
)
from tests.loading import make_events
from tests.postgres_server import private_schema
from tests.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("pg-pair")]

TIMEOUT_S = 0.3


@pytest.fixture
def url(pg_pair: StandbyPair) -> Iterator[str]:
    with private_schema(pg_pair.url) as url:
        yield url


@contextmanager
def repository(url: str, replicas: int = 1) -> Iterator[PostgresRepository]:
    repo = PostgresRepository(url, replicas=replicas, replicas_timeout_s=TIMEOUT_S)
    try:
        yield repo
    finally:
        repo.close()


@contextmanager
def stream_paused(pair: StandbyPair) -> Iterator[None]:
    pair.pause_stream()
    try:
        yield
    finally:
        pair.resume_stream()


def test_a_persist_waits_for_the_standby_and_a_lagging_one_leaves_it_unconfirmed(
    pg_pair: StandbyPair, url: str
) -> None:
    events = make_events("orders", 20)
    with repository(url) as repo:
        assert repo.persist(events[:10]) == 10  # the standby streams: confirmed at once
        with stream_paused(pg_pair), pytest.raises(StandbysBehindError, match="0 standby"):
            repo.persist(events[10:])  # committed on the primary, not on a standby
        assert repo.count() == 20
        # Written again once it streams: confirmed, and its rows still count as new, once.
        assert repo.persist(events[10:]) == 10
        assert repo.persist(events[10:]) == 0


def test_the_state_as_the_agent_reads_it(pg_pair: StandbyPair) -> None:
    with psycopg.connect(pg_pair.primary.dsn, autocommit=True) as conn:
        assert read_state(conn) == ReplicationState(False, True, 1, 0)
        conn.execute("DROP ROLE IF EXISTS plain")
        conn.execute("CREATE ROLE plain LOGIN")
    plain = pg_pair.primary.dsn.replace("postgres@", "plain@")
    with psycopg.connect(plain, autocommit=True) as conn:
        assert read_state(conn) == ReplicationState(False, False, 1, 0)
    with psycopg.connect(pg_pair.standby.dsn, autocommit=True) as conn:
        assert read_state(conn).in_recovery


def test_judge() -> None:
    asynchronous = ReplicationState(False, True, standbys=1, synchronous=0)
    assert "a failover to a standby loses" in (judge(asynchronous, 0) or "")
    assert judge(asynchronous, 1) is None
    assert judge(ReplicationState(False, True, 1, 1), 0) is None  # a synchronous standby
    assert judge(ReplicationState(False, True, 0, 0), 0) is None  # one server
    with pytest.raises(ConfigurationError, match="DATABASE_REPLICAS=2, but the primary has 1"):
        judge(asynchronous, 2)
    with pytest.raises(ConfigurationError, match="GRANT pg_monitor"):
        judge(ReplicationState(False, False, 1, 0), 1)
    assert "reached a standby" in (judge(ReplicationState(True, True, 0, 0), 1) or "")


def test_several_hosts_connect_to_the_primary_unless_the_url_says_otherwise() -> None:
    assert "target_session_attrs=read-write" in with_connect_defaults("postgresql://u@a:1,b:2/db")
    assert "target_session_attrs=any" in with_connect_defaults(
        "postgresql://u@a:1,b:2/db?target_session_attrs=any"
    )
    assert "target_session_attrs" not in with_connect_defaults("postgresql://u@a:1/db")


def test_sqlite_has_no_standbys(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="SQLite has none"):
        open_repository(f"sqlite:///{tmp_path / 'e.db'}", replicas=1)


def test_a_standby_is_transient_never_a_poison_batch(pg_pair: StandbyPair) -> None:
    """25006 read_only_sql_transaction (a standby, a demoted primary) keeps the batch pending."""
    standby_only = f"{pg_pair.standby.dsn}?target_session_attrs=any"
    with repository(standby_only, replicas=0) as repo:
        with pytest.raises(TransientStoreError, match="25006") as raised:
            repo.persist(make_events("orders", 1))
        assert not isinstance(raised.value, RejectedEventError)


def test_the_repository_finds_the_promoted_standby_by_itself(
    pg_pair: StandbyPair, url: str
) -> None:
    events = make_events("orders", 30)
    with repository(url) as repo:
        assert repo.persist(events[:10]) == 10
        failover = pg_pair.fail_over()
        assert failover.promote_s < 30
        with pytest.raises(TransientStoreError):
            repo.persist(events[10:20])  # the old primary's connection is gone
        with pytest.raises(StandbysBehindError):  # the new primary has no standby yet
            repo.persist(events[10:20])
        pg_pair.rebuild_standby()
        wait_for(lambda: _persisted(repo, events[10:]), timeout_s=10, message="persisted")
        assert repo.count() == 30  # the first ten were confirmed by the standby: not lost


def _persisted(repo: PostgresRepository, events: list) -> bool:
    try:
        repo.persist(events)
    except TransientStoreError:
        return False
    return True
