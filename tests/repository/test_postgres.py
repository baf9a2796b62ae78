"""PostgreSQL against the repository contract (arrays, the default, and executemany; json and
copy by tests of their own; arrays over a jsonb payload column), the payload column's two types,
and its failure modes.

Contract tests use a fresh schema of the machine's server; outage tests stop and start a private
cluster (tests/postgres_server.py), never the machine's server.
"""

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import errors as pg_errors

from sluicegate.errors import RejectedEventError, TransientStoreError
from sluicegate.events import Event
from sluicegate.repository import EventStore, Repository, open_repository, postgres_writes
from sluicegate.repository.postgres import PostgresRepository, classify, with_connect_defaults
from sluicegate.repository.postgres_schema import PayloadType, payload_type
from sluicegate.repository.postgres_writes import WriteStrategy
from tests.postgres_server import PrivatePostgres, private_schema
from tests.repository.contract import RepositoryContract, StoredRow, make_events
from tests.repository.lifecycle_contract import LifecycleContract

pytestmark = pytest.mark.postgres

# Not JSON: refused for good by the cast to the payload column's type, json or jsonb.
NOT_JSON = '{"text": '


class PostgresContract(RepositoryContract):
    strategy: WriteStrategy
    payload: PayloadType = "json"

    @pytest.fixture
    def open_repo(self, postgres_url: str) -> Iterator[Callable[[], Repository]]:
        opened: list[PostgresRepository] = []

        def open_repo() -> Repository:
            opened.append(
                PostgresRepository(postgres_url, strategy=self.strategy, payload=self.payload)
            )
            return opened[-1]

        yield open_repo
        for repository in opened:
            repository.close()

    @pytest.fixture
    def poison(self) -> Callable[[str, str], Event]:
        return lambda event_id, queue: Event(queue, event_id, NOT_JSON, 1)

    @pytest.fixture
    def read_row(self, postgres_url: str) -> Callable[[str], StoredRow | None]:
        def read_row(event_id: str) -> StoredRow | None:
            with psycopg.connect(postgres_url) as conn:
                return conn.execute(
                    "SELECT queue, payload::text, accepted_at, persisted_at FROM events "
                    "WHERE event_id = %s",
                    (event_id,),
                ).fetchone()

        return read_row


class PostgresLifecycle(LifecycleContract):
    strategy: WriteStrategy

    @pytest.fixture
    def open_store(self, postgres_url: str) -> Iterator[Callable[[], EventStore]]:
        opened: list[PostgresRepository] = []

        def open_store() -> EventStore:
            opened.append(PostgresRepository(postgres_url, strategy=self.strategy))
            return opened[-1]

        yield open_store
        for repository in opened:
            repository.close()


class TestPostgresLifecycleArrays(PostgresLifecycle):
    strategy = "arrays"


class TestPostgresLifecycleExecutemany(PostgresLifecycle):
    strategy = "executemany"


class TestPostgresArrays(PostgresContract):
    strategy = "arrays"


class TestPostgresExecutemany(PostgresContract):
    strategy = "executemany"


class TestPostgresArraysJsonb(PostgresContract):
    strategy = "arrays"
    payload = "jsonb"


@pytest.fixture
def private_pg_url(private_pg: PrivatePostgres) -> Iterator[str]:
    with private_schema(private_pg.dsn) as url:
        yield url


def test_copy_writes_once_and_refuses_a_poison_batch(postgres_url: str) -> None:
    """POSTGRES_WRITE=copy, the strategy the contract classes no longer run."""
    repository = PostgresRepository(postgres_url, strategy="copy")
    events = make_events(20)
    assert repository.persist(events) == 20
    assert repository.persist(events[10:] + make_events(5)) == 5
    with pytest.raises(RejectedEventError):
        repository.persist([Event("orders", "poison", NOT_JSON, 1), *make_events(3)])
    assert repository.count() == 25
    repository.close()


@pytest.mark.parametrize("strategy", ["arrays", "json"])
def test_a_large_batch_goes_in_parts_of_one_transaction(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, strategy: WriteStrategy
) -> None:
    monkeypatch.setattr(postgres_writes, "MAX_DOCUMENT_BYTES", 300)
    repository = PostgresRepository(postgres_url, strategy=strategy)
    events = make_events(9)
    assert repository.persist(events) == 9
    assert repository.persist(events) == 0
    with pytest.raises(RejectedEventError):  # the last document fails: the first ones roll back
        repository.persist([*make_events(8), Event("orders", "poison", NOT_JSON, 1)])
    assert repository.count() == 9
    repository.close()


@pytest.mark.parametrize("strategy", ["arrays", "executemany"])
def test_outage_is_transient_and_the_same_object_recovers(
    private_pg: PrivatePostgres, private_pg_url: str, strategy: WriteStrategy
) -> None:
    repository = PostgresRepository(private_pg_url, strategy=strategy)
    assert repository.persist(make_events(5)) == 5
    private_pg.stop()
    started = time.monotonic()
    with pytest.raises(TransientStoreError):
        repository.persist(make_events(5))
    with pytest.raises(TransientStoreError):
        repository.count()
    assert time.monotonic() - started < 10.0, "a refused connection must fail fast"
    private_pg.start()
    assert repository.persist(make_events(5)) == 5
    assert repository.count() == 10
    repository.close()


def test_a_terminated_session_is_transient_then_reconnects(postgres_url: str) -> None:
    name = f"sluicegate-test-{uuid.uuid4().hex[:8]}"
    repository = PostgresRepository(f"{postgres_url}&application_name={name}")
    assert repository.persist(make_events(2)) == 2
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (name,),
        )
    with pytest.raises(TransientStoreError, match=r"57P01|terminat|closed"):
        repository.persist(make_events(2))
    assert repository.persist(make_events(2)) == 2
    assert repository.count() == 4
    repository.close()


def test_concurrent_first_starts_create_the_schema_once(postgres_url: str) -> None:
    starters = 8
    barrier = threading.Barrier(starters)
    failures: list[BaseException] = []

    def start() -> None:
        repository = PostgresRepository(postgres_url)
        barrier.wait(timeout=10)
        try:
            repository.count()
        except BaseException as error:
            failures.append(error)
        finally:
            repository.close()

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []


def test_a_nul_in_a_text_column_is_rejected(postgres_url: str) -> None:
    """psycopg refuses NUL in text parameters before sending: the event's fault, not the DB's."""
    repository = PostgresRepository(postgres_url, strategy="executemany")
    with pytest.raises(RejectedEventError):
        repository.persist([Event("orders", "id-with-\x00-nul", "{}", 1)])
    repository.close()


@pytest.mark.parametrize("strategy", ["arrays", "json"])
def test_a_payload_that_is_not_unicode_text_is_rejected(
    postgres_url: str, strategy: WriteStrategy
) -> None:
    """A lone surrogate cannot be encoded as UTF-8: the event's fault, not the database's."""
    repository = PostgresRepository(postgres_url, strategy=strategy)
    with pytest.raises(RejectedEventError):
        repository.persist([Event("orders", "surrogate", '"a\ud800b"', 1)])
    repository.close()


def test_arrays_takes_values_that_hold_its_separator_the_json_way(postgres_url: str) -> None:
    """U+001E joins a column's values: an id holding it is stored whole (json's statement), a
    payload holding it raw is not JSON (refused), and neither shifts another event's values."""
    repository = PostgresRepository(postgres_url, strategy="arrays")
    odd = [Event("orders", "a\x1eb", '{"n": 1}', 1), *make_events(2)]
    assert repository.persist(odd) == 3
    assert repository.locate("a\x1eb") is not None
    with pytest.raises(RejectedEventError):
        repository.persist([Event("orders", "raw", '{"n": "\x1e"}', 1), *make_events(2)])
    assert repository.persist([Event("orders", "", '{"n": 2}', 1)]) == 1, "an empty id alone"
    assert repository.count() == 4
    repository.close()


# As the API stores it: compact, a key given twice, a number as spelled, a NUL escaped.
AS_ACCEPTED = '{"b":1,"a":2,"a":3,"n":1.50,"s":"\\u0000"}'


def stored_payloads(postgres_url: str) -> dict[str, str]:
    with psycopg.connect(postgres_url) as conn:
        return dict(conn.execute("SELECT event_id, payload::text FROM events").fetchall())


@pytest.mark.parametrize("strategy", ["arrays", "json", "copy", "executemany"])
def test_a_json_column_keeps_the_payload_as_accepted(
    postgres_url: str, strategy: WriteStrategy
) -> None:
    repository = PostgresRepository(postgres_url, strategy=strategy)
    assert repository.persist([Event("orders", "kept", AS_ACCEPTED, 1), *make_events(1)]) == 2
    assert repository.payload == "json"
    assert stored_payloads(postgres_url)["kept"] == AS_ACCEPTED
    with pytest.raises(RejectedEventError):
        repository.persist([Event("orders", "poison", NOT_JSON, 1)])
    repository.close()


def test_a_jsonb_column_parses_the_payload_and_refuses_a_nul(postgres_url: str) -> None:
    repository = PostgresRepository(postgres_url, payload="jsonb")
    parsed = Event("orders", "parsed", AS_ACCEPTED.replace(',"s":"\\u0000"', ""), 1)
    assert repository.persist([parsed]) == 1
    assert stored_payloads(postgres_url)["parsed"] == '{"a": 3, "b": 1, "n": 1.50}'
    with pytest.raises(RejectedEventError):  # jsonb's text has no NUL: refused for good
        repository.persist([Event("orders", "nul", AS_ACCEPTED, 1)])
    repository.close()


@pytest.mark.parametrize(("made", "asked"), [("jsonb", "json"), ("json", "jsonb")])
def test_a_table_keeps_its_payload_type_whatever_the_setting(
    postgres_url: str, made: PayloadType, asked: PayloadType, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tables of an older sluicegate are jsonb: POSTGRES_PAYLOAD=json does not rewrite them,
    the writes cast to the type they find, and the log says so once."""
    first = PostgresRepository(postgres_url, payload=made)
    assert first.persist(make_events(2)) == 2
    first.close()
    assert "postgres-payload-type-kept" not in capsys.readouterr().out
    later = PostgresRepository(postgres_url, payload=asked)
    assert later.persist([Event("orders", "later", '{"b":1,"a":2}', 1)]) == 1
    assert later.payload == made
    later.close()  # a reconnect: not said again
    assert later.count() == 3
    said = capsys.readouterr()
    assert (said.out + said.err).count("postgres-payload-type-kept") == 1
    with psycopg.connect(postgres_url) as conn:
        assert payload_type(conn) == made
    as_stored = '{"a": 2, "b": 1}' if made == "jsonb" else '{"b":1,"a":2}'
    assert stored_payloads(postgres_url)["later"] == as_stored
    later.close()


def test_open_repository_selects_postgres_by_scheme(postgres_url: str) -> None:
    repository = open_repository(postgres_url)
    assert isinstance(repository, PostgresRepository)
    repository.close()


@pytest.mark.parametrize(
    "error",
    [
        pg_errors.AdminShutdown(),
        pg_errors.CannotConnectNow(),
        pg_errors.TooManyConnections(),
        pg_errors.SerializationFailure(),
        pg_errors.DeadlockDetected(),
        psycopg.OperationalError(),
        psycopg.InterfaceError(),
        pg_errors.UndefinedTable(),
        pg_errors.InsufficientPrivilege(),
        pg_errors.DiskFull(),
        pg_errors.ReadOnlySqlTransaction(),
    ],
)
def test_classify_transient(error: psycopg.Error) -> None:
    assert isinstance(classify(error), TransientStoreError)


@pytest.mark.parametrize(
    "error",
    [
        pg_errors.UntranslatableCharacter(),
        pg_errors.CheckViolation(),
        pg_errors.InvalidTextRepresentation(),
        pg_errors.NotNullViolation(),
        pg_errors.CharacterNotInRepertoire(),
        psycopg.DataError(),
    ],
)
def test_classify_rejected(error: psycopg.Error) -> None:
    assert isinstance(classify(error), RejectedEventError)


def test_connect_defaults_yield_to_the_url() -> None:
    conninfo = with_connect_defaults("postgresql://u@h:5433/db?connect_timeout=9")
    assert "connect_timeout=9" in conninfo
    assert "keepalives=1" in conninfo
