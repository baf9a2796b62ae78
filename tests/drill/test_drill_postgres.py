"""The drill with the consumers on PostgreSQL: a database outage (connections refused, sessions
terminated, then allowed again) loses nothing; and the outage itself does what it says."""

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from sluicegate.drill import database
from tests.drill.test_drill_runs import EVENTS, drill
from tests.postgres_server import with_search_path

pytestmark = pytest.mark.postgres


@pytest.fixture
def drill_database(postgres_dsn: str) -> Iterator[str]:
    """A database of its own (ALLOW_CONNECTIONS is per database), dropped after the test."""
    name = f"sluicegate_drill_{uuid.uuid4().hex[:8]}"
    admin_dsn = make_conninfo(postgres_dsn, dbname="postgres")
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        # A postgresql:// URL, as DATABASE_URL wants it.
        yield with_search_path(make_conninfo(postgres_dsn, dbname=name), "public")
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_an_outage_refuses_new_sessions_ends_open_ones_and_is_lifted(drill_database):
    with (
        psycopg.connect(drill_database, autocommit=True) as session,
        database.outage(drill_database),
    ):
        with pytest.raises(psycopg.OperationalError):
            session.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(drill_database, connect_timeout=3)
    with psycopg.connect(drill_database) as again:
        assert again.execute("SELECT 1").fetchone() == (1,)


def test_rows_of_a_database_without_the_table_are_none(drill_database):
    assert database.event_rows(drill_database, "q") == []


@pytest.mark.slow
def test_a_database_outage_on_postgres_loses_nothing(tmp_path, drill_database):
    result, report = drill(
        tmp_path, "--fault", "db-outage", "--stops", "2", "--database-url", drill_database
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["final"]["persisted"] == EVENTS
    assert report["final"]["ids"]["lost"]["count"] == 0
